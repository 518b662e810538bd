package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/store"
)

func testWorkspacesUsersMembers(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	f := Seed(t, db)

	t.Run("workspace reads back", func(t *testing.T) {
		got, err := q.GetWorkspace(ctx, f.Workspace.ID)
		must(t, err, "GetWorkspace")
		want := f.Workspace
		if got.ID != want.ID || got.Name != want.Name || got.TimeZone != want.TimeZone || got.Balance != 0 ||
			got.MonthlySMSLimit != want.MonthlySMSLimit || got.WebhookSecret != want.WebhookSecret || got.WebhookToken != want.WebhookToken {
			t.Errorf("GetWorkspace = %+v, want %+v with balance 0", got, want)
		}
		wantInstant(t, "Workspace.CreatedAt", got.CreatedAt, start)
	})

	t.Run("unknown workspace is not found", func(t *testing.T) {
		_, err := q.GetWorkspace(ctx, ids.New("ws"))
		wantErr(t, err, store.ErrNotFound, "GetWorkspace(unknown)")
		_, err = q.Balance(ctx, ids.New("ws"))
		wantErr(t, err, store.ErrNotFound, "Balance(unknown)")
	})

	t.Run("webhook credentials change", func(t *testing.T) {
		must(t, q.SetWebhookCredentials(ctx, f.Workspace.ID, "whsec_new", "whtok_new"), "SetWebhookCredentials")
		got, err := q.GetWorkspace(ctx, f.Workspace.ID)
		must(t, err, "GetWorkspace")
		if got.WebhookSecret != "whsec_new" || got.WebhookToken != "whtok_new" {
			t.Errorf("webhook credentials = %q, %q; want whsec_new, whtok_new", got.WebhookSecret, got.WebhookToken)
		}
	})

	t.Run("user reads back by e-mail", func(t *testing.T) {
		got, err := q.GetUserByEmail(ctx, f.User.Email)
		must(t, err, "GetUserByEmail")
		if got.ID != f.User.ID || got.Email != f.User.Email || got.PasswordHash != f.User.PasswordHash {
			t.Errorf("GetUserByEmail = %+v, want %+v", got, f.User)
		}
		wantInstant(t, "User.CreatedAt", got.CreatedAt, start)
		_, err = q.GetUserByEmail(ctx, "nobody@example.com")
		wantErr(t, err, store.ErrNotFound, "GetUserByEmail(unknown)")
	})

	t.Run("duplicate e-mail conflicts", func(t *testing.T) {
		err := q.CreateUser(ctx, &store.User{ID: ids.New("usr"), Email: f.User.Email, PasswordHash: "other"})
		wantErr(t, err, store.ErrConflict, "CreateUser(same e-mail)")
		got, err := q.GetUserByEmail(ctx, f.User.Email)
		must(t, err, "GetUserByEmail")
		if got.ID != f.User.ID || got.PasswordHash != f.User.PasswordHash {
			t.Errorf("after the conflict the e-mail belongs to %+v, want the first user %+v", got, f.User)
		}
	})

	t.Run("duplicate membership conflicts", func(t *testing.T) {
		err := q.AddMember(ctx, &store.Member{WorkspaceID: f.Workspace.ID, UserID: f.User.ID, Role: "member"})
		wantErr(t, err, store.ErrConflict, "AddMember(again)")
		ms, err := q.ListMembers(ctx, f.Workspace.ID)
		must(t, err, "ListMembers")
		if len(ms) != 1 || ms[0].Role != "admin" {
			t.Errorf("after the conflict ListMembers = %+v, want the admin alone", ms)
		}
	})

	t.Run("memberships and members are listed", func(t *testing.T) {
		clock.Advance(time.Minute)
		other := Seed(t, db) // another workspace, created a minute later
		clock.Advance(time.Minute)
		joinedAt := clock.Now()
		must(t, q.AddMember(ctx, &store.Member{WorkspaceID: other.Workspace.ID, UserID: f.User.ID, Role: "member"}), "AddMember")

		got, err := q.Memberships(ctx, f.User.ID)
		must(t, err, "Memberships")
		want := []store.Member{
			{WorkspaceID: f.Workspace.ID, UserID: f.User.ID, Email: f.User.Email, Role: "admin", CreatedAt: start},
			{WorkspaceID: other.Workspace.ID, UserID: f.User.ID, Email: f.User.Email, Role: "member", CreatedAt: joinedAt},
		}
		wantMembers(t, "Memberships", got, want)

		got, err = q.ListMembers(ctx, other.Workspace.ID)
		must(t, err, "ListMembers")
		want = []store.Member{
			{WorkspaceID: other.Workspace.ID, UserID: other.User.ID, Email: other.User.Email, Role: "admin", CreatedAt: joinedAt.Add(-time.Minute)},
			{WorkspaceID: other.Workspace.ID, UserID: f.User.ID, Email: f.User.Email, Role: "member", CreatedAt: joinedAt},
		}
		wantMembers(t, "ListMembers", got, want)
	})
}

