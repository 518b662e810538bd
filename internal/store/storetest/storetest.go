// Package storetest is the conformance suite of store.DB: every database
// textback runs on (SQLite now, PostgreSQL next) must pass Run. It also
// offers Seed and Clock to other packages' tests.
package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/store"
)

// Run runs every behaviour as its own subtest. open must return a fresh,
// migrated, empty database each time it is called (the subtests run in
// parallel, one database each) and close it when t ends.
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	behaviours := []struct {
		name string
		test func(t *testing.T, db *store.DB)
	}{
		{"WorkspacesUsersMembers", testWorkspacesUsersMembers},
		{"APIKeys", testAPIKeys},
		{"SitesTenantIsolationAndAutoresponderAvailability", testSites},
		{"TrackingNumbers", testTrackingNumbers},
		{"AutoresponderMessageAndSwitchAreIndependent", testAutoresponder},
		{"Calls", testCalls},
		{"OneAutoreplyPerCall", testAutoreplies},
		{"Ledger", testLedger},
		{"ConcurrentDebits", testConcurrentDebits},
		{"Messages", testMessages},
		{"OptOuts", testOptOuts},
		{"ProviderSettings", testProviderSettings},
		{"ListProviderSettings", testListProviderSettings},
		{"CreditsUsedSince", testCreditsUsedSince},
	}
	for _, b := range behaviours {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.test(t, open(t))
		})
	}
}

// Fixture is what Seed creates: a workspace with a zero balance, its admin,
// one site (with its autoresponder, switched off and empty) and one tracking
// number on that site.
type Fixture struct {
	Workspace      *store.Workspace
	User           *store.User
	Member         *store.Member
	Site           *store.Site
	TrackingNumber *store.TrackingNumber
}

var seq atomic.Int64

// next returns a number unique in this test process.
func next() int64 { return seq.Add(1) }

// Seed creates a Fixture with fresh ids, e-mail and tracking number, so that
// it can be called several times on one database.
func Seed(t testing.TB, db *store.DB) Fixture {
	t.Helper()
	ctx := t.Context()
	q := db.Q()
	n := next()
	f := Fixture{
		Workspace: &store.Workspace{ID: ids.New("ws"), Name: fmt.Sprintf("Workspace %d", n), TimeZone: "Europe/Paris",
			MonthlySMSLimit: 200, WebhookSecret: "whsec_" + ids.Random(24), WebhookToken: "whtok_" + ids.Random(24)},
		User: &store.User{ID: ids.New("usr"), Email: fmt.Sprintf("admin%d@example.com", n), PasswordHash: "hash-" + ids.Random(8)},
	}
	f.Member = &store.Member{WorkspaceID: f.Workspace.ID, UserID: f.User.ID, Email: f.User.Email, Role: "admin"}
	f.Site = &store.Site{ID: ids.New("site"), WorkspaceID: f.Workspace.ID, Name: fmt.Sprintf("Site %d", n), TimeZone: "Europe/Paris"}
	fwd := "+14155550100"
	f.TrackingNumber = &store.TrackingNumber{ID: ids.New("tn"), WorkspaceID: f.Workspace.ID, SiteID: f.Site.ID,
		Number: NewNumber(), Provider: "generic", SMSProvider: "simulated", ForwardTo: &fwd, RingTimeoutSeconds: 20, Label: "Google Ads"}

	steps := []struct {
		what string
		do   func() error
	}{
		{"CreateWorkspace", func() error { return q.CreateWorkspace(ctx, f.Workspace) }},
		{"CreateUser", func() error { return q.CreateUser(ctx, f.User) }},
		{"AddMember", func() error { return q.AddMember(ctx, f.Member) }},
		{"CreateSite", func() error { return q.CreateSite(ctx, f.Site) }},
		{"CreateTrackingNumber", func() error { return q.CreateTrackingNumber(ctx, f.TrackingNumber) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("Seed: %s: %v", s.what, err)
		}
	}
	return f
}

// NewNumber returns an E.164 number (valid for libphonenumber) that no other
// call in this process returns.
func NewNumber() string { return fmt.Sprintf("+1415555%04d", next()%10000) }

// Clock is a settable time source for store.DB.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// UseClock makes db read the time from a new Clock set to start.
func UseClock(db *store.DB, start time.Time) *Clock {
	c := &Clock{t: start}
	db.Now = c.Now
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// start is the suite's clock start: UTC, with microseconds, as a database keeps it.
var start = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// must stops the test on an unexpected error.
func must(t testing.TB, err error, op string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// wantErr stops the test unless err is target.
func wantErr(t testing.TB, err, target error, op string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", op, err, target)
	}
}

// wantTime checks that got is the instant want, in UTC.
func wantTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
	if got.Location() != time.UTC {
		t.Errorf("%s comes back in location %q, want UTC", what, got.Location())
	}
}

// wantInstant checks that got is the instant want, whatever its location.
func wantInstant(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

func ptr[T any](v T) *T { return &v }

// str shows an optional string in failure messages.
func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

// addUser creates a user and makes it a member of workspaceID with role.
func addUser(t testing.TB, db *store.DB, workspaceID, role string) *store.User {
	t.Helper()
	ctx := t.Context()
	u := &store.User{ID: ids.New("usr"), Email: fmt.Sprintf("user%d@example.com", next()), PasswordHash: "hash"}
	must(t, db.Q().CreateUser(ctx, u), "CreateUser")
	must(t, db.Q().AddMember(ctx, &store.Member{WorkspaceID: workspaceID, UserID: u.ID, Role: role}), "AddMember")
	return u
}
