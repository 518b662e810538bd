package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/store"
)

// newYork is a fixed zone, so that the suite needs no time zone database:
// times written in it must come back as the same instant in UTC.
var newYork = time.FixedZone("EST", -5*3600)

// newCall returns an in-progress call from caller to f's tracking number,
// not yet stored.
func newCall(f Fixture, startedAt time.Time) *store.Call {
	return &store.Call{ID: ids.New("call"), WorkspaceID: f.Workspace.ID, SiteID: ptr(f.Site.ID), TrackingNumberID: ptr(f.TrackingNumber.ID),
		TrackingNumber: f.TrackingNumber.Number, Provider: f.TrackingNumber.Provider, ProviderCallID: ids.New("pc"),
		Caller: ptr("+14155550123"), CallerRaw: "(415) 555-0123", Outcome: "in_progress", StartedAt: startedAt}
}

func insertCall(t *testing.T, db *store.DB, c *store.Call) {
	t.Helper()
	inserted, err := db.Q().InsertCallIfNew(t.Context(), c)
	must(t, err, "InsertCallIfNew")
	if !inserted {
		t.Fatalf("InsertCallIfNew(%s) = false for a new call", c.ProviderCallID)
	}
}

func lockCall(t *testing.T, db *store.DB, workspaceID, provider, providerCallID string) (*store.Call, error) {
	t.Helper()
	var c *store.Call
	err := db.InTx(t.Context(), func(tx *store.Tx) error {
		var err error
		c, err = tx.LockCall(t.Context(), workspaceID, provider, providerCallID)
		return err
	})
	return c, err
}

func intStr(p *int) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

func timeStr(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return p.Format(time.RFC3339Nano)
}

// wantCall compares every stored field of a call; times must be the same
// instants, in UTC.
func wantCall(t *testing.T, got, want *store.Call) {
	t.Helper()
	type row struct{ ID, WorkspaceID, SiteID, TrackingNumberID, TrackingNumber, Provider, ProviderCallID, Caller, CallerRaw, Outcome, Detail, Duration string }
	g := row{got.ID, got.WorkspaceID, str(got.SiteID), str(got.TrackingNumberID), got.TrackingNumber, got.Provider, got.ProviderCallID,
		str(got.Caller), got.CallerRaw, got.Outcome, str(got.OutcomeDetail), intStr(got.DurationSeconds)}
	w := row{want.ID, want.WorkspaceID, str(want.SiteID), str(want.TrackingNumberID), want.TrackingNumber, want.Provider, want.ProviderCallID,
		str(want.Caller), want.CallerRaw, want.Outcome, str(want.OutcomeDetail), intStr(want.DurationSeconds)}
	if g != w {
		t.Errorf("call =\n\t%+v\nwant\n\t%+v", g, w)
	}
	wantTime(t, "Call.StartedAt", got.StartedAt, want.StartedAt)
	wantTime(t, "Call.CreatedAt", got.CreatedAt, want.CreatedAt)
	switch {
	case (got.EndedAt == nil) != (want.EndedAt == nil):
		t.Errorf("Call.EndedAt = %s, want %s", timeStr(got.EndedAt), timeStr(want.EndedAt))
	case got.EndedAt != nil:
		wantTime(t, "Call.EndedAt", *got.EndedAt, *want.EndedAt)
	}
}

