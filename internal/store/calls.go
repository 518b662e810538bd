package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Call is one inbound call to a tracking number.
type Call struct {
	ID               string
	WorkspaceID      string
	SiteID           *string
	TrackingNumberID *string
	TrackingNumber   string
	Provider         string
	ProviderCallID   string
	Caller           *string // E.164, nil when withheld or invalid
	CallerRaw        string  // as the provider sent it
	Outcome          string  // in_progress, answered, missed
	OutcomeDetail    *string
	StartedAt        time.Time
	EndedAt          *time.Time
	DurationSeconds  *int
	CreatedAt        time.Time

	// Joined for listings.
	TrackingLabel string
	Autoreply     *Autoreply
}

const callCols = `id, workspace_id, site_id, tracking_number_id, tracking_number, provider, provider_call_id, caller, caller_raw,
	outcome, outcome_detail, started_at, ended_at, duration_seconds, created_at`

func scanCall(row interface{ Scan(...any) error }, extra ...any) (*Call, error) {
	c := &Call{}
	var site, tn, caller, detail sql.NullString
	var ended sql.NullTime
	var dur sql.NullInt64
	dst := append([]any{&c.ID, &c.WorkspaceID, &site, &tn, &c.TrackingNumber, &c.Provider, &c.ProviderCallID, &caller, &c.CallerRaw,
		&c.Outcome, &detail, &c.StartedAt, &ended, &dur, &c.CreatedAt}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	c.SiteID, c.TrackingNumberID, c.Caller, c.OutcomeDetail, c.EndedAt = strPtr(site), strPtr(tn), strPtr(caller), strPtr(detail), timePtr(ended)
	c.StartedAt = c.StartedAt.UTC()
	if dur.Valid {
		d := int(dur.Int64)
		c.DurationSeconds = &d
	}
	return c, nil
}

// InsertCallIfNew stores c unless a call with the same provider call id
// exists; it reports whether c was inserted.
func (q *Queries) InsertCallIfNew(ctx context.Context, c *Call) (bool, error) {
	c.CreatedAt = q.now()
	var dur any
	if c.DurationSeconds != nil {
		dur = *c.DurationSeconds
	}
	var ended any
	if c.EndedAt != nil {
		ended = c.EndedAt.UTC()
	}
	res, err := q.q.ExecContext(ctx, `INSERT INTO calls (`+callCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (workspace_id, provider, provider_call_id) DO NOTHING`,
		c.ID, c.WorkspaceID, nullStr(c.SiteID), nullStr(c.TrackingNumberID), c.TrackingNumber, c.Provider, c.ProviderCallID,
		nullStr(c.Caller), c.CallerRaw, c.Outcome, nullStr(c.OutcomeDetail), c.StartedAt.UTC(), ended, dur, c.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("error storing call: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LockCall reads a call by provider id, locking it until the transaction ends.
func (q *Queries) LockCall(ctx context.Context, workspaceID, provider, providerCallID string) (*Call, error) {
	c, err := scanCall(q.q.QueryRowContext(ctx, `SELECT `+callCols+` FROM calls
		WHERE workspace_id = $1 AND provider = $2 AND provider_call_id = $3`+q.d.ForUpdate, workspaceID, provider, providerCallID))
	return c, notFound(err, "call")
}

// UpdateCallState writes a call's merged outcome and times.
func (q *Queries) UpdateCallState(ctx context.Context, c *Call) error {
	var dur, ended any
	if c.DurationSeconds != nil {
		dur = *c.DurationSeconds
	}
	if c.EndedAt != nil {
		ended = c.EndedAt.UTC()
	}
	_, err := q.q.ExecContext(ctx, `UPDATE calls SET outcome = $2, outcome_detail = $3, started_at = $4, ended_at = $5, duration_seconds = $6,
		caller = COALESCE(caller, $7) WHERE id = $1`,
		c.ID, c.Outcome, nullStr(c.OutcomeDetail), c.StartedAt.UTC(), ended, dur, nullStr(c.Caller))
	return err
}

// CallFilter narrows ListCalls.
type CallFilter struct {
	SiteID  string
	Outcome string
	Limit   int
}

// ListCalls lists a workspace's calls newest first with their autoreplies.
func (q *Queries) ListCalls(ctx context.Context, workspaceID string, f CallFilter) ([]Call, error) {
	where := []string{"c.workspace_id = $1"}
	args := []any{workspaceID}
	if f.SiteID != "" {
		args = append(args, f.SiteID)
		where = append(where, fmt.Sprintf("c.site_id = $%d", len(args)))
	}
	if f.Outcome != "" {
		args = append(args, f.Outcome)
		where = append(where, fmt.Sprintf("c.outcome = $%d", len(args)))
	}
	args = append(args, f.Limit)
	cols := "c." + strings.ReplaceAll(strings.ReplaceAll(callCols, "\n\t", " "), ", ", ", c.")
	rows, err := q.q.QueryContext(ctx, `SELECT `+cols+`, COALESCE(t.label, ''),
		a.decision, a.reason, a.message_id, m.status, m.error
		FROM calls c
		LEFT JOIN tracking_numbers t ON t.id = c.tracking_number_id
		LEFT JOIN autoreplies a ON a.call_id = c.id
		LEFT JOIN messages m ON m.id = a.message_id
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY c.started_at DESC, c.created_at DESC, c.id DESC LIMIT $`+fmt.Sprint(len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		var label string
		var decision, reason, msgID, msgStatus, msgErr sql.NullString
		c, err := scanCall(rows, &label, &decision, &reason, &msgID, &msgStatus, &msgErr)
		if err != nil {
			return nil, err
		}
		c.TrackingLabel = label
		if decision.Valid {
			c.Autoreply = &Autoreply{CallID: c.ID, Decision: decision.String, Reason: strPtr(reason), MessageID: strPtr(msgID),
				MessageStatus: msgStatus.String, MessageError: strPtr(msgErr)}
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// Autoreply is the decision taken for one missed call.
type Autoreply struct {
	CallID      string
	WorkspaceID string
	Decision    string // "sent" or "skipped"
	Reason      *string
	MessageID   *string
	CreatedAt   time.Time

	// Joined for listings.
	MessageStatus string
	MessageError  *string
}

// InsertAutoreply records the decision for a call; false if one exists.
func (q *Queries) InsertAutoreply(ctx context.Context, a *Autoreply) (bool, error) {
	a.CreatedAt = q.now()
	res, err := q.q.ExecContext(ctx, `INSERT INTO autoreplies (call_id, workspace_id, decision, reason, message_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id) DO NOTHING`,
		a.CallID, a.WorkspaceID, a.Decision, nullStr(a.Reason), nullStr(a.MessageID), a.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("error storing autoreply: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// GetAutoreply returns the decision for a call.
func (q *Queries) GetAutoreply(ctx context.Context, callID string) (*Autoreply, error) {
	a := &Autoreply{}
	var reason, msg sql.NullString
	err := q.q.QueryRowContext(ctx, `SELECT call_id, workspace_id, decision, reason, message_id, created_at FROM autoreplies WHERE call_id = $1`, callID).
		Scan(&a.CallID, &a.WorkspaceID, &a.Decision, &reason, &msg, &a.CreatedAt)
	a.Reason, a.MessageID = strPtr(reason), strPtr(msg)
	return a, notFound(err, "autoreply")
}

// OptOut records that phone asked for no more SMS from the workspace.
func (q *Queries) OptOut(ctx context.Context, workspaceID, phone, keyword string) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO opt_outs (workspace_id, phone, keyword, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (workspace_id, phone) DO NOTHING`, workspaceID, phone, keyword, q.now())
	return err
}

// OptIn removes an opt-out.
func (q *Queries) OptIn(ctx context.Context, workspaceID, phone string) error {
	_, err := q.q.ExecContext(ctx, `DELETE FROM opt_outs WHERE workspace_id = $1 AND phone = $2`, workspaceID, phone)
	return err
}

func (q *Queries) IsOptedOut(ctx context.Context, workspaceID, phone string) (bool, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM opt_outs WHERE workspace_id = $1 AND phone = $2`, workspaceID, phone).Scan(&n)
	return n > 0, err
}
