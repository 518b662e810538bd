package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.DB {
		ctx := t.Context()
		db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestInTxPanicRollsBack(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	testInTxPanicRollsBack(t, db)
}

func testInTxPanicRollsBack(t *testing.T, db *store.DB) {
	ctx := context.Background()
	f := storetest.Seed(t, db)
	func() {
		defer func() { _ = recover() }()
		_ = db.InTx(ctx, func(tx *store.Tx) error {
			_ = tx.SetAutoresponderMessage(ctx, f.Site.ID, "half-done", "x")
			panic("bug")
		})
	}()
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := db.Ping(qctx); err != nil {
		t.Fatalf("after a panic inside InTx the database does not answer: %v", err)
	}
	if a, _ := db.Q().GetAutoresponder(ctx, f.Site.ID); a.Message == "half-done" {
		t.Fatal("the panicking transaction was committed")
	}
}
