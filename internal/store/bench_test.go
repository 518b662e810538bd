package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/textback/textback/internal/store"
)

// BenchmarkApplyLedgerTx is one committed 4-credit debit on SQLite (WAL,
// synchronous=NORMAL, textback's DSN and its statement cache): the
// conditional balance update and the ledger entry, in a transaction.
func BenchmarkApplyLedgerTx(b *testing.B) {
	ctx := context.Background()
	db := openSQLite(b)
	ws := &store.Workspace{ID: "ws_bench", Name: "Bench", TimeZone: "UTC", MonthlySMSLimit: 200, WebhookSecret: "s", WebhookToken: "t"}
	if err := db.Q().CreateWorkspace(ctx, ws); err != nil {
		b.Fatal(err)
	}
	topUp := &store.LedgerEntry{ID: "led_top", WorkspaceID: ws.ID, Delta: 1 << 30, Reason: store.ReasonTopUp, Reference: "bench", IdempotencyKey: "top_up:bench"}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.ApplyLedger(ctx, topUp) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		e := &store.LedgerEntry{ID: fmt.Sprintf("led_%d", i), WorkspaceID: ws.ID, Delta: -4, Reason: store.ReasonAutoreply,
			Reference: "msg", IdempotencyKey: fmt.Sprintf("autoreply:%d", i)}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.ApplyLedger(ctx, e) }); err != nil {
			b.Fatal(err)
		}
	}
}
