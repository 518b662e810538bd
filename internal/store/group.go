package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit. On SQLite every write goes through one connection, and a
// commit (writing the transaction's pages to the WAL) costs more than the
// rows it commits. InGroupTx lets the hot path's concurrent transactions
// (the webhooks' call events, the sends' claims and acceptances) share
// commits: one goroutine takes whatever is waiting, runs each caller's
// function inside a SAVEPOINT of one transaction (a batch of one needs
// none), and commits once.
//
// Each caller keeps the answer it would have had alone:
//   - a function that returns an error (or panics) is rolled back to its
//     savepoint; the others in the batch are not affected;
//   - a caller hears "committed" only after the commit; if the commit (or
//     the transaction itself) fails, every caller of the batch gets the
//     error and nothing of the batch is committed;
//   - functions run with a context that is not cancelled with the caller's
//     (a cancellation mid-statement would make SQLite roll back the whole
//     transaction); a caller that is gone before its turn is skipped.
//
// On PostgreSQL (a pool of connections, and commit_delay for grouping) it
// is InTx.

// maxGroup bounds the transactions committed together.
const maxGroup = 64

// ErrClosed is returned by InGroupTx once the database is closed.
var ErrClosed = errors.New("the database is closed")

type groupCommitter struct {
	db   *DB
	reqs chan *groupReq
	quit chan struct{}
	done chan struct{}
	once sync.Once

	commits atomic.Int64 // transactions committed by the group
	grouped atomic.Int64 // callers' functions committed in them
}

type groupReq struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx *Tx) error
	err   error
	panic any
	done  chan struct{}
}

func newGroupCommitter(db *DB) *groupCommitter {
	g := &groupCommitter{db: db, reqs: make(chan *groupReq, maxGroup), quit: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

// InGroupTx runs fn in a write transaction that, on SQLite, may be shared
// with other callers' functions (see group commit above). fn must use the
// context it is given.
func (db *DB) InGroupTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	if db.group == nil {
		return db.InTx(ctx, func(tx *Tx) error { return fn(ctx, tx) })
	}
	return db.group.run(ctx, fn)
}

func (g *groupCommitter) run(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.quit:
		return ErrClosed
	}
	select {
	case <-r.done: // waited for even if ctx ends: fn may be running
	case <-g.done:
		select {
		case <-r.done:
		default:
			return ErrClosed // queued as the database closed: never ran
		}
	}
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.quit) })
	<-g.done
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	for {
		var batch []*groupReq
		select {
		case r := <-g.reqs:
			batch = append(batch, r)
		case <-g.quit:
			g.drain()
			return
		}
	more:
		for len(batch) < maxGroup {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		g.commit(batch)
	}
}

// drain answers the callers that were waiting when the database closed.
func (g *groupCommitter) drain() {
	for {
		select {
		case r := <-g.reqs:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// commit runs a batch in one transaction and answers every caller.
func (g *groupCommitter) commit(batch []*groupReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	sqltx, err := g.db.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("error starting transaction: %w", err)
		}
		return
	}
	tx := &Tx{Queries: &Queries{q: sqltx, d: &g.db.Dialect, now: g.db.now}, Tx: sqltx}
	var ran []*groupReq // functions that succeeded: committed with the batch
	abort := func(err error) {
		_ = sqltx.Rollback()
		for _, r := range batch {
			if r.err == nil && r.panic == nil {
				r.err = err
			}
		}
	}
	// A batch of one (no load) needs no savepoint: its failure rolls back
	// the transaction, as InTx would.
	savepoints := len(batch) > 1
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // the caller is gone: its function never ran
			continue
		}
		ctx := context.WithoutCancel(r.ctx)
		if !savepoints {
			if r.err, r.panic = call(ctx, r.fn, tx); r.err != nil || r.panic != nil {
				_ = sqltx.Rollback()
				return
			}
			ran = append(ran, r)
			continue
		}
		if _, err := sqltx.ExecContext(ctx, "SAVEPOINT textback_group"); err != nil {
			abort(fmt.Errorf("error starting transaction: %w", err))
			return
		}
		r.err, r.panic = call(ctx, r.fn, tx)
		if r.err != nil || r.panic != nil {
			// Undo this function's writes only. If SQLite has rolled back
			// the whole transaction (a full disk), this fails: abort all.
			if _, err := sqltx.ExecContext(ctx, "ROLLBACK TO textback_group"); err != nil {
				abort(fmt.Errorf("error in transaction: %w", err))
				return
			}
		}
		if _, err := sqltx.ExecContext(ctx, "RELEASE textback_group"); err != nil {
			abort(fmt.Errorf("error in transaction: %w", err))
			return
		}
		if r.err == nil && r.panic == nil {
			ran = append(ran, r)
		}
	}
	if len(ran) == 0 {
		_ = sqltx.Rollback() // nothing to commit
		return
	}
	if err := sqltx.Commit(); err != nil {
		for _, r := range ran {
			r.err = fmt.Errorf("error committing: %w", err)
		}
		return
	}
	g.commits.Add(1)
	g.grouped.Add(int64(len(ran)))
}

// call runs fn, turning a panic into a value to re-panic in the caller.
func call(ctx context.Context, fn func(ctx context.Context, tx *Tx) error, tx *Tx) (err error, p any) {
	defer func() {
		if v := recover(); v != nil {
			p = v
		}
	}()
	return fn(ctx, tx), nil
}

// GroupStats are the group commit's counts since the database was opened.
type GroupStats struct {
	Commits   int64 // transactions committed
	Functions int64 // callers' functions committed in them
}

// GroupStats reports the group commit's counts (zero on PostgreSQL).
func (db *DB) GroupStats() GroupStats {
	if db.group == nil {
		return GroupStats{}
	}
	return GroupStats{Commits: db.group.commits.Load(), Functions: db.group.grouped.Load()}
}
