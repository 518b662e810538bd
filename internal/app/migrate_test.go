package app_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/textback/textback/internal/app"
	"github.com/textback/textback/internal/store/pgtest"
)

// Replicas that start together all migrate at once (textback's tables and
// River's): every one must succeed, and each migration be applied once.
func TestPostgresReplicasMigrateTogether(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const replicas = 6
	start := make(chan struct{})
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			db, err := app.Migrate(t.Context(), url)
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("replicas migrating together failed: %v", err)
	}
	db, err := app.Migrate(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`SELECT COUNT(*) - COUNT(DISTINCT version_id) FROM goose_db_version`,
		`SELECT COUNT(*) - COUNT(DISTINCT (line, version)) FROM river_migration`,
	} {
		var dupes int
		if err := db.SQL.QueryRowContext(t.Context(), q).Scan(&dupes); err != nil {
			t.Fatal(err)
		}
		if dupes != 0 {
			t.Errorf("%s = %d: a migration was applied more than once", q, dupes)
		}
	}
}

// The lock does not take a connection of the pool the migrations need.
func TestPostgresMigratesWithOneConnection(t *testing.T) {
	db, err := app.Migrate(t.Context(), pgtest.WithQuery(t, pgtest.NewDatabase(t), "pool_max_conns", "1"))
	if err != nil {
		t.Fatalf("migrating with pool_max_conns=1: %v", err)
	}
	db.Close()
}