func testCalls(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()

	t.Run("a provider call id is stored once per workspace", func(t *testing.T) {
		a, b := Seed(t, db), Seed(t, db)
		c := newCall(a, start.Add(-30*time.Second))
		dup := *c
		dup.ID, dup.Caller, dup.Outcome = ids.New("call"), ptr("+14155550999"), "missed"

		for i, call := range []*store.Call{c, &dup} {
			want := i == 0
			inserted, err := q.InsertCallIfNew(ctx, call)
			must(t, err, "InsertCallIfNew")
			if inserted != want {
				t.Errorf("InsertCallIfNew #%d = %v, want %v", i+1, inserted, want)
			}
		}
		calls, err := q.ListCalls(ctx, a.Workspace.ID, store.CallFilter{Limit: 10})
		must(t, err, "ListCalls")
		if len(calls) != 1 || calls[0].ID != c.ID || str(calls[0].Caller) != str(c.Caller) || calls[0].Outcome != "in_progress" {
			t.Errorf("after a duplicate ListCalls = %+v, want the first call alone, unchanged", calls)
		}

		// The same provider call id in another workspace, or from another provider, is another call.
		others := []*store.Call{newCall(b, start), newCall(a, start)}
		others[0].ProviderCallID = c.ProviderCallID
		others[1].ProviderCallID, others[1].Provider = c.ProviderCallID, "twilio"
		for _, o := range others {
			inserted, err := q.InsertCallIfNew(ctx, o)
			must(t, err, "InsertCallIfNew")
			if !inserted {
				t.Errorf("InsertCallIfNew(workspace %s, provider %s, same provider call id) = false, want true", o.WorkspaceID, o.Provider)
			}
		}
	})

	t.Run("LockCall reads back every field in UTC", func(t *testing.T) {
		f, other := Seed(t, db), Seed(t, db)
		created := clock.Advance(time.Minute)
		c := newCall(f, created.Add(-90*time.Second).In(newYork))
		c.Outcome, c.OutcomeDetail = "missed", ptr("busy")
		c.EndedAt, c.DurationSeconds = ptr(created.Add(-60*time.Second).In(newYork)), ptr(0)
		insertCall(t, db, c)

		got, err := lockCall(t, db, f.Workspace.ID, c.Provider, c.ProviderCallID)
		must(t, err, "LockCall")
		want := *c
		want.CreatedAt = created
		wantCall(t, got, &want)

		// A withheld caller and no site: the optional fields stay empty.
		bare := newCall(f, created)
		bare.Caller, bare.CallerRaw, bare.SiteID, bare.TrackingNumberID = nil, "anonymous", nil, nil
		insertCall(t, db, bare)
		got, err = lockCall(t, db, f.Workspace.ID, bare.Provider, bare.ProviderCallID)
		must(t, err, "LockCall")
		want = *bare
		want.CreatedAt = created
		wantCall(t, got, &want)

		_, err = lockCall(t, db, other.Workspace.ID, c.Provider, c.ProviderCallID)
		wantErr(t, err, store.ErrNotFound, "LockCall(another workspace)")
		_, err = lockCall(t, db, f.Workspace.ID, c.Provider, "unknown")
		wantErr(t, err, store.ErrNotFound, "LockCall(unknown)")
	})

	t.Run("UpdateCallState persists the outcome and keeps a known caller", func(t *testing.T) {
		f := Seed(t, db)
		created := clock.Advance(time.Minute)
		cases := []struct {
			name         string
			caller       *string // stored first
			updateCaller *string
			wantCaller   *string
		}{
			{"known caller is kept", ptr("+14155550123"), ptr("+14155550777"), ptr("+14155550123")},
			{"known caller is kept when the update has none", ptr("+14155550123"), nil, ptr("+14155550123")},
			{"unknown caller is filled in", nil, ptr("+14155550777"), ptr("+14155550777")},
			{"unknown caller stays unknown", nil, nil, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := newCall(f, created.Add(-time.Minute))
				c.Caller = tc.caller
				insertCall(t, db, c)

				c.Caller = tc.updateCaller
				c.Outcome, c.OutcomeDetail = "missed", ptr("no-answer")
				c.StartedAt = created.Add(-2 * time.Minute).In(newYork) // a later event may know better
				c.EndedAt, c.DurationSeconds = ptr(created.Add(-time.Minute+25*time.Second+123*time.Microsecond).In(newYork)), ptr(25)
				must(t, q.UpdateCallState(ctx, c), "UpdateCallState")

				got, err := lockCall(t, db, f.Workspace.ID, c.Provider, c.ProviderCallID)
				must(t, err, "LockCall")
				want := *c
				want.Caller, want.CreatedAt = tc.wantCaller, created
				wantCall(t, got, &want)
			})
		}
	})

	t.Run("ListCalls lists newest first, filters and joins the autoreply", func(t *testing.T) {
		f, other := Seed(t, db), Seed(t, db)
		clock.Advance(time.Minute)
		site2 := &store.Site{ID: ids.New("site"), WorkspaceID: f.Workspace.ID, Name: "Second shop", TimeZone: "UTC"}
		must(t, q.CreateSite(ctx, site2), "CreateSite")
		tn2 := &store.TrackingNumber{ID: ids.New("tn"), WorkspaceID: f.Workspace.ID, SiteID: site2.ID, Number: NewNumber(),
			Provider: "generic", SMSProvider: "simulated", Label: "Flyer"}
		must(t, q.CreateTrackingNumber(ctx, tn2), "CreateTrackingNumber")
		onSite2 := func(c *store.Call) *store.Call {
			c.SiteID, c.TrackingNumberID, c.TrackingNumber = ptr(site2.ID), ptr(tn2.ID), tn2.Number
			return c
		}
		withOutcome := func(c *store.Call, outcome string) *store.Call {
			c.Outcome = outcome
			return c
		}

		t0 := clock.Advance(time.Hour)
		// Inserted in this order; started in the order D, A, C, B.
		callA := withOutcome(newCall(f, t0.Add(1*time.Minute+1*time.Microsecond)), "missed")
		callB := withOutcome(onSite2(newCall(f, t0.Add(3*time.Minute).In(newYork))), "answered")
		callC := withOutcome(newCall(f, t0.Add(1*time.Minute+2*time.Microsecond)), "missed")
		callD := withOutcome(onSite2(newCall(f, t0)), "missed")
		for _, c := range []*store.Call{callA, callB, callC, callD, withOutcome(newCall(other, t0.Add(time.Hour)), "missed")} {
			insertCall(t, db, c)
		}

		msg := newMessage(f, "autoreply")
		msg.CallID = &callA.ID
		must(t, q.InsertMessage(ctx, msg), "InsertMessage")
		must(t, q.SetMessageStatus(ctx, msg.ID, "undelivered", ptr("30003 unreachable")), "SetMessageStatus")
		for _, a := range []*store.Autoreply{
			{CallID: callA.ID, WorkspaceID: f.Workspace.ID, Decision: "sent", MessageID: &msg.ID},
			{CallID: callC.ID, WorkspaceID: f.Workspace.ID, Decision: "skipped", Reason: ptr("autoresponder_off")},
		} {
			inserted, err := q.InsertAutoreply(ctx, a)
			must(t, err, "InsertAutoreply")
			if !inserted {
				t.Fatalf("InsertAutoreply(%s) = false", a.CallID)
			}
		}

		cases := []struct {
			name   string
			filter store.CallFilter
			want   []*store.Call
		}{
			{"all", store.CallFilter{Limit: 10}, []*store.Call{callB, callC, callA, callD}},
			{"limit", store.CallFilter{Limit: 2}, []*store.Call{callB, callC}},
			{"site", store.CallFilter{SiteID: f.Site.ID, Limit: 10}, []*store.Call{callC, callA}},
			{"outcome", store.CallFilter{Outcome: "missed", Limit: 10}, []*store.Call{callC, callA, callD}},
			{"site and outcome", store.CallFilter{SiteID: site2.ID, Outcome: "missed", Limit: 10}, []*store.Call{callD}},
			{"site and outcome and limit", store.CallFilter{SiteID: f.Site.ID, Outcome: "missed", Limit: 1}, []*store.Call{callC}},
			{"nothing", store.CallFilter{SiteID: site2.ID, Outcome: "in_progress", Limit: 10}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := q.ListCalls(ctx, f.Workspace.ID, tc.filter)
				must(t, err, "ListCalls")
				var gotIDs, wantIDs []string
				for _, c := range got {
					gotIDs = append(gotIDs, c.ID)
				}
				for _, c := range tc.want {
					wantIDs = append(wantIDs, c.ID)
				}
				if fmt.Sprint(gotIDs) != fmt.Sprint(wantIDs) {
					t.Fatalf("ListCalls(%+v) = %v, want %v (A=%s B=%s C=%s D=%s)", tc.filter, gotIDs, wantIDs, callA.ID, callB.ID, callC.ID, callD.ID)
				}
				for i, c := range got {
					want := *tc.want[i]
					want.CreatedAt = t0
					wantCall(t, &c, &want)
				}
			})
		}

		got, err := q.ListCalls(ctx, f.Workspace.ID, store.CallFilter{Limit: 10})
		must(t, err, "ListCalls")
		byID := map[string]store.Call{}
		for _, c := range got {
			byID[c.ID] = c
		}
		labels := map[string]string{callA.ID: f.TrackingNumber.Label, callB.ID: "Flyer", callC.ID: f.TrackingNumber.Label, callD.ID: "Flyer"}
		for id, label := range labels {
			if byID[id].TrackingLabel != label {
				t.Errorf("call %s TrackingLabel = %q, want %q", id, byID[id].TrackingLabel, label)
			}
		}
		if a := byID[callA.ID].Autoreply; a == nil || a.Decision != "sent" || a.Reason != nil || str(a.MessageID) != str(&msg.ID) ||
			a.MessageStatus != "undelivered" || str(a.MessageError) != `"30003 unreachable"` {
			t.Errorf("call A's autoreply = %+v, want sent, message %s undelivered with its error", a, msg.ID)
		}
		if a := byID[callC.ID].Autoreply; a == nil || a.Decision != "skipped" || str(a.Reason) != `"autoresponder_off"` || a.MessageID != nil || a.MessageStatus != "" {
			t.Errorf("call C's autoreply = %+v, want skipped for autoresponder_off without a message", a)
		}
		for _, id := range []string{callB.ID, callD.ID} {
			if a := byID[id].Autoreply; a != nil {
				t.Errorf("call %s has autoreply %+v, want none", id, a)
			}
		}
	})
}