func wantMembers(t *testing.T, what string, got, want []store.Member) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.WorkspaceID != w.WorkspaceID || g.UserID != w.UserID || g.Email != w.Email || g.Role != w.Role || !g.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("%s[%d] = %+v, want %+v", what, i, g, w)
		}
	}
}

func testAPIKeys(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	f := Seed(t, db)
	other := Seed(t, db)
	member := addUser(t, db, f.Workspace.ID, "member")

	newKey := func(workspaceID, userID, name string) *store.APIKey {
		t.Helper()
		clock.Advance(time.Second)
		k := &store.APIKey{ID: ids.New("key"), WorkspaceID: workspaceID, UserID: userID, Name: name, Prefix: "tb_" + ids.Random(3), KeyHash: ids.Random(32)}
		must(t, q.CreateAPIKey(ctx, k), "CreateAPIKey")
		return k
	}
	admin1 := newKey(f.Workspace.ID, f.User.ID, "ci")
	admin2 := newKey(f.Workspace.ID, f.User.ID, "zapier")
	memberKey := newKey(f.Workspace.ID, member.ID, "mine")
	otherKey := newKey(other.Workspace.ID, other.User.ID, "other")
	// f's admin is a plain member of the other workspace: a key made there acts as a member.
	must(t, q.AddMember(ctx, &store.Member{WorkspaceID: other.Workspace.ID, UserID: f.User.ID, Role: "member"}), "AddMember")
	guestKey := newKey(other.Workspace.ID, f.User.ID, "guest")

	principal := func(t *testing.T, k *store.APIKey) *store.Principal {
		t.Helper()
		p, err := q.PrincipalByKeyHash(ctx, k.KeyHash)
		must(t, err, "PrincipalByKeyHash("+k.Name+")")
		return p
	}

	t.Run("principal is the key's member", func(t *testing.T) {
		cases := []struct {
			key  *store.APIKey
			want store.Principal
		}{
			{admin1, store.Principal{KeyID: admin1.ID, WorkspaceID: f.Workspace.ID, UserID: f.User.ID, Email: f.User.Email, Role: "admin"}},
			{memberKey, store.Principal{KeyID: memberKey.ID, WorkspaceID: f.Workspace.ID, UserID: member.ID, Email: member.Email, Role: "member"}},
			{otherKey, store.Principal{KeyID: otherKey.ID, WorkspaceID: other.Workspace.ID, UserID: other.User.ID, Email: other.User.Email, Role: "admin"}},
			{guestKey, store.Principal{KeyID: guestKey.ID, WorkspaceID: other.Workspace.ID, UserID: f.User.ID, Email: f.User.Email, Role: "member"}},
		}
		for _, c := range cases {
			if got := principal(t, c.key); *got != c.want {
				t.Errorf("PrincipalByKeyHash(%s) = %+v, want %+v", c.key.Name, *got, c.want)
			}
		}
	})

	t.Run("unknown hash is not found", func(t *testing.T) {
		_, err := q.PrincipalByKeyHash(ctx, ids.Random(32))
		wantErr(t, err, store.ErrNotFound, "PrincipalByKeyHash(unknown)")
	})

	t.Run("principal has the member's current role", func(t *testing.T) {
		setRole := func(role string) {
			t.Helper()
			_, err := db.SQL.ExecContext(ctx, `UPDATE members SET role = $1 WHERE workspace_id = $2 AND user_id = $3`, role, f.Workspace.ID, member.ID)
			must(t, err, "UPDATE members")
		}
		setRole("admin")
		if p := principal(t, memberKey); p.Role != "admin" {
			t.Errorf("after promotion the key's role = %q, want admin", p.Role)
		}
		setRole("member")
		if p := principal(t, memberKey); p.Role != "member" {
			t.Errorf("after demotion the key's role = %q, want member", p.Role)
		}
	})

	t.Run("a member lists only their own keys, newest first", func(t *testing.T) {
		lists := []struct {
			workspaceID, userID string
			want                []*store.APIKey
		}{
			{f.Workspace.ID, f.User.ID, []*store.APIKey{admin2, admin1}},
			{f.Workspace.ID, member.ID, []*store.APIKey{memberKey}},
			{other.Workspace.ID, other.User.ID, []*store.APIKey{otherKey}},
			{other.Workspace.ID, f.User.ID, []*store.APIKey{guestKey}},
			{other.Workspace.ID, member.ID, nil},
		}
		for _, l := range lists {
			got, err := q.ListAPIKeys(ctx, l.workspaceID, l.userID)
			must(t, err, "ListAPIKeys")
			if len(got) != len(l.want) {
				t.Errorf("ListAPIKeys(%s, %s) has %d keys, want %d", l.workspaceID, l.userID, len(got), len(l.want))
				continue
			}
			for i, w := range l.want {
				g := got[i]
				if g.ID != w.ID || g.WorkspaceID != w.WorkspaceID || g.UserID != w.UserID || g.Name != w.Name || g.Prefix != w.Prefix ||
					g.KeyHash != w.KeyHash || g.LastUsedAt != nil {
					t.Errorf("ListAPIKeys[%d] = %+v, want %+v", i, g, *w)
				}
				wantInstant(t, "APIKey.CreatedAt", g.CreatedAt, w.CreatedAt)
			}
		}
	})

	t.Run("touch records last use", func(t *testing.T) {
		used := clock.Advance(time.Hour)
		must(t, q.TouchAPIKey(ctx, memberKey.ID), "TouchAPIKey")
		got, err := q.ListAPIKeys(ctx, f.Workspace.ID, member.ID)
		must(t, err, "ListAPIKeys")
		if len(got) != 1 || got[0].LastUsedAt == nil {
			t.Fatalf("after TouchAPIKey ListAPIKeys = %+v, want LastUsedAt set", got)
		}
		wantTime(t, "APIKey.LastUsedAt", *got[0].LastUsedAt, used)
	})

	t.Run("another user's key cannot be deleted", func(t *testing.T) {
		wantErr(t, q.DeleteAPIKey(ctx, f.Workspace.ID, member.ID, admin1.ID), store.ErrNotFound, "DeleteAPIKey(another member's key)")
		wantErr(t, q.DeleteAPIKey(ctx, other.Workspace.ID, other.User.ID, admin1.ID), store.ErrNotFound, "DeleteAPIKey(another workspace's key)")
		wantErr(t, q.DeleteAPIKey(ctx, other.Workspace.ID, f.User.ID, admin1.ID), store.ErrNotFound, "DeleteAPIKey(right user, wrong workspace)")
		if p := principal(t, admin1); p.KeyID != admin1.ID {
			t.Errorf("the key acts as %+v after failed deletes, want key %s", p, admin1.ID)
		}
	})

	t.Run("own key is deleted and stops working", func(t *testing.T) {
		must(t, q.DeleteAPIKey(ctx, f.Workspace.ID, f.User.ID, admin1.ID), "DeleteAPIKey")
		_, err := q.PrincipalByKeyHash(ctx, admin1.KeyHash)
		wantErr(t, err, store.ErrNotFound, "PrincipalByKeyHash(deleted)")
		wantErr(t, q.DeleteAPIKey(ctx, f.Workspace.ID, f.User.ID, admin1.ID), store.ErrNotFound, "DeleteAPIKey(again)")
		principal(t, admin2) // the user's other key still works
	})
}

