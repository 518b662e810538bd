package store

import "context"

// ClaimQueued moves a queued message to sending (one more attempt), and
// says whether this call did: of two senders racing for one message (the
// in-process dispatch and the queue's job), exactly one gets true.
func (q *Queries) ClaimQueued(ctx context.Context, id string) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = $2
		WHERE id = $1 AND status = 'queued'`, id, q.now())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
