package store

import (
	"context"
	"time"
)

// Session is a signed-in browser.
type Session struct {
	IDHash      string
	UserID      string
	WorkspaceID string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

func (q *Queries) CreateSession(ctx context.Context, s *Session) error {
	s.CreatedAt = q.now()
	_, err := q.q.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, workspace_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		s.IDHash, s.UserID, s.WorkspaceID, s.CreatedAt, s.ExpiresAt.UTC())
	return err
}

// SessionPrincipal finds the member behind a live session, with the
// member's current role; an expired session or a removed member is not found.
func (q *Queries) SessionPrincipal(ctx context.Context, idHash string) (*Principal, error) {
	p := &Principal{}
	err := q.q.QueryRowContext(ctx, `SELECT s.workspace_id, s.user_id, u.email, m.role
		FROM sessions s
		JOIN members m ON m.workspace_id = s.workspace_id AND m.user_id = s.user_id
		JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > $2`, idHash, q.now()).Scan(&p.WorkspaceID, &p.UserID, &p.Email, &p.Role)
	return p, notFound(err, "session")
}

// SwitchSessionWorkspace moves a session to another of the user's workspaces.
func (q *Queries) SwitchSessionWorkspace(ctx context.Context, idHash, workspaceID string) error {
	res, err := q.q.ExecContext(ctx, `UPDATE sessions SET workspace_id = $2 WHERE id_hash = $1
		AND EXISTS (SELECT 1 FROM members m WHERE m.workspace_id = $2 AND m.user_id = sessions.user_id)`, idHash, workspaceID)
	return affected(res, err, "workspace")
}

func (q *Queries) DeleteSession(ctx context.Context, idHash string) error {
	_, err := q.q.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1 OR expires_at < $2`, idHash, q.now())
	return err
}

// CountUsers tells whether the first-run setup is still open.
func (q *Queries) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}