func testSites(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	a := Seed(t, db)
	b := Seed(t, db)

	t.Run("site reads back in its workspace only", func(t *testing.T) {
		got, err := q.GetSite(ctx, a.Workspace.ID, a.Site.ID)
		must(t, err, "GetSite")
		if got.ID != a.Site.ID || got.WorkspaceID != a.Workspace.ID || got.Name != a.Site.Name || got.TimeZone != a.Site.TimeZone {
			t.Errorf("GetSite = %+v, want %+v", got, a.Site)
		}
		wantInstant(t, "Site.CreatedAt", got.CreatedAt, start)

		_, err = q.GetSite(ctx, b.Workspace.ID, a.Site.ID)
		wantErr(t, err, store.ErrNotFound, "GetSite(another workspace's site)")
		_, err = q.GetSite(ctx, a.Workspace.ID, ids.New("site"))
		wantErr(t, err, store.ErrNotFound, "GetSite(unknown)")

		sites, err := q.ListSites(ctx, b.Workspace.ID)
		must(t, err, "ListSites")
		if len(sites) != 1 || sites[0].ID != b.Site.ID {
			t.Errorf("ListSites(b) = %+v, want b's site only", sites)
		}
	})

	t.Run("new site's autoresponder is off, empty and unavailable until a number exists", func(t *testing.T) {
		clock.Advance(time.Minute)
		s := &store.Site{ID: ids.New("site"), WorkspaceID: a.Workspace.ID, Name: "Second shop", TimeZone: "America/New_York"}
		must(t, q.CreateSite(ctx, s), "CreateSite")

		sites, err := q.ListSites(ctx, a.Workspace.ID)
		must(t, err, "ListSites")
		if len(sites) != 2 || sites[0].ID != a.Site.ID || sites[1].ID != s.ID {
			t.Errorf("ListSites = %+v, want the seeded site then %s", sites, s.ID)
		}

		ar, err := q.GetAutoresponder(ctx, s.ID)
		must(t, err, "GetAutoresponder")
		want := store.Autoresponder{SiteID: s.ID}
		if ar.SiteID != want.SiteID || ar.Enabled || ar.Message != "" || ar.UpdatedAt != nil || ar.UpdatedBy != nil || ar.Available {
			t.Errorf("new site's autoresponder = %+v, want disabled, empty, never updated, unavailable", *ar)
		}

		tn := &store.TrackingNumber{ID: ids.New("tn"), WorkspaceID: a.Workspace.ID, SiteID: s.ID, Number: NewNumber(),
			Provider: "twilio", SMSProvider: "twilio", RingTimeoutSeconds: 15}
		must(t, q.CreateTrackingNumber(ctx, tn), "CreateTrackingNumber")
		if ar, err := q.GetAutoresponder(ctx, s.ID); err != nil || !ar.Available {
			t.Errorf("with a tracking number GetAutoresponder = %+v, %v; want Available", ar, err)
		}

		must(t, q.DeleteTrackingNumber(ctx, a.Workspace.ID, tn.ID), "DeleteTrackingNumber")
		if ar, err := q.GetAutoresponder(ctx, s.ID); err != nil || ar.Available {
			t.Errorf("after its number is deleted GetAutoresponder = %+v, %v; want unavailable", ar, err)
		}
	})

	t.Run("unknown site has no autoresponder", func(t *testing.T) {
		_, err := q.GetAutoresponder(ctx, ids.New("site"))
		wantErr(t, err, store.ErrNotFound, "GetAutoresponder(unknown)")
	})
}

