package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/store"
)

// newMessage returns a queued 4-credit SMS from f's tracking number, not yet stored.
func newMessage(f Fixture, kind string) *store.Message {
	return &store.Message{ID: ids.New("msg"), WorkspaceID: f.Workspace.ID, SiteID: ptr(f.Site.ID), Kind: kind,
		To: "+14155550123", From: f.TrackingNumber.Number, Body: "Sorry we missed your call, we'll call back within 2 hours.",
		Encoding: "GSM-7", Segments: 1, Credits: 4, Provider: f.TrackingNumber.SMSProvider, Status: "queued"}
}

func getMessage(t *testing.T, db *store.DB, id string) *store.Message {
	t.Helper()
	m, err := db.Q().GetMessage(t.Context(), id)
	must(t, err, "GetMessage")
	return m
}

// wantMessage compares every field; times must be the same instants in UTC.
func wantMessage(t *testing.T, got, want *store.Message) {
	t.Helper()
	g, w := *got, *want
	wantTime(t, "Message.CreatedAt", g.CreatedAt, w.CreatedAt)
	wantTime(t, "Message.UpdatedAt", g.UpdatedAt, w.UpdatedAt)
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("message =\n\t%s\nwant\n\t%s", showMessage(&g), showMessage(&w))
	}
}

func showMessage(m *store.Message) string {
	return fmt.Sprintf("{ID:%s WorkspaceID:%s SiteID:%s CallID:%s Kind:%s To:%s From:%s Body:%q Encoding:%s Segments:%d Credits:%d Provider:%s ProviderMessageID:%s Status:%s Attempts:%d MaybeSent:%v Error:%s}",
		m.ID, m.WorkspaceID, str(m.SiteID), str(m.CallID), m.Kind, m.To, m.From, m.Body, m.Encoding, m.Segments, m.Credits,
		m.Provider, str(m.ProviderMessageID), m.Status, m.Attempts, m.MaybeSent, str(m.Error))
}

