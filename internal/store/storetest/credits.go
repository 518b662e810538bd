package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/store"
)

// applyInTx applies e in its own transaction, as the service does.
func applyInTx(t *testing.T, db *store.DB, e *store.LedgerEntry) error {
	t.Helper()
	return db.InTx(t.Context(), func(tx *store.Tx) error { return tx.ApplyLedger(t.Context(), e) })
}

func entry(workspaceID string, delta int, reason, key string) *store.LedgerEntry {
	return &store.LedgerEntry{ID: ids.New("led"), WorkspaceID: workspaceID, Delta: delta, Reason: reason, IdempotencyKey: key}
}

// wantCredits checks the balance, the sum of the ledger and its number of entries.
func wantCredits(t *testing.T, db *store.DB, workspaceID string, balance, entries int) {
	t.Helper()
	ctx := t.Context()
	got, err := db.Q().Balance(ctx, workspaceID)
	must(t, err, "Balance")
	sum, err := db.Q().LedgerSum(ctx, workspaceID)
	must(t, err, "LedgerSum")
	list, err := db.Q().ListLedger(ctx, workspaceID, 1000)
	must(t, err, "ListLedger")
	if got != balance || sum != balance || len(list) != entries {
		t.Errorf("balance %d, ledger sum %d, %d entries; want balance = sum = %d, %d entries", got, sum, len(list), balance, entries)
	}
}