func testTrackingNumbers(t *testing.T, db *store.DB) {
	ctx := t.Context()
	UseClock(db, start)
	q := db.Q()
	a := Seed(t, db)
	b := Seed(t, db)

	tn := &store.TrackingNumber{ID: ids.New("tn"), WorkspaceID: a.Workspace.ID, SiteID: a.Site.ID, Number: NewNumber(),
		Provider: "twilio", SMSProvider: "twilio", ForwardTo: ptr("+14155550199"), RingTimeoutSeconds: 25, Label: "Flyer"}
	must(t, q.CreateTrackingNumber(ctx, tn), "CreateTrackingNumber")
	plain := &store.TrackingNumber{ID: ids.New("tn"), WorkspaceID: a.Workspace.ID, SiteID: a.Site.ID, Number: NewNumber(),
		Provider: "generic", SMSProvider: "simulated", RingTimeoutSeconds: 20}
	must(t, q.CreateTrackingNumber(ctx, plain), "CreateTrackingNumber(no forward-to, no label)")

	t.Run("number reads back with every field", func(t *testing.T) {
		for _, want := range []*store.TrackingNumber{tn, plain} {
			got, err := q.TrackingNumberByNumber(ctx, a.Workspace.ID, want.Number)
			must(t, err, "TrackingNumberByNumber")
			wantTrackingNumber(t, got, want)
		}
		list, err := q.ListTrackingNumbers(ctx, a.Site.ID)
		must(t, err, "ListTrackingNumbers")
		if len(list) != 3 {
			t.Fatalf("ListTrackingNumbers has %d numbers, want 3 (seeded, %s, %s)", len(list), tn.Number, plain.Number)
		}
	})

	t.Run("a number exists once, in any workspace", func(t *testing.T) {
		dups := []*store.TrackingNumber{
			{ID: ids.New("tn"), WorkspaceID: a.Workspace.ID, SiteID: a.Site.ID, Number: tn.Number, Provider: "twilio", SMSProvider: "twilio"},
			{ID: ids.New("tn"), WorkspaceID: b.Workspace.ID, SiteID: b.Site.ID, Number: tn.Number, Provider: "generic", SMSProvider: "simulated"},
		}
		for _, d := range dups {
			wantErr(t, q.CreateTrackingNumber(ctx, d), store.ErrConflict, "CreateTrackingNumber(same number in "+d.WorkspaceID+")")
		}
		if _, err := q.TrackingNumberByNumber(ctx, b.Workspace.ID, tn.Number); err == nil {
			t.Errorf("the rejected number was stored in workspace b")
		}
	})

	t.Run("lookup is scoped to the workspace", func(t *testing.T) {
		_, err := q.TrackingNumberByNumber(ctx, b.Workspace.ID, tn.Number)
		wantErr(t, err, store.ErrNotFound, "TrackingNumberByNumber(another workspace)")
		_, err = q.TrackingNumberByNumber(ctx, a.Workspace.ID, "+14155559999")
		wantErr(t, err, store.ErrNotFound, "TrackingNumberByNumber(unknown)")
	})

	t.Run("another workspace cannot delete it", func(t *testing.T) {
		wantErr(t, q.DeleteTrackingNumber(ctx, b.Workspace.ID, tn.ID), store.ErrNotFound, "DeleteTrackingNumber(wrong workspace)")
		if _, err := q.TrackingNumberByNumber(ctx, a.Workspace.ID, tn.Number); err != nil {
			t.Errorf("after a delete from the wrong workspace the number is gone: %v", err)
		}
	})

	t.Run("its workspace deletes it", func(t *testing.T) {
		must(t, q.DeleteTrackingNumber(ctx, a.Workspace.ID, tn.ID), "DeleteTrackingNumber")
		_, err := q.TrackingNumberByNumber(ctx, a.Workspace.ID, tn.Number)
		wantErr(t, err, store.ErrNotFound, "TrackingNumberByNumber(deleted)")
		wantErr(t, q.DeleteTrackingNumber(ctx, a.Workspace.ID, tn.ID), store.ErrNotFound, "DeleteTrackingNumber(again)")
		// The number is free again.
		again := &store.TrackingNumber{ID: ids.New("tn"), WorkspaceID: b.Workspace.ID, SiteID: b.Site.ID, Number: tn.Number, Provider: "generic", SMSProvider: "simulated"}
		must(t, q.CreateTrackingNumber(ctx, again), "CreateTrackingNumber(deleted number, other workspace)")
	})
}

