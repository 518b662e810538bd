package app

import (
	"context"
	"errors"

	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// The demo workspace's login. The demo listens on loopback by default; do
// not expose a demo server.
const (
	DemoEmail          = "demo@textback.local"
	DemoPassword       = "demo-password"
	DemoTrackingNumber = "+14155550100"
	DemoMessage        = "Hello, we missed your call. We will call you back within the hour."
)

// Demo is what `serve --demo` prints.
type Demo struct {
	WorkspaceID    string
	SiteID         string
	TrackingNumber string
	APIKey         string
}

// EnsureDemo creates the demo workspace on first start (a site, a tracking
// number sending through the simulated provider, the autoresponder on with
// the seed's message, and 100 credits) and returns a fresh API key for it.
func (a *App) EnsureDemo(ctx context.Context) (*Demo, error) {
	svc := a.Svc
	m, key, err := svc.SignIn(ctx, DemoEmail, DemoPassword, "")
	if err == nil {
		sites, err := svc.DB.Q().ListSites(ctx, m.WorkspaceID)
		if err != nil || len(sites) == 0 {
			return nil, errors.Join(err, errors.New("the demo workspace has no site"))
		}
		return &Demo{WorkspaceID: m.WorkspaceID, SiteID: sites[0].ID, TrackingNumber: DemoTrackingNumber, APIKey: key}, nil
	}
	if !errors.Is(err, service.ErrInvalidCredentials) {
		return nil, err
	}
	cw, err := svc.CreateWorkspace(ctx, service.NewWorkspace{Name: "Demo Bakery", TimeZone: "America/Los_Angeles",
		AdminEmail: DemoEmail, AdminPassword: DemoPassword})
	if err != nil {
		return nil, err
	}
	ws := cw.Workspace
	if _, err := svc.AddTrackingNumber(ctx, ws.ID, cw.Site.ID, service.NewTrackingNumber{Number: DemoTrackingNumber,
		Provider: service.ProviderGeneric, SMSProvider: service.ProviderSimulated, ForwardTo: "+14155550199", Label: "Google Ads"}); err != nil {
		return nil, err
	}
	p := &store.Principal{WorkspaceID: ws.ID, UserID: cw.User.ID, Email: DemoEmail, Role: auth.RoleAdmin}
	if _, err := svc.SetAutoresponderMessage(ctx, p, cw.Site.ID, DemoMessage); err != nil {
		return nil, err
	}
	if _, err := svc.SetAutoresponderEnabled(ctx, p, cw.Site.ID, true); err != nil {
		return nil, err
	}
	if _, err := svc.TopUp(ctx, ws.ID, 100, "demo credits"); err != nil {
		return nil, err
	}
	return &Demo{WorkspaceID: ws.ID, SiteID: cw.Site.ID, TrackingNumber: DemoTrackingNumber, APIKey: cw.APIKey}, nil
}