func testLedger(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	f, other := Seed(t, db), Seed(t, db)
	ws := f.Workspace.ID
	var applied []store.LedgerEntry // what the workspace's ledger must hold, oldest first

	// apply applies e a second after the previous entry and checks its balance after.
	apply := func(t *testing.T, e *store.LedgerEntry, wantAfter int) {
		t.Helper()
		at := clock.Advance(time.Second)
		must(t, applyInTx(t, db, e), fmt.Sprintf("ApplyLedger(%+d, %s)", e.Delta, e.IdempotencyKey))
		if e.BalanceAfter != wantAfter {
			t.Errorf("ApplyLedger(%+d, %s): BalanceAfter = %d, want %d", e.Delta, e.IdempotencyKey, e.BalanceAfter, wantAfter)
		}
		wantInstant(t, "LedgerEntry.CreatedAt", e.CreatedAt, at)
		applied = append(applied, *e)
	}

	t.Run("a debit from zero is refused", func(t *testing.T) {
		err := applyInTx(t, db, entry(ws, -4, store.ReasonAutoreply, "autoreply:call-0"))
		wantErr(t, err, store.ErrInsufficientCredits, "ApplyLedger(-4) at 0")
		wantCredits(t, db, ws, 0, 0)
	})

	t.Run("top-up then debits", func(t *testing.T) {
		topUp := entry(ws, 10, store.ReasonTopUp, "topup:1")
		topUp.Reference = "invoice 2025-001"
		apply(t, topUp, 10)
		debit := entry(ws, -4, store.ReasonAutoreply, "autoreply:call-1")
		debit.CallID, debit.MessageID = ptr(ids.New("call")), ptr(ids.New("msg"))
		apply(t, debit, 6)
		apply(t, entry(ws, -4, store.ReasonStandardSMS, "sms:1"), 2)
		wantCredits(t, db, ws, 2, 3)
	})

	t.Run("a debit beyond the balance changes nothing", func(t *testing.T) {
		for _, delta := range []int{-4, -3} {
			err := applyInTx(t, db, entry(ws, delta, store.ReasonAutoreply, fmt.Sprint("autoreply:beyond", delta)))
			wantErr(t, err, store.ErrInsufficientCredits, fmt.Sprintf("ApplyLedger(%d) at 2", delta))
			// Outside a transaction too.
			err = q.ApplyLedger(ctx, entry(ws, delta, store.ReasonAutoreply, fmt.Sprint("autoreply:beyond-notx", delta)))
			wantErr(t, err, store.ErrInsufficientCredits, fmt.Sprintf("ApplyLedger(%d) at 2 outside a transaction", delta))
		}
		wantCredits(t, db, ws, 2, 3)
		// The refused keys were not used up.
		apply(t, entry(ws, 100, store.ReasonTopUp, "topup:2"), 102)
		apply(t, entry(ws, -4, store.ReasonAutoreply, "autoreply:beyond-4"), 98)
	})

	t.Run("an idempotency key is used once", func(t *testing.T) {
		for _, e := range []*store.LedgerEntry{
			entry(ws, 10, store.ReasonTopUp, "topup:1"),
			entry(ws, -4, store.ReasonAutoreply, "autoreply:call-1"),
			entry(ws, 4, store.ReasonRefund, "sms:1"),
		} {
			err := applyInTx(t, db, e)
			wantErr(t, err, store.ErrConflict, fmt.Sprintf("ApplyLedger(%+d, used key %s)", e.Delta, e.IdempotencyKey))
		}
		wantCredits(t, db, ws, 98, len(applied))

		// Keys are per workspace.
		must(t, applyInTx(t, db, entry(other.Workspace.ID, 10, store.ReasonTopUp, "topup:1")), "ApplyLedger(another workspace, same key)")
		wantCredits(t, db, other.Workspace.ID, 10, 1)
	})

	t.Run("the ledger adds up to the balance", func(t *testing.T) {
		steps := []struct {
			delta  int
			reason string
			after  int
		}{
			{4, store.ReasonRefund, 102},
			{-3, store.ReasonAdjustment, 99},
			{-99, store.ReasonAdjustment, 0},
			{40, store.ReasonTopUp, 40},
			{-4, store.ReasonStandardSMS, 36},
			{1, store.ReasonAdjustment, 37},
		}
		for i, s := range steps {
			apply(t, entry(ws, s.delta, s.reason, fmt.Sprint("mixed:", i)), s.after)
		}
		wantCredits(t, db, ws, 37, len(applied))
	})

	t.Run("ListLedger lists newest first with a limit", func(t *testing.T) {
		for _, limit := range []int{1, 3, len(applied), len(applied) + 5} {
			got, err := q.ListLedger(ctx, ws, limit)
			must(t, err, "ListLedger")
			want := slices.Clone(applied)
			slices.Reverse(want)
			want = want[:min(limit, len(want))]
			if len(got) != len(want) {
				t.Fatalf("ListLedger(limit %d) has %d entries, want %d", limit, len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				wantTime(t, "LedgerEntry.CreatedAt", g.CreatedAt, w.CreatedAt)
				if g.ID != w.ID || g.WorkspaceID != w.WorkspaceID || g.Delta != w.Delta || g.BalanceAfter != w.BalanceAfter || g.Reason != w.Reason ||
					g.Reference != w.Reference || str(g.CallID) != str(w.CallID) || str(g.MessageID) != str(w.MessageID) || g.IdempotencyKey != w.IdempotencyKey {
					t.Errorf("ListLedger(limit %d)[%d] = %+v, want %+v", limit, i, g, w)
				}
			}
		}
	})

	t.Run("an unknown workspace is not found", func(t *testing.T) {
		for _, delta := range []int{10, -4} {
			err := applyInTx(t, db, entry(ids.New("ws"), delta, store.ReasonTopUp, "unknown"))
			wantErr(t, err, store.ErrNotFound, fmt.Sprintf("ApplyLedger(%+d, unknown workspace)", delta))
		}
	})
}

func testConcurrentDebits(t *testing.T, db *store.DB) {
	const (
		credits = 120
		debits  = 50
		cost    = 4
	)
	ctx := t.Context()
	UseClock(db, start)
	f := Seed(t, db)
	ws := f.Workspace.ID
	must(t, applyInTx(t, db, entry(ws, credits, store.ReasonTopUp, "topup")), "ApplyLedger(top-up)")

	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		ok, insufficient  int
		unexpected        []error
		startLine         = make(chan struct{})
		negativeBalances  []int
		debitBalanceAfter []int
	)
	for i := range debits {
		wg.Go(func() {
			<-startLine
			e := entry(ws, -cost, store.ReasonAutoreply, fmt.Sprint("autoreply:", i))
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if err := tx.ApplyLedger(ctx, e); err != nil {
					return err
				}
				b, err := tx.Balance(ctx, ws) // what this transaction sees after its debit
				if err == nil && b < 0 {
					mu.Lock()
					negativeBalances = append(negativeBalances, b)
					mu.Unlock()
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				debitBalanceAfter = append(debitBalanceAfter, e.BalanceAfter)
			case errors.Is(err, store.ErrInsufficientCredits):
				insufficient++
			default:
				unexpected = append(unexpected, err)
			}
		})
	}
	close(startLine)
	wg.Wait()

	if len(unexpected) > 0 {
		t.Errorf("%d debits failed unexpectedly, first: %v", len(unexpected), unexpected[0])
	}
	if ok != credits/cost || insufficient != debits-credits/cost {
		t.Errorf("%d debits succeeded and %d were refused for insufficient credits; want %d and %d", ok, insufficient, credits/cost, debits-credits/cost)
	}
	if len(negativeBalances) > 0 {
		t.Errorf("a transaction saw a negative balance: %v", negativeBalances)
	}
	wantCredits(t, db, ws, 0, 1+credits/cost)

	// Every successful debit left a different balance: 116, 112, ..., 0.
	var want []int
	for b := credits - cost; b >= 0; b -= cost {
		want = append(want, b)
	}
	slices.Sort(debitBalanceAfter)
	slices.Sort(want)
	if !slices.Equal(debitBalanceAfter, want) {
		t.Errorf("debits' BalanceAfter = %v, want each of %v once", debitBalanceAfter, want)
	}
	list, err := db.Q().ListLedger(ctx, ws, 1000)
	must(t, err, "ListLedger")
	var stored []int
	for _, e := range list {
		if e.BalanceAfter < 0 {
			t.Errorf("ledger entry %s has a negative balance after: %d", e.ID, e.BalanceAfter)
		}
		if e.Delta == -cost {
			stored = append(stored, e.BalanceAfter)
		}
	}
	slices.Sort(stored)
	if !slices.Equal(stored, want) {
		t.Errorf("stored debits' balance after = %v, want each of %v once", stored, want)
	}
}