func wantTrackingNumber(t *testing.T, got, want *store.TrackingNumber) {
	t.Helper()
	if got.ID != want.ID || got.WorkspaceID != want.WorkspaceID || got.SiteID != want.SiteID || got.Number != want.Number ||
		got.Provider != want.Provider || got.SMSProvider != want.SMSProvider || str(got.ForwardTo) != str(want.ForwardTo) ||
		got.RingTimeoutSeconds != want.RingTimeoutSeconds || got.Label != want.Label {
		t.Errorf("tracking number = %+v (forward to %s), want %+v (forward to %s)", *got, str(got.ForwardTo), *want, str(want.ForwardTo))
	}
	wantInstant(t, "TrackingNumber.CreatedAt", got.CreatedAt, want.CreatedAt)
}

func testAutoresponder(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	f := Seed(t, db)
	colleague := addUser(t, db, f.Workspace.ID, "member")

	// Each step changes one thing; the other must stay as it was.
	steps := []struct {
		name        string
		do          func() error
		by          string
		wantEnabled bool
		wantMessage string
	}{
		{"switch on with no message", func() error { return q.SetAutoresponderEnabled(ctx, f.Site.ID, true, f.User.ID) }, f.User.ID, true, ""},
		{"save a message while on", func() error { return q.SetAutoresponderMessage(ctx, f.Site.ID, "Sorry we missed you!", colleague.ID) }, colleague.ID, true, "Sorry we missed you!"},
		{"switch off", func() error { return q.SetAutoresponderEnabled(ctx, f.Site.ID, false, f.User.ID) }, f.User.ID, false, "Sorry we missed you!"},
		{"save a message while off", func() error {
			return q.SetAutoresponderMessage(ctx, f.Site.ID, "We call back within 2 h.", colleague.ID)
		}, colleague.ID, false, "We call back within 2 h."},
		{"switch on again", func() error { return q.SetAutoresponderEnabled(ctx, f.Site.ID, true, colleague.ID) }, colleague.ID, true, "We call back within 2 h."},
		{"save an empty message", func() error { return q.SetAutoresponderMessage(ctx, f.Site.ID, "", f.User.ID) }, f.User.ID, true, ""},
	}
	for _, s := range steps {
		at := clock.Advance(time.Minute)
		must(t, s.do(), s.name)
		got, err := q.GetAutoresponder(ctx, f.Site.ID)
		must(t, err, "GetAutoresponder")
		if got.Enabled != s.wantEnabled || got.Message != s.wantMessage || !got.Available {
			t.Errorf("after %q: enabled=%v message=%q available=%v; want enabled=%v message=%q available=true",
				s.name, got.Enabled, got.Message, got.Available, s.wantEnabled, s.wantMessage)
		}
		if got.UpdatedBy == nil || *got.UpdatedBy != s.by {
			t.Errorf("after %q: UpdatedBy = %s, want %q", s.name, str(got.UpdatedBy), s.by)
		}
		if got.UpdatedAt == nil {
			t.Errorf("after %q: UpdatedAt is nil, want %s", s.name, at)
		} else {
			wantTime(t, "after "+s.name+": UpdatedAt", *got.UpdatedAt, at)
		}
	}

	// Another site's autoresponder is untouched.
	s2 := &store.Site{ID: ids.New("site"), WorkspaceID: f.Workspace.ID, Name: "Other", TimeZone: "UTC"}
	must(t, q.CreateSite(ctx, s2), "CreateSite")
	must(t, q.SetAutoresponderMessage(ctx, f.Site.ID, "only the first site", f.User.ID), "SetAutoresponderMessage")
	if got, err := q.GetAutoresponder(ctx, s2.ID); err != nil || got.Message != "" || got.Enabled {
		t.Errorf("other site's autoresponder = %+v, %v; want untouched", got, err)
	}
}

