package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/store/pgtest"
	"github.com/textback/textback/internal/store/storetest"
)

// openPostgres opens and migrates a fresh PostgreSQL database for t.
func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPostgresConformance(t *testing.T) {
	pgtest.ServerURL(t) // skip (or fail in CI) once, not in every subtest
	storetest.Run(t, openPostgres)
}

func TestPostgresInTxPanicRollsBack(t *testing.T) {
	testInTxPanicRollsBack(t, openPostgres(t))
}

// The migration lock is held for the whole of fn and released after it,
// even when fn fails.
func TestPostgresMigrationLockExcludes(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	a, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.WithMigrationLock(ctx, func(context.Context) error {
			close(inside)
			<-release
			return errors.New("migration failed")
		})
	}()
	<-inside
	entered := make(chan struct{})
	go func() {
		_ = b.WithMigrationLock(ctx, func(context.Context) error { close(entered); return nil })
	}()
	select {
	case <-entered:
		t.Fatal("a second process took the migration lock while the first held it")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-done; err == nil || err.Error() != "migration failed" {
		t.Fatalf("WithMigrationLock returned %v, want fn's error", err)
	}
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the migration lock was not released after fn failed")
	}
}

func TestPostgresURLPoolSize(t *testing.T) {
	url := pgtest.WithQuery(t, pgtest.NewDatabase(t), "pool_max_conns", "3")
	db, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("pool_max_conns in the URL: %v", err)
	}
	defer db.Close()
	if n := db.SQL.Stats().MaxOpenConnections; n != 3 {
		t.Fatalf("MaxOpenConnections = %d, want 3 from pool_max_conns", n)
	}
}
