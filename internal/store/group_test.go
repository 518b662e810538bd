package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback/internal/store"
)

// grpDB is a database with a one-column table, grp, for the group commit's tests.
func grpDB(t *testing.T) *store.DB {
	db := openSQLite(t)
	if _, err := db.SQL.ExecContext(context.Background(), "CREATE TABLE grp (n INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return db
}

// grpRows lists what grp holds.
func grpRows(t *testing.T, db *store.DB) []int {
	rows, err := db.SQL.QueryContext(context.Background(), "SELECT n FROM grp ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ns []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	return ns
}

// Callers that arrive together share one commit, and each keeps its own
// answer: an error or a panic undoes that caller's writes only, a caller
// gone before its turn never runs, and the rest is committed.
func TestGroupCommitKeepsEachCallersAnswer(t *testing.T) {
	ctx := context.Background()
	db := grpDB(t)
	insert := func(ctx context.Context, tx *store.Tx, n int) error {
		_, err := tx.Tx.ExecContext(ctx, "INSERT INTO grp (n) VALUES ($1)", n)
		return err
	}

	// Hold the one read-write connection so that the callers queue up.
	release, held := make(chan struct{}), make(chan struct{})
	go db.InTx(ctx, func(tx *store.Tx) error { close(held); <-release; return nil })
	<-held

	const callers = 30
	errs := make([]error, callers)
	panics := make([]any, callers)
	gone, cancelGone := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var entered atomic.Int32
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			c := ctx
			if i == 11 {
				c = gone
			}
			entered.Add(1)
			errs[i] = db.InGroupTx(c, func(ctx context.Context, tx *store.Tx) error {
				if err := insert(ctx, tx, i); err != nil {
					return err
				}
				switch {
				case i == 7:
					panic("bug in caller 7")
				case i%3 == 0:
					return fmt.Errorf("caller %d refuses", i)
				}
				return nil
			})
		}()
	}
	// While the connection is held the callers queue up (or are taken
	// into the first batch, which waits for the connection too); none of
	// their functions can run before the release. Then the 12th caller goes
	// away: it must never run, whether it was queued or taken.
	for entered.Load() < callers {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancelGone()
	close(release)
	wg.Wait()

	var want []int
	for i := range callers {
		switch {
		case i == 7:
			if panics[i] != "bug in caller 7" {
				t.Errorf("caller 7 got panic %v, want its own", panics[i])
			}
		case i == 11:
			if !errors.Is(errs[i], context.Canceled) {
				t.Errorf("the caller that went away got %v, want context.Canceled", errs[i])
			}
		case i%3 == 0:
			if errs[i] == nil || errs[i].Error() != fmt.Sprintf("caller %d refuses", i) {
				t.Errorf("caller %d got %v, want its own error", i, errs[i])
			}
		default:
			if errs[i] != nil || panics[i] != nil {
				t.Errorf("caller %d got %v / %v", i, errs[i], panics[i])
			}
			want = append(want, i)
		}
	}
	if got := grpRows(t, db); !slices.Equal(got, want) {
		t.Errorf("committed rows %v, want %v", got, want)
	}
	st := db.GroupStats()
	if st.Functions != int64(len(want)) || st.Commits >= st.Functions {
		t.Errorf("group stats %+v: want %d functions in fewer commits", st, len(want))
	}
	t.Logf("%d callers: %d committed in %d commits", callers, st.Functions, st.Commits)
}

// After Close, InGroupTx fails at once and runs nothing.
func TestGroupCommitAfterClose(t *testing.T) {
	db := openSQLite(t)
	db.Close()
	ran := false
	err := db.InGroupTx(context.Background(), func(ctx context.Context, tx *store.Tx) error { ran = true; return nil })
	if err == nil || ran {
		t.Fatalf("InGroupTx after Close: err %v, ran %v", err, ran)
	}
}

// Alone (no load, so no savepoint), a caller's error or panic still undoes
// its writes and leaves the database usable.
func TestGroupCommitAloneRollsBack(t *testing.T) {
	ctx := context.Background()
	db := grpDB(t)
	insert := func(n int) func(ctx context.Context, tx *store.Tx) error {
		return func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.Tx.ExecContext(ctx, "INSERT INTO grp (n) VALUES ($1)", n)
			return err
		}
	}
	refused := errors.New("refused")
	if err := db.InGroupTx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := insert(1)(ctx, tx); err != nil {
			return err
		}
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("got %v, want the caller's own error", err)
	}
	func() {
		defer func() {
			if p := recover(); p != "bug" {
				t.Errorf("got panic %v, want the caller's own", p)
			}
		}()
		_ = db.InGroupTx(ctx, func(ctx context.Context, tx *store.Tx) error {
			_ = insert(2)(ctx, tx)
			panic("bug")
		})
	}()
	if err := db.InGroupTx(ctx, insert(3)); err != nil {
		t.Fatal(err)
	}
	if ns := grpRows(t, db); !slices.Equal(ns, []int{3}) {
		t.Errorf("committed rows %v, want [3]", ns)
	}
}