func testProviderSettings(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	a := Seed(t, db)
	b := Seed(t, db)

	puts := []store.ProviderSettings{
		{WorkspaceID: a.Workspace.ID, Provider: "twilio", Config: `{"account_sid":"AC1"}`, Secret: `{"auth_token":"one"}`},
		{WorkspaceID: a.Workspace.ID, Provider: "twilio", Config: `{"account_sid":"AC2"}`, Secret: `{"auth_token":"two"}`},
	}
	var last time.Time
	for i := range puts {
		last = clock.Advance(time.Minute)
		must(t, q.PutProviderSettings(ctx, &puts[i]), "PutProviderSettings")
	}
	got, err := q.GetProviderSettings(ctx, a.Workspace.ID, "twilio")
	must(t, err, "GetProviderSettings")
	if got.WorkspaceID != a.Workspace.ID || got.Provider != "twilio" || got.Config != puts[1].Config || got.Secret != puts[1].Secret {
		t.Errorf("GetProviderSettings = %+v, want the latest put %+v", *got, puts[1])
	}
	wantInstant(t, "ProviderSettings.UpdatedAt", got.UpdatedAt, last)

	for _, c := range []struct{ workspaceID, provider string }{
		{a.Workspace.ID, "telnyx"},
		{b.Workspace.ID, "twilio"},
	} {
		_, err := q.GetProviderSettings(ctx, c.workspaceID, c.provider)
		wantErr(t, err, store.ErrNotFound, "GetProviderSettings("+c.workspaceID+", "+c.provider+")")
	}
}

