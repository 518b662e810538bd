package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Workspace is one customer account: members, sites, one credit balance.
type Workspace struct {
	ID              string
	Name            string
	TimeZone        string
	Balance         int
	MonthlySMSLimit int
	WebhookSecret   string // HMAC key of the generic call-event webhook
	WebhookToken    string // bearer token alternative for senders that cannot sign
	CreatedAt       time.Time
}

// Location is the workspace's time zone (UTC if unknown).
func (w *Workspace) Location() *time.Location {
	if loc, err := time.LoadLocation(w.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

const workspaceCols = `id, name, time_zone, balance, monthly_sms_limit, webhook_secret, webhook_token, created_at`

func scanWorkspace(row interface{ Scan(...any) error }) (*Workspace, error) {
	w := &Workspace{}
	err := row.Scan(&w.ID, &w.Name, &w.TimeZone, &w.Balance, &w.MonthlySMSLimit, &w.WebhookSecret, &w.WebhookToken, &w.CreatedAt)
	return w, err
}

func (q *Queries) CreateWorkspace(ctx context.Context, w *Workspace) error {
	w.CreatedAt = q.now()
	_, err := q.q.ExecContext(ctx, `INSERT INTO workspaces (`+workspaceCols+`) VALUES ($1, $2, $3, 0, $4, $5, $6, $7)`,
		w.ID, w.Name, w.TimeZone, w.MonthlySMSLimit, w.WebhookSecret, w.WebhookToken, w.CreatedAt)
	return err
}

func (q *Queries) GetWorkspace(ctx context.Context, id string) (*Workspace, error) {
	w, err := scanWorkspace(q.q.QueryRowContext(ctx, `SELECT `+workspaceCols+` FROM workspaces WHERE id = $1`, id))
	return w, notFound(err, "workspace")
}

func (q *Queries) SetWebhookCredentials(ctx context.Context, workspaceID, secret, token string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE workspaces SET webhook_secret = $2, webhook_token = $3 WHERE id = $1`, workspaceID, secret, token)
	return err
}

// User is a person who signs in.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	CreatedAt    time.Time
}

func (q *Queries) CreateUser(ctx context.Context, u *User) error {
	u.CreatedAt = q.now()
	_, err := q.q.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)`,
		u.ID, u.Email, u.PasswordHash, u.CreatedAt)
	return q.uniqueErr(err, "user "+u.Email)
}

func (q *Queries) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	u := &User{}
	err := q.q.QueryRowContext(ctx, `SELECT id, email, password_hash, created_at FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &u.CreatedAt)
	return u, notFound(err, "user")
}

// Member is a user's place in a workspace.
type Member struct {
	WorkspaceID string
	UserID      string
	Email       string
	Role        string // "admin" or "member"
	CreatedAt   time.Time
}

func (q *Queries) AddMember(ctx context.Context, m *Member) error {
	m.CreatedAt = q.now()
	_, err := q.q.ExecContext(ctx, `INSERT INTO members (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		m.WorkspaceID, m.UserID, m.Role, m.CreatedAt)
	return q.uniqueErr(err, "member")
}

const memberSelect = `SELECT m.workspace_id, m.user_id, u.email, m.role, m.created_at FROM members m JOIN users u ON u.id = m.user_id`

func scanMembers(rows *sql.Rows, err error) ([]Member, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.WorkspaceID, &m.UserID, &m.Email, &m.Role, &m.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (q *Queries) ListMembers(ctx context.Context, workspaceID string) ([]Member, error) {
	return scanMembers(q.q.QueryContext(ctx, memberSelect+` WHERE m.workspace_id = $1 ORDER BY m.created_at, u.email`, workspaceID))
}

// Memberships lists the workspaces a user belongs to, oldest first.
func (q *Queries) Memberships(ctx context.Context, userID string) ([]Member, error) {
	return scanMembers(q.q.QueryContext(ctx, memberSelect+` WHERE m.user_id = $1 ORDER BY m.created_at`, userID))
}

// APIKey is a secret that acts for one member; only its hash is stored.
type APIKey struct {
	ID          string
	WorkspaceID string
	UserID      string
	Name        string
	Prefix      string
	KeyHash     string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
}

func (q *Queries) CreateAPIKey(ctx context.Context, k *APIKey) error {
	k.CreatedAt = q.now()
	_, err := q.q.ExecContext(ctx, `INSERT INTO api_keys (id, workspace_id, user_id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.WorkspaceID, k.UserID, k.Name, k.Prefix, k.KeyHash, k.CreatedAt)
	return err
}

// Principal is who an API key acts as.
type Principal struct {
	KeyID       string
	WorkspaceID string
	UserID      string
	Email       string
	Role        string
	LastUsedAt  *time.Time
}

// PrincipalByKeyHash finds the member behind a key hash, with the member's
// current role (a demoted member's keys lose admin rights at once).
func (q *Queries) PrincipalByKeyHash(ctx context.Context, hash string) (*Principal, error) {
	p := &Principal{}
	var last sql.NullTime
	err := q.q.QueryRowContext(ctx, `SELECT k.id, k.workspace_id, k.user_id, u.email, m.role, k.last_used_at
		FROM api_keys k
		JOIN members m ON m.workspace_id = k.workspace_id AND m.user_id = k.user_id
		JOIN users u ON u.id = k.user_id
		WHERE k.key_hash = $1`, hash).Scan(&p.KeyID, &p.WorkspaceID, &p.UserID, &p.Email, &p.Role, &last)
	p.LastUsedAt = timePtr(last)
	return p, notFound(err, "api key")
}

func (q *Queries) TouchAPIKey(ctx context.Context, id string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, id, q.now())
	return err
}

func (q *Queries) ListAPIKeys(ctx context.Context, workspaceID, userID string) ([]APIKey, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, workspace_id, user_id, name, prefix, key_hash, created_at, last_used_at
		FROM api_keys WHERE workspace_id = $1 AND user_id = $2 ORDER BY created_at DESC`, workspaceID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		var k APIKey
		var last sql.NullTime
		if err := rows.Scan(&k.ID, &k.WorkspaceID, &k.UserID, &k.Name, &k.Prefix, &k.KeyHash, &k.CreatedAt, &last); err != nil {
			return nil, err
		}
		k.LastUsedAt = timePtr(last)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (q *Queries) DeleteAPIKey(ctx context.Context, workspaceID, userID, id string) error {
	res, err := q.q.ExecContext(ctx, `DELETE FROM api_keys WHERE id = $1 AND workspace_id = $2 AND user_id = $3`, id, workspaceID, userID)
	return affected(res, err, "api key")
}

func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// Site is one business location with its own numbers and autoresponder.
type Site struct {
	ID          string
	WorkspaceID string
	Name        string
	TimeZone    string
	CreatedAt   time.Time
}

// CreateSite stores a site and its (empty, switched off) autoresponder.
func (q *Queries) CreateSite(ctx context.Context, s *Site) error {
	s.CreatedAt = q.now()
	if _, err := q.q.ExecContext(ctx, `INSERT INTO sites (id, workspace_id, name, time_zone, created_at) VALUES ($1, $2, $3, $4, $5)`,
		s.ID, s.WorkspaceID, s.Name, s.TimeZone, s.CreatedAt); err != nil {
		return err
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO autoresponders (site_id, enabled, message) VALUES ($1, $2, '')`, s.ID, false)
	return err
}

func (q *Queries) ListSites(ctx context.Context, workspaceID string) ([]Site, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, workspace_id, name, time_zone, created_at FROM sites WHERE workspace_id = $1 ORDER BY created_at, name`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Site
	for rows.Next() {
		var s Site
		if err := rows.Scan(&s.ID, &s.WorkspaceID, &s.Name, &s.TimeZone, &s.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// GetSite finds a site of the workspace; another workspace's site is not found.
func (q *Queries) GetSite(ctx context.Context, workspaceID, id string) (*Site, error) {
	s := &Site{}
	err := q.q.QueryRowContext(ctx, `SELECT id, workspace_id, name, time_zone, created_at FROM sites WHERE id = $1 AND workspace_id = $2`, id, workspaceID).
		Scan(&s.ID, &s.WorkspaceID, &s.Name, &s.TimeZone, &s.CreatedAt)
	return s, notFound(err, "site")
}

// TrackingNumber is a number callers dial; its calls are tracked and answered.
type TrackingNumber struct {
	ID                 string
	WorkspaceID        string
	SiteID             string
	Number             string
	Provider           string // where calls come from
	SMSProvider        string // what replies go out through
	ForwardTo          *string
	RingTimeoutSeconds int
	Label              string
	CreatedAt          time.Time
}

const trackingCols = `id, workspace_id, site_id, number, provider, sms_provider, forward_to, ring_timeout_seconds, label, created_at`

func scanTracking(row interface{ Scan(...any) error }) (*TrackingNumber, error) {
	t := &TrackingNumber{}
	var fwd sql.NullString
	err := row.Scan(&t.ID, &t.WorkspaceID, &t.SiteID, &t.Number, &t.Provider, &t.SMSProvider, &fwd, &t.RingTimeoutSeconds, &t.Label, &t.CreatedAt)
	t.ForwardTo = strPtr(fwd)
	return t, err
}

func (q *Queries) CreateTrackingNumber(ctx context.Context, t *TrackingNumber) error {
	t.CreatedAt = q.now()
	_, err := q.q.ExecContext(ctx, `INSERT INTO tracking_numbers (`+trackingCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, t.WorkspaceID, t.SiteID, t.Number, t.Provider, t.SMSProvider, nullStr(t.ForwardTo), t.RingTimeoutSeconds, t.Label, t.CreatedAt)
	return q.uniqueErr(err, "tracking number "+t.Number)
}

func (q *Queries) ListTrackingNumbers(ctx context.Context, siteID string) ([]TrackingNumber, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+trackingCols+` FROM tracking_numbers WHERE site_id = $1 ORDER BY created_at, number`, siteID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TrackingNumber
	for rows.Next() {
		t, err := scanTracking(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// TrackingNumberByNumber finds the workspace's tracking number for an E.164 number.
func (q *Queries) TrackingNumberByNumber(ctx context.Context, workspaceID, number string) (*TrackingNumber, error) {
	t, err := scanTracking(q.q.QueryRowContext(ctx, `SELECT `+trackingCols+` FROM tracking_numbers WHERE number = $1 AND workspace_id = $2`, number, workspaceID))
	return t, notFound(err, "tracking number")
}

func (q *Queries) DeleteTrackingNumber(ctx context.Context, workspaceID, id string) error {
	res, err := q.q.ExecContext(ctx, `DELETE FROM tracking_numbers WHERE id = $1 AND workspace_id = $2`, id, workspaceID)
	return affected(res, err, "tracking number")
}

// Autoresponder is a site's message and switch.
type Autoresponder struct {
	SiteID    string
	Enabled   bool
	Message   string
	UpdatedAt *time.Time
	UpdatedBy *string
	// Available is true while the site has at least one tracking number.
	Available bool
}

func (q *Queries) GetAutoresponder(ctx context.Context, siteID string) (*Autoresponder, error) {
	a := &Autoresponder{}
	var at sql.NullTime
	var by sql.NullString
	var numbers int
	err := q.q.QueryRowContext(ctx, `SELECT a.site_id, a.enabled, a.message, a.updated_at, a.updated_by,
		(SELECT COUNT(*) FROM tracking_numbers t WHERE t.site_id = a.site_id)
		FROM autoresponders a WHERE a.site_id = $1`, siteID).Scan(&a.SiteID, &a.Enabled, &a.Message, &at, &by, &numbers)
	a.UpdatedAt, a.UpdatedBy, a.Available = timePtr(at), strPtr(by), numbers > 0
	return a, notFound(err, "autoresponder")
}

// SetAutoresponderMessage stores the message and leaves the switch alone.
func (q *Queries) SetAutoresponderMessage(ctx context.Context, siteID, message, by string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE autoresponders SET message = $2, updated_at = $3, updated_by = $4 WHERE site_id = $1`, siteID, message, q.now(), by)
	return err
}

// SetAutoresponderEnabled flips the switch and leaves the message alone.
func (q *Queries) SetAutoresponderEnabled(ctx context.Context, siteID string, enabled bool, by string) error {
	_, err := q.q.ExecContext(ctx, `UPDATE autoresponders SET enabled = $2, updated_at = $3, updated_by = $4 WHERE site_id = $1`, siteID, enabled, q.now(), by)
	return err
}

// ProviderSettings are one provider's settings for a workspace. Config is
// shown to admins; Secret (JSON) never leaves the server.
type ProviderSettings struct {
	WorkspaceID string
	Provider    string
	Config      string
	Secret      string
	UpdatedAt   time.Time
}

func (q *Queries) PutProviderSettings(ctx context.Context, p *ProviderSettings) error {
	p.UpdatedAt = q.now()
	_, err := q.q.ExecContext(ctx, `INSERT INTO provider_settings (workspace_id, provider, config, secret, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (workspace_id, provider) DO UPDATE SET config = excluded.config, secret = excluded.secret, updated_at = excluded.updated_at`,
		p.WorkspaceID, p.Provider, p.Config, p.Secret, p.UpdatedAt)
	return err
}

func (q *Queries) GetProviderSettings(ctx context.Context, workspaceID, provider string) (*ProviderSettings, error) {
	p := &ProviderSettings{}
	err := q.q.QueryRowContext(ctx, `SELECT workspace_id, provider, config, secret, updated_at FROM provider_settings WHERE workspace_id = $1 AND provider = $2`,
		workspaceID, provider).Scan(&p.WorkspaceID, &p.Provider, &p.Config, &p.Secret, &p.UpdatedAt)
	return p, notFound(err, "provider settings")
}
