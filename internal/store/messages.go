package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Message is one SMS, automatic or standard.
type Message struct {
	ID                string
	WorkspaceID       string
	SiteID            *string
	CallID            *string
	Kind              string
	To                string
	From              string
	Body              string
	Encoding          string
	Segments          int
	Credits           int
	Provider          string
	ProviderMessageID *string
	Status            string
	Attempts          int
	MaybeSent         bool
	Error             *string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

const messageCols = `id, workspace_id, site_id, call_id, kind, to_number, from_number, body, encoding, segments, credits,
	provider, provider_message_id, status, attempts, maybe_sent, error, created_at, updated_at`

func scanMessage(row interface{ Scan(...any) error }) (*Message, error) {
	m := &Message{}
	var site, call, pmid, errText sql.NullString
	if err := row.Scan(&m.ID, &m.WorkspaceID, &site, &call, &m.Kind, &m.To, &m.From, &m.Body, &m.Encoding, &m.Segments, &m.Credits,
		&m.Provider, &pmid, &m.Status, &m.Attempts, &m.MaybeSent, &errText, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return nil, err
	}
	m.SiteID, m.CallID, m.ProviderMessageID, m.Error = strPtr(site), strPtr(call), strPtr(pmid), strPtr(errText)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, nil
}

func (q *Queries) InsertMessage(ctx context.Context, m *Message) error {
	m.CreatedAt = q.now()
	m.UpdatedAt = m.CreatedAt
	_, err := q.q.ExecContext(ctx, `INSERT INTO messages (`+messageCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		m.ID, m.WorkspaceID, nullStr(m.SiteID), nullStr(m.CallID), m.Kind, m.To, m.From, m.Body, m.Encoding, m.Segments, m.Credits,
		m.Provider, nullStr(m.ProviderMessageID), m.Status, m.Attempts, m.MaybeSent, nullStr(m.Error), m.CreatedAt, m.UpdatedAt)
	if err != nil {
		return fmt.Errorf("error storing message: %w", err)
	}
	return nil
}

func (q *Queries) GetMessage(ctx context.Context, id string) (*Message, error) {
	m, err := scanMessage(q.q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1`, id))
	return m, notFound(err, "message")
}

// LockMessage reads a message, locking it until the transaction ends.
func (q *Queries) LockMessage(ctx context.Context, id string) (*Message, error) {
	m, err := scanMessage(q.q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1`+q.d.ForUpdate, id))
	return m, notFound(err, "message")
}

// MessageByProviderID finds a message by the provider's id for it.
func (q *Queries) MessageByProviderID(ctx context.Context, provider, providerMessageID string) (*Message, error) {
	m, err := scanMessage(q.q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE provider = $1 AND provider_message_id = $2`+q.d.ForUpdate,
		provider, providerMessageID))
	return m, notFound(err, "message")
}

// MessageFilter narrows ListMessages.
type MessageFilter struct {
	Kind  string
	Limit int
}

func (q *Queries) ListMessages(ctx context.Context, workspaceID string, f MessageFilter) ([]Message, error) {
	where := []string{"workspace_id = $1"}
	args := []any{workspaceID}
	if f.Kind != "" {
		args = append(args, f.Kind)
		where = append(where, fmt.Sprintf("kind = $%d", len(args)))
	}
	args = append(args, f.Limit)
	rows, err := q.q.QueryContext(ctx, `SELECT `+messageCols+` FROM messages WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// MarkSending counts one more send attempt, before the provider is called.
func (q *Queries) MarkSending(ctx context.Context, id string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = $2
		WHERE id = $1 AND status IN ('queued', 'sending')`, id, q.now())
	return err
}

// MarkAccepted records the provider's acceptance.
func (q *Queries) MarkAccepted(ctx context.Context, id, providerMessageID, status string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE messages SET status = $3, provider_message_id = $2, error = NULL, updated_at = $4
		WHERE id = $1 AND status IN ('queued', 'sending')`, id, providerMessageID, status, q.now())
	return err
}

// MarkAttemptFailed records a failed attempt that will be retried.
func (q *Queries) MarkAttemptFailed(ctx context.Context, id, errText string, maybeSent bool) error {
	_, err := q.q.ExecContext(ctx, `UPDATE messages SET error = $2, maybe_sent = (maybe_sent OR $3), updated_at = $4 WHERE id = $1`,
		id, errText, maybeSent, q.now())
	return err
}

// MarkFailed ends a message as failed; credits stays what was charged.
func (q *Queries) MarkFailed(ctx context.Context, id, errText string, credits int) error {
	_, err := q.q.ExecContext(ctx, `UPDATE messages SET status = 'failed', error = $2, credits = $3, updated_at = $4 WHERE id = $1`,
		id, errText, credits, q.now())
	return err
}

// SetMessageStatus moves a message to a later status from a provider callback.
func (q *Queries) SetMessageStatus(ctx context.Context, id, status string, errText *string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE messages SET status = $2, error = COALESCE($3, error), updated_at = $4 WHERE id = $1`,
		id, status, nullStr(errText), q.now())
	return err
}

// CountMessagesSince counts a workspace's messages of a kind created since t,
// leaving out those that were refunded (never sent).
func (q *Queries) CountMessagesSince(ctx context.Context, workspaceID, kind string, since time.Time) (int, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE workspace_id = $1 AND kind = $2 AND created_at >= $3 AND credits > 0`,
		workspaceID, kind, since.UTC()).Scan(&n)
	return n, err
}