func testCreditsUsedSince(t *testing.T, db *store.DB) {
	ctx := t.Context()
	clock := UseClock(db, start)
	q := db.Q()
	f, other := Seed(t, db), Seed(t, db)
	ws := f.Workspace.ID
	must(t, applyInTx(t, db, entry(ws, 100, store.ReasonTopUp, "top-up")), "top-up")

	// spend stores a message now and debits it, as the service does.
	at := map[string]time.Time{}
	spend := func(fx Fixture, name, kind, reason string) *store.Message {
		at[name] = clock.Advance(time.Minute)
		m := newMessage(fx, kind)
		must(t, q.InsertMessage(ctx, m), "InsertMessage("+name+")")
		e := entry(fx.Workspace.ID, -4, reason, "debit:"+m.ID)
		e.MessageID = &m.ID
		must(t, applyInTx(t, db, e), "ApplyLedger("+name+")")
		return m
	}
	refund := func(m *store.Message) {
		clock.Advance(time.Minute)
		e := entry(m.WorkspaceID, 4, store.ReasonRefund, "refund:"+m.ID)
		e.MessageID = &m.ID
		must(t, applyInTx(t, db, e), "ApplyLedger(refund)")
	}
	spend(f, "autoreply", "autoreply", store.ReasonAutoreply)
	std := spend(f, "standard", "standard", store.ReasonStandardSMS)
	refund(std) // rejected by the provider: it costs nothing
	at["second top-up"] = clock.Advance(time.Minute)
	must(t, applyInTx(t, db, entry(ws, 50, store.ReasonTopUp, "second top-up")), "second top-up")
	late := spend(f, "second autoreply", "autoreply", store.ReasonAutoreply)
	at["adjustment"] = clock.Advance(time.Minute)
	must(t, applyInTx(t, db, entry(ws, -10, store.ReasonAdjustment, "adjustment")), "adjustment")
	// Another workspace's spending does not count.
	must(t, applyInTx(t, db, entry(other.Workspace.ID, 8, store.ReasonTopUp, "t")), "ApplyLedger(other)")
	spend(other, "other", "standard", store.ReasonStandardSMS)

	cases := []struct {
		since time.Time
		want  int
	}{
		{start, 8},           // 4 + 4 - 4 + 4; top-ups and adjustments are not spending
		{at["autoreply"], 8}, // since is inclusive
		{at["autoreply"].Add(time.Microsecond), 4},
		{at["standard"].In(newYork), 4},           // any time zone
		{at["standard"].Truncate(time.Second), 4}, // a whole second, as the first of a month is
		{at["second top-up"], 4},
		{at["adjustment"], 0},
		{at["adjustment"].Add(time.Hour), 0},
	}
	for _, c := range cases {
		got, err := q.CreditsUsedSince(ctx, ws, c.since)
		must(t, err, "CreditsUsedSince")
		if got != c.want {
			t.Errorf("CreditsUsedSince(%s) = %d, want %d", c.since.Format(time.RFC3339Nano), got, c.want)
		}
	}
	// A message of last month refunded this month: the refund belongs to
	// its message's month, so this month's figure does not go negative.
	refund(late)
	if got, err := q.CreditsUsedSince(ctx, ws, at["adjustment"]); err != nil || got != 0 {
		t.Errorf("after refunding an earlier month's message: CreditsUsedSince = %d, %v; want 0", got, err)
	}
}