func testOptOuts(t *testing.T, db *store.DB) {
	ctx := t.Context()
	q := db.Q()
	a := Seed(t, db)
	b := Seed(t, db)
	const phone = "+14155550123"

	optedOut := func(workspaceID string) bool {
		t.Helper()
		v, err := q.IsOptedOut(ctx, workspaceID, phone)
		must(t, err, "IsOptedOut")
		return v
	}
	steps := []struct {
		name  string
		do    func(context.Context) error
		wantA bool
		wantB bool
	}{
		{"nobody opted out", func(context.Context) error { return nil }, false, false},
		{"STOP", func(ctx context.Context) error { return q.OptOut(ctx, a.Workspace.ID, phone, "STOP") }, true, false},
		{"STOP again is fine", func(ctx context.Context) error { return q.OptOut(ctx, a.Workspace.ID, phone, "QUIT") }, true, false},
		{"START", func(ctx context.Context) error { return q.OptIn(ctx, a.Workspace.ID, phone) }, false, false},
		{"START again is fine", func(ctx context.Context) error { return q.OptIn(ctx, a.Workspace.ID, phone) }, false, false},
		{"STOP to the other workspace", func(ctx context.Context) error { return q.OptOut(ctx, b.Workspace.ID, phone, "STOP") }, false, true},
	}
	for _, s := range steps {
		must(t, s.do(ctx), s.name)
		if got := optedOut(a.Workspace.ID); got != s.wantA {
			t.Errorf("after %s: opted out of a = %v, want %v", s.name, got, s.wantA)
		}
		if got := optedOut(b.Workspace.ID); got != s.wantB {
			t.Errorf("after %s: opted out of b = %v, want %v", s.name, got, s.wantB)
		}
		if got, err := q.IsOptedOut(ctx, a.Workspace.ID, "+14155550124"); err != nil || got {
			t.Errorf("after %s: another phone opted out = %v, %v; want false", s.name, got, err)
		}
	}
}
