package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/autoresponder"
	"github.com/textback/textback/internal/credits"
	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/phone"
	"github.com/textback/textback/internal/store"
)

// NewWorkspace is what creating a workspace needs.
type NewWorkspace struct {
	Name          string
	TimeZone      string
	AdminEmail    string
	AdminPassword string
}

// CreatedWorkspace is a new workspace with its first admin and API key.
type CreatedWorkspace struct {
	Workspace *store.Workspace
	User      *store.User
	Site      *store.Site
	APIKey    string
}

// CreateWorkspace makes a workspace, its first site (named after it) and its
// first admin with an API key.
func (s *Service) CreateWorkspace(ctx context.Context, nw NewWorkspace) (*CreatedWorkspace, error) {
	nw.Name = strings.TrimSpace(nw.Name)
	if nw.Name == "" || len(nw.Name) > 100 {
		return nil, invalid("name", "Give the workspace a name of up to 100 characters.")
	}
	if nw.TimeZone == "" {
		nw.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(nw.TimeZone); err != nil {
		return nil, invalid("time_zone", "Unknown time zone: use an IANA name such as Europe/Paris.")
	}
	email, err := normalizeEmail(nw.AdminEmail)
	if err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(nw.AdminPassword)
	if err != nil {
		return nil, invalid("password", err.Error())
	}
	out := &CreatedWorkspace{
		Workspace: &store.Workspace{ID: ids.New("ws"), Name: nw.Name, TimeZone: nw.TimeZone, MonthlySMSLimit: credits.DefaultMonthlyLimit,
			WebhookSecret: "whsec_" + ids.Random(24), WebhookToken: "whtok_" + ids.Random(24)},
	}
	out.Site = &store.Site{ID: ids.New("site"), WorkspaceID: out.Workspace.ID, Name: nw.Name, TimeZone: nw.TimeZone}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateWorkspace(ctx, out.Workspace); err != nil {
			return err
		}
		u, err := tx.GetUserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			u = &store.User{ID: ids.New("usr"), Email: email, PasswordHash: hash}
			err = tx.CreateUser(ctx, u)
		} else if err == nil && !auth.CheckPassword(u.PasswordHash, nw.AdminPassword) {
			return invalid("admin_password", "This e-mail already has an account: give its password to add it to the new workspace.")
		}
		if err != nil {
			return err
		}
		out.User = u
		if err := tx.AddMember(ctx, &store.Member{WorkspaceID: out.Workspace.ID, UserID: u.ID, Role: auth.RoleAdmin}); err != nil {
			return err
		}
		if err := tx.CreateSite(ctx, out.Site); err != nil {
			return err
		}
		out.APIKey, err = createKey(ctx, tx.Queries, out.Workspace.ID, u.ID, "created with the workspace")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func normalizeEmail(e string) (string, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	at := strings.IndexByte(e, '@')
	if at < 1 || at == len(e)-1 || len(e) > 254 || strings.ContainsAny(e, " \t\r\n") {
		return "", invalid("email", "Give a valid e-mail address.")
	}
	return e, nil
}

func createKey(ctx context.Context, q *store.Queries, workspaceID, userID, name string) (string, error) {
	key, hash, prefix := auth.NewAPIKey()
	err := q.CreateAPIKey(ctx, &store.APIKey{ID: ids.New("key"), WorkspaceID: workspaceID, UserID: userID, Name: name, Prefix: prefix, KeyHash: hash})
	return key, err
}

// CreateAPIKey makes a key for the member; the key is returned once.
func (s *Service) CreateAPIKey(ctx context.Context, p *store.Principal, name string) (*store.APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, "", invalid("name", "Give the key a name of up to 100 characters.")
	}
	key, hash, prefix := auth.NewAPIKey()
	k := &store.APIKey{ID: ids.New("key"), WorkspaceID: p.WorkspaceID, UserID: p.UserID, Name: name, Prefix: prefix, KeyHash: hash}
	if err := s.DB.Q().CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	return k, key, nil
}