func testMessages(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()

	t.Run("every field round-trips", func(t *testing.T) {
		f := Seed(t, db)
		c := newCall(f, start)
		insertCall(t, db, c)

		full := newMessage(f, "autoreply")
		full.CallID, full.Body, full.Encoding, full.Segments = &c.ID, "Désolé, on vous rappelle 🙂 — l’équipe", "UCS-2", 2
		full.ProviderMessageID, full.Status, full.Attempts, full.MaybeSent, full.Error = ptr("SM"+ids.Random(8)), "sending", 3, true, ptr("timeout")
		bare := newMessage(f, "standard")
		bare.SiteID = nil

		for _, m := range []*store.Message{full, bare} {
			at := clock.Advance(time.Second)
			want := *m
			must(t, q.InsertMessage(ctx, m), "InsertMessage")
			want.CreatedAt, want.UpdatedAt = at, at
			wantMessage(t, getMessage(t, db, m.ID), &want)
		}

		got, err := q.MessageByProviderID(ctx, full.Provider, *full.ProviderMessageID)
		must(t, err, "MessageByProviderID")
		wantMessage(t, got, full)
		_, err = q.MessageByProviderID(ctx, "twilio", *full.ProviderMessageID)
		wantErr(t, err, store.ErrNotFound, "MessageByProviderID(another provider)")
		_, err = q.GetMessage(ctx, ids.New("msg"))
		wantErr(t, err, store.ErrNotFound, "GetMessage(unknown)")

		err = db.InTx(ctx, func(tx *store.Tx) error {
			got, err := tx.LockMessage(ctx, bare.ID)
			if err == nil {
				wantMessage(t, got, bare)
			}
			return err
		})
		must(t, err, "LockMessage")
	})

	t.Run("send attempts and outcomes", func(t *testing.T) {
		f := Seed(t, db)
		m := newMessage(f, "autoreply")
		must(t, q.InsertMessage(ctx, m), "InsertMessage")
		want := *m
		pmid := "SM" + ids.Random(8)

		steps := []struct {
			name   string
			do     func() error
			change func(m *store.Message)
		}{
			{"first attempt", func() error { return q.MarkSending(ctx, m.ID) },
				func(m *store.Message) { m.Status, m.Attempts = "sending", 1 }},
			{"attempt failed, maybe sent", func() error { return q.MarkAttemptFailed(ctx, m.ID, "read timeout", true) },
				func(m *store.Message) { m.Error, m.MaybeSent = ptr("read timeout"), true }},
			{"second attempt", func() error { return q.MarkSending(ctx, m.ID) },
				func(m *store.Message) { m.Attempts = 2 }},
			{"attempt failed, certainly not sent: maybe_sent sticks", func() error { return q.MarkAttemptFailed(ctx, m.ID, "503", false) },
				func(m *store.Message) { m.Error = ptr("503") }},
			{"third attempt", func() error { return q.MarkSending(ctx, m.ID) },
				func(m *store.Message) { m.Attempts = 3 }},
			{"accepted", func() error { return q.MarkAccepted(ctx, m.ID, pmid, "sent") },
				func(m *store.Message) { m.Status, m.ProviderMessageID, m.Error = "sent", &pmid, nil }},
			{"no attempt once sent", func() error { return q.MarkSending(ctx, m.ID) },
				func(m *store.Message) {}},
			{"no second acceptance once sent", func() error { return q.MarkAccepted(ctx, m.ID, "SMother", "queued") },
				func(m *store.Message) {}},
			{"undelivered with an error", func() error { return q.SetMessageStatus(ctx, m.ID, "undelivered", ptr("30003")) },
				func(m *store.Message) { m.Status, m.Error = "undelivered", ptr("30003") }},
		}
		for _, s := range steps {
			at := clock.Advance(time.Second)
			must(t, s.do(), s.name)
			before := want
			s.change(&want)
			if !reflect.DeepEqual(before, want) {
				want.UpdatedAt = at
			}
			got := getMessage(t, db, m.ID)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("after %q:\n\tgot  %s updated %s\n\twant %s updated %s", s.name, showMessage(got), got.UpdatedAt, showMessage(&want), want.UpdatedAt)
			}
		}
	})

	t.Run("a status callback without an error keeps the last error", func(t *testing.T) {
		f := Seed(t, db)
		m := newMessage(f, "standard")
		must(t, q.InsertMessage(ctx, m), "InsertMessage")
		must(t, q.MarkSending(ctx, m.ID), "MarkSending")
		must(t, q.MarkAttemptFailed(ctx, m.ID, "read timeout", true), "MarkAttemptFailed")
		at := clock.Advance(time.Second)
		must(t, q.SetMessageStatus(ctx, m.ID, "sent", nil), "SetMessageStatus")
		got := getMessage(t, db, m.ID)
		if got.Status != "sent" || str(got.Error) != `"read timeout"` || !got.MaybeSent {
			t.Errorf("after SetMessageStatus(sent, nil): %s, want sent keeping the error", showMessage(got))
		}
		wantTime(t, "Message.UpdatedAt", got.UpdatedAt, at)
	})

	t.Run("MarkFailed ends a message and records the credits kept", func(t *testing.T) {
		f := Seed(t, db)
		for _, credits := range []int{0, 4} {
			m := newMessage(f, "standard")
			must(t, q.InsertMessage(ctx, m), "InsertMessage")
			must(t, q.MarkSending(ctx, m.ID), "MarkSending")
			at := clock.Advance(time.Second)
			must(t, q.MarkFailed(ctx, m.ID, "rejected: invalid number", credits), "MarkFailed")
			got := getMessage(t, db, m.ID)
			if got.Status != "failed" || str(got.Error) != `"rejected: invalid number"` || got.Credits != credits || got.Attempts != 1 {
				t.Errorf("after MarkFailed(credits=%d): %s", credits, showMessage(got))
			}
			wantTime(t, "Message.UpdatedAt", got.UpdatedAt, at)
			must(t, q.MarkSending(ctx, m.ID), "MarkSending")
			if got := getMessage(t, db, m.ID); got.Status != "failed" || got.Attempts != 1 {
				t.Errorf("MarkSending after failure: status %s attempts %d, want failed 1", got.Status, got.Attempts)
			}
		}
	})

	t.Run("ListMessages filters by kind, newest first", func(t *testing.T) {
		f, other := Seed(t, db), Seed(t, db)
		var auto, std []*store.Message
		for i, kind := range []string{"autoreply", "standard", "autoreply", "standard", "autoreply"} {
			clock.Advance(time.Microsecond)
			m := newMessage(f, kind)
			m.Body = fmt.Sprint("message ", i)
			must(t, q.InsertMessage(ctx, m), "InsertMessage")
			if kind == "autoreply" {
				auto = append([]*store.Message{m}, auto...)
			} else {
				std = append([]*store.Message{m}, std...)
			}
		}
		must(t, q.InsertMessage(ctx, newMessage(other, "autoreply")), "InsertMessage(other workspace)")
		all := []*store.Message{auto[0], std[0], auto[1], std[1], auto[2]}

		cases := []struct {
			filter store.MessageFilter
			want   []*store.Message
		}{
			{store.MessageFilter{Limit: 10}, all},
			{store.MessageFilter{Limit: 2}, all[:2]},
			{store.MessageFilter{Kind: "autoreply", Limit: 10}, auto},
			{store.MessageFilter{Kind: "standard", Limit: 10}, std},
			{store.MessageFilter{Kind: "autoreply", Limit: 2}, auto[:2]},
		}
		for _, tc := range cases {
			got, err := q.ListMessages(ctx, f.Workspace.ID, tc.filter)
			must(t, err, "ListMessages")
			if len(got) != len(tc.want) {
				t.Errorf("ListMessages(%+v) has %d messages, want %d", tc.filter, len(got), len(tc.want))
				continue
			}
			for i := range got {
				wantMessage(t, &got[i], tc.want[i])
			}
		}
	})

	t.Run("CountMessagesSince counts the kind, since the instant, charged only", func(t *testing.T) {
		f, other := Seed(t, db), Seed(t, db)
		insert := func(kind string, credits int) time.Time {
			at := clock.Advance(time.Minute)
			m := newMessage(f, kind)
			m.Credits = credits
			must(t, q.InsertMessage(ctx, m), "InsertMessage")
			return at
		}
		t1 := insert("standard", 4)
		t2 := insert("standard", 4)
		insert("autoreply", 4)
		insert("standard", 0) // refunded: never sent
		t5 := insert("standard", 4)
		// On a whole second, as the first of a month is: "…:00" must sort between "…:59.999999" and "…:00.000001".
		clock.Set(t5.Truncate(time.Minute))
		t6 := insert("autoreply", 4)
		must(t, q.InsertMessage(ctx, newMessage(other, "standard")), "InsertMessage(other workspace)")

		cases := []struct {
			kind  string
			since time.Time
			want  int
		}{
			{"standard", t1.Add(-time.Microsecond), 3},
			{"standard", t1, 3}, // since is inclusive
			{"standard", t1.Add(time.Microsecond), 2},
			{"standard", t2.In(newYork), 2},
			{"standard", t5.Add(time.Microsecond), 0},
			{"autoreply", t1, 2},
			{"autoreply", t5, 1},
			{"autoreply", t6.Add(-time.Microsecond), 1},
			{"autoreply", t6, 1},
			{"autoreply", t6.Add(time.Microsecond), 0},
			{"autoreply", t6.Add(-time.Second), 1},
			{"autoreply", t6.Add(time.Second), 0},
		}
		for _, tc := range cases {
			got, err := q.CountMessagesSince(ctx, f.Workspace.ID, tc.kind, tc.since)
			must(t, err, "CountMessagesSince")
			if got != tc.want {
				t.Errorf("CountMessagesSince(%s, %s) = %d, want %d", tc.kind, tc.since.Format(time.RFC3339Nano), got, tc.want)
			}
		}
	})

	t.Run("a provider message id belongs to one message", func(t *testing.T) {
		f := Seed(t, db)
		pmid := "SM" + ids.Random(8)
		first := newMessage(f, "autoreply")
		first.Provider, first.ProviderMessageID = "twilio", &pmid
		must(t, q.InsertMessage(ctx, first), "InsertMessage")

		dup := newMessage(f, "autoreply")
		dup.Provider, dup.ProviderMessageID = "twilio", &pmid
		if err := q.InsertMessage(ctx, dup); err == nil {
			t.Errorf("InsertMessage with a used (provider, provider message id) succeeded, want an error")
		}
		if _, err := q.GetMessage(ctx, dup.ID); err == nil {
			t.Errorf("the rejected message was stored")
		}

		// MarkAccepted cannot give another message the same id either.
		queued := newMessage(f, "autoreply")
		queued.Provider = "twilio"
		must(t, q.InsertMessage(ctx, queued), "InsertMessage")
		if err := q.MarkAccepted(ctx, queued.ID, pmid, "sent"); err == nil {
			t.Errorf("MarkAccepted with a used provider message id succeeded, want an error")
		}
		if got := getMessage(t, db, queued.ID); got.Status != "queued" || got.ProviderMessageID != nil {
			t.Errorf("after the rejected MarkAccepted: %s, want queued without a provider id", showMessage(got))
		}

		// The same id from another provider, and any number of messages without an id yet, are fine.
		otherProvider := newMessage(f, "autoreply")
		otherProvider.Provider, otherProvider.ProviderMessageID = "simulated", &pmid
		must(t, q.InsertMessage(ctx, otherProvider), "InsertMessage(same id, other provider)")
		for range 2 {
			m := newMessage(f, "standard")
			m.Provider = "twilio"
			must(t, q.InsertMessage(ctx, m), "InsertMessage(no provider id)")
		}
		got, err := q.MessageByProviderID(ctx, "twilio", pmid)
		must(t, err, "MessageByProviderID")
		if got.ID != first.ID {
			t.Errorf("MessageByProviderID = %s, want the first message %s", got.ID, first.ID)
		}
	})
}
