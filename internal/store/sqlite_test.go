package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/store/storetest"
)

// openSQLite opens a migrated SQLite database in a temporary file.
func openSQLite(t testing.TB) *store.DB {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.DB { return openSQLite(t) })
}

func TestInTxPanicRollsBack(t *testing.T) {
	testInTxPanicRollsBack(t, openSQLite(t))
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

// On SQLite, reads outside transactions go to a read-only pool (DB.R): it
// must see every committed write at once (a cached statement left open
// would pin an old snapshot), refuse writes, and never hold up the writer.
func TestSQLiteReadPoolSeesCommitsAndRefusesWrites(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	f := storetest.Seed(t, db)
	for i := range 20 {
		want := fmt.Sprintf("message %d", i)
		if err := db.Q().SetAutoresponderMessage(ctx, f.Site.ID, want, "x"); err != nil {
			t.Fatal(err)
		}
		a, err := db.R().GetAutoresponder(ctx, f.Site.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Message != want {
			t.Fatalf("read pool saw %q after %q was committed", a.Message, want)
		}
	}

	if err := db.R().SetAutoresponderMessage(ctx, f.Site.ID, "through the read pool", "x"); err == nil {
		t.Fatal("a write through the read pool succeeded")
	}

	// A reader with rows open does not stop a write from committing.
	rows, err := db.ReadPool().QueryContext(ctx, "SELECT id FROM workspaces")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := db.Q().SetAutoresponderMessage(wctx, f.Site.ID, "while reading", "x"); err != nil {
		t.Fatalf("a write waited for an open read: %v", err)
	}
}