// Authenticate checks a key and returns who it acts as.
func (s *Service) Authenticate(ctx context.Context, key string) (*store.Principal, error) {
	if !strings.HasPrefix(key, auth.KeyPrefix) {
		return nil, store.ErrNotFound
	}
	// The lookup is by hash: a timing difference tells nothing about the key.
	p, err := s.DB.Q().PrincipalByKeyHash(ctx, auth.HashAPIKey(key))
	if err != nil {
		return nil, err
	}
	// last_used_at is kept to the minute: a write per request would be waste.
	if p.LastUsedAt == nil || s.now().Sub(*p.LastUsedAt) > time.Minute {
		if err := s.DB.Q().TouchAPIKey(ctx, p.KeyID); err != nil {
			return nil, fmt.Errorf("error recording key use: %w", err)
		}
	}
	return p, nil
}

// ErrInvalidCredentials is a wrong e-mail or password.
var ErrInvalidCredentials = errors.New("wrong e-mail or password")

// CheckPassword checks a user's password and returns the user's membership
// of workspaceID, or of the oldest workspace when workspaceID is "".
func (s *Service) CheckPassword(ctx context.Context, email, password, workspaceID string) (*store.Member, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err := s.DB.Q().GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	hash := ""
	if err == nil {
		hash = u.PasswordHash
	}
	if !auth.CheckPassword(hash, password) {
		return nil, ErrInvalidCredentials
	}
	ms, err := s.DB.Q().Memberships(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if workspaceID == "" || m.WorkspaceID == workspaceID {
			return &m, nil
		}
	}
	return nil, ErrInvalidCredentials
}

// SignIn checks a user's password and returns a new API key for one of the
// user's workspaces (the oldest membership unless workspaceID is given).
func (s *Service) SignIn(ctx context.Context, email, password, workspaceID string) (*store.Member, string, error) {
	m, err := s.CheckPassword(ctx, email, password, workspaceID)
	if err != nil {
		return nil, "", err
	}
	key, err := createKey(ctx, s.DB.Q(), m.WorkspaceID, m.UserID, "signed in "+s.now().Format("2006-01-02 15:04"))
	return m, key, err
}

// AddMember adds a user (created if new) to a workspace with a role.
func (s *Service) AddMember(ctx context.Context, workspaceID, email, role, password string) (*store.Member, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if !auth.ValidRole(role) {
		return nil, invalid("role", "The role is admin or member.")
	}
	m := &store.Member{WorkspaceID: workspaceID, Email: email, Role: role}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		u, err := tx.GetUserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			hash, herr := auth.HashPassword(password)
			if herr != nil {
				return invalid("password", herr.Error())
			}
			u = &store.User{ID: ids.New("usr"), Email: email, PasswordHash: hash}
			err = tx.CreateUser(ctx, u)
		}
		if err != nil {
			return err
		}
		m.UserID = u.ID
		return tx.AddMember(ctx, m)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// CreateSite adds a site to a workspace.
func (s *Service) CreateSite(ctx context.Context, ws *store.Workspace, name, tz string) (*store.Site, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, invalid("name", "Give the site a name of up to 100 characters.")
	}
	if tz == "" {
		tz = ws.TimeZone
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return nil, invalid("time_zone", "Unknown time zone: use an IANA name such as Europe/Paris.")
	}
	site := &store.Site{ID: ids.New("site"), WorkspaceID: ws.ID, Name: name, TimeZone: tz}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error { return tx.CreateSite(ctx, site) })
	return site, err
}

// NewTrackingNumber is what adding a tracking number needs.
type NewTrackingNumber struct {
	Number             string
	Provider           string
	SMSProvider        string
	ForwardTo          string
	RingTimeoutSeconds int
	Label              string
}

// CallProviders are where calls can come from; SMSProviders what replies go out through.
var (
	CallProviders = map[string]bool{ProviderTwilio: true, ProviderGeneric: true}
	SMSProviders  = map[string]bool{ProviderTwilio: true, ProviderSMPP: true, ProviderKannel: true, ProviderSimulated: true}
)

