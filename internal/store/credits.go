package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LedgerEntry is one change of a workspace's credit balance.
type LedgerEntry struct {
	ID             string
	WorkspaceID    string
	Delta          int
	BalanceAfter   int
	Reason         string // top_up, autoreply, standard_sms, refund, adjustment
	Reference      string
	CallID         *string
	MessageID      *string
	IdempotencyKey string
	CreatedAt      time.Time
}

// Ledger reasons.
const (
	ReasonTopUp       = "top_up"
	ReasonAutoreply   = "autoreply"
	ReasonStandardSMS = "standard_sms"
	ReasonRefund      = "refund"
	ReasonAdjustment  = "adjustment"
)

// ApplyLedger changes the balance by e.Delta and records the entry, in the
// caller's transaction. A debit that would make the balance negative fails
// with ErrInsufficientCredits and changes nothing; an entry whose
// idempotency key was used before fails with ErrConflict.
func (q *Queries) ApplyLedger(ctx context.Context, e *LedgerEntry) error {
	var after int
	// One conditional statement: atomic on both databases, whatever runs beside it.
	err := q.q.QueryRowContext(ctx, `UPDATE workspaces SET balance = balance + $2 WHERE id = $1 AND balance + $2 >= 0 RETURNING balance`,
		e.WorkspaceID, e.Delta).Scan(&after)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := q.GetWorkspace(ctx, e.WorkspaceID); err != nil {
			return err
		}
		return ErrInsufficientCredits
	}
	if err != nil {
		return fmt.Errorf("error updating balance: %w", err)
	}
	e.BalanceAfter = after
	e.CreatedAt = q.now()
	_, err = q.q.ExecContext(ctx, `INSERT INTO credit_ledger (id, workspace_id, delta, balance_after, reason, reference, call_id, message_id, idempotency_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, e.WorkspaceID, e.Delta, e.BalanceAfter, e.Reason, e.Reference, nullStr(e.CallID), nullStr(e.MessageID), e.IdempotencyKey, e.CreatedAt)
	if err != nil {
		// The caller must roll back: the balance was already changed.
		return q.uniqueErr(err, "ledger entry "+e.IdempotencyKey)
	}
	return nil
}

func (q *Queries) Balance(ctx context.Context, workspaceID string) (int, error) {
	var b int
	err := q.q.QueryRowContext(ctx, `SELECT balance FROM workspaces WHERE id = $1`, workspaceID).Scan(&b)
	return b, notFound(err, "workspace")
}

// LedgerSum adds up every entry: it must always equal the balance.
func (q *Queries) LedgerSum(ctx context.Context, workspaceID string) (int, error) {
	var s int
	err := q.q.QueryRowContext(ctx, `SELECT COALESCE(SUM(delta), 0) FROM credit_ledger WHERE workspace_id = $1`, workspaceID).Scan(&s)
	return s, err
}

func (q *Queries) ListLedger(ctx context.Context, workspaceID string, limit int) ([]LedgerEntry, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, workspace_id, delta, balance_after, reason, reference, call_id, message_id, idempotency_key, created_at
		FROM credit_ledger WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, workspaceID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LedgerEntry
	for rows.Next() {
		var e LedgerEntry
		var call, msg sql.NullString
		if err := rows.Scan(&e.ID, &e.WorkspaceID, &e.Delta, &e.BalanceAfter, &e.Reason, &e.Reference, &call, &msg, &e.IdempotencyKey, &e.CreatedAt); err != nil {
			return nil, err
		}
		e.CallID, e.MessageID = strPtr(call), strPtr(msg)
		e.CreatedAt = e.CreatedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// CreditsUsedSince is the net amount spent on SMS created since t: their
// debits less their refunds. A refund counts in the month of its message, so
// the figure is never negative at a month boundary.
func (q *Queries) CreditsUsedSince(ctx context.Context, workspaceID string, since time.Time) (int, error) {
	var s int
	err := q.q.QueryRowContext(ctx, `SELECT COALESCE(-SUM(l.delta), 0) FROM credit_ledger l
		WHERE l.workspace_id = $1 AND l.reason IN ('autoreply', 'standard_sms', 'refund')
		AND l.message_id IN (SELECT m.id FROM messages m WHERE m.workspace_id = $1 AND m.created_at >= $2)`, workspaceID, since.UTC()).Scan(&s)
	return s, err
}