func testAutoreplies(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	f := Seed(t, db)

	t.Run("the first decision stays", func(t *testing.T) {
		c := newCall(f, start)
		insertCall(t, db, c)
		msg := newMessage(f, "autoreply")
		msg.CallID = &c.ID
		must(t, q.InsertMessage(ctx, msg), "InsertMessage")

		decided := clock.Advance(time.Second)
		first := &store.Autoreply{CallID: c.ID, WorkspaceID: f.Workspace.ID, Decision: "skipped", Reason: ptr("insufficient_credits")}
		second := &store.Autoreply{CallID: c.ID, WorkspaceID: f.Workspace.ID, Decision: "sent", MessageID: &msg.ID}
		for i, a := range []*store.Autoreply{first, second} {
			inserted, err := q.InsertAutoreply(ctx, a)
			must(t, err, "InsertAutoreply")
			if want := i == 0; inserted != want {
				t.Errorf("InsertAutoreply #%d = %v, want %v", i+1, inserted, want)
			}
			clock.Advance(time.Second)
		}
		got, err := q.GetAutoreply(ctx, c.ID)
		must(t, err, "GetAutoreply")
		if got.CallID != c.ID || got.WorkspaceID != f.Workspace.ID || got.Decision != "skipped" || str(got.Reason) != `"insufficient_credits"` || got.MessageID != nil {
			t.Errorf("GetAutoreply = %+v, want the first decision %+v", got, first)
		}
		wantInstant(t, "Autoreply.CreatedAt", got.CreatedAt, decided)
	})

	t.Run("racing decisions: exactly one wins", func(t *testing.T) {
		c := newCall(f, start)
		insertCall(t, db, c)
		const n = 10
		var wg sync.WaitGroup
		wins := make(chan int, n)
		for i := range n {
			wg.Go(func() {
				a := &store.Autoreply{CallID: c.ID, WorkspaceID: f.Workspace.ID, Decision: "skipped", Reason: ptr(fmt.Sprint("reason-", i))}
				inserted, err := q.InsertAutoreply(ctx, a)
				if err != nil {
					t.Errorf("InsertAutoreply: %v", err)
				}
				if inserted {
					wins <- i
				}
			})
		}
		wg.Wait()
		close(wins)
		var winners []int
		for i := range wins {
			winners = append(winners, i)
		}
		if len(winners) != 1 {
			t.Fatalf("%d of %d racing InsertAutoreply calls won (%v), want exactly 1", len(winners), n, winners)
		}
		got, err := q.GetAutoreply(ctx, c.ID)
		must(t, err, "GetAutoreply")
		if want := fmt.Sprintf(`"reason-%d"`, winners[0]); str(got.Reason) != want {
			t.Errorf("stored reason %s, want the winner's %s", str(got.Reason), want)
		}
	})

	t.Run("no decision yet is not found", func(t *testing.T) {
		_, err := q.GetAutoreply(ctx, ids.New("call"))
		wantErr(t, err, store.ErrNotFound, "GetAutoreply(unknown)")
	})
}