// AddTrackingNumber adds a number to a site.
func (s *Service) AddTrackingNumber(ctx context.Context, workspaceID, siteID string, n NewTrackingNumber) (*store.TrackingNumber, error) {
	number, err := phone.Normalize(n.Number, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %q (write it in international format, e.g. +14155550123)", ErrInvalidPhone, n.Number)
	}
	if !CallProviders[n.Provider] {
		return nil, invalid("provider", "The provider is twilio or generic.")
	}
	if n.SMSProvider == "" {
		n.SMSProvider = ProviderSimulated
		if SMSProviders[n.Provider] {
			n.SMSProvider = n.Provider
		}
	}
	if !SMSProviders[n.SMSProvider] {
		return nil, invalid("sms_provider", "The SMS provider is twilio, smpp, kannel or simulated.")
	}
	if n.RingTimeoutSeconds == 0 {
		n.RingTimeoutSeconds = 20
	}
	if n.RingTimeoutSeconds < 5 || n.RingTimeoutSeconds > 120 {
		return nil, invalid("ring_timeout_seconds", "The ring timeout is 5 to 120 seconds.")
	}
	if len(n.Label) > 100 {
		return nil, invalid("label", "The label has at most 100 characters.")
	}
	t := &store.TrackingNumber{ID: ids.New("tn"), WorkspaceID: workspaceID, SiteID: siteID, Number: number, Provider: n.Provider,
		SMSProvider: n.SMSProvider, RingTimeoutSeconds: n.RingTimeoutSeconds, Label: strings.TrimSpace(n.Label)}
	if strings.TrimSpace(n.ForwardTo) != "" {
		fwd, err := phone.Normalize(n.ForwardTo, number)
		if err != nil {
			return nil, fmt.Errorf("%w: forward_to %q", ErrInvalidPhone, n.ForwardTo)
		}
		if fwd == number {
			return nil, invalid("forward_to", "A tracking number cannot forward to itself.")
		}
		t.ForwardTo = &fwd
	}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GetSite(ctx, workspaceID, siteID); err != nil {
			return err
		}
		return tx.CreateTrackingNumber(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Autoresponder returns a site's autoresponder.
func (s *Service) Autoresponder(ctx context.Context, workspaceID, siteID string) (*store.Autoresponder, error) {
	if _, err := s.DB.Q().GetSite(ctx, workspaceID, siteID); err != nil {
		return nil, err
	}
	return s.DB.Q().GetAutoresponder(ctx, siteID)
}

// SetAutoresponderMessage saves the message; the switch is left as it is.
func (s *Service) SetAutoresponderMessage(ctx context.Context, p *store.Principal, siteID, message string) (*store.Autoresponder, error) {
	if msg := autoresponder.ValidateMessage(message); msg != "" {
		return nil, invalid("message", msg)
	}
	return s.changeAutoresponder(ctx, p, siteID, func(tx *store.Tx) error {
		return tx.SetAutoresponderMessage(ctx, siteID, message, p.Email)
	})
}

// SetAutoresponderEnabled flips the switch; the message is left as it is.
func (s *Service) SetAutoresponderEnabled(ctx context.Context, p *store.Principal, siteID string, enabled bool) (*store.Autoresponder, error) {
	return s.changeAutoresponder(ctx, p, siteID, func(tx *store.Tx) error {
		return tx.SetAutoresponderEnabled(ctx, siteID, enabled, p.Email)
	})
}

func (s *Service) changeAutoresponder(ctx context.Context, p *store.Principal, siteID string, change func(*store.Tx) error) (*store.Autoresponder, error) {
	var ar *store.Autoresponder
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GetSite(ctx, p.WorkspaceID, siteID); err != nil {
			return err
		}
		cur, err := tx.GetAutoresponder(ctx, siteID)
		if err != nil {
			return err
		}
		if !cur.Available {
			return ErrAutoresponderUnavailable
		}
		if err := change(tx); err != nil {
			return err
		}
		ar, err = tx.GetAutoresponder(ctx, siteID)
		return err
	})
	return ar, err
}
