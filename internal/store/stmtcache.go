package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"

	"modernc.org/sqlite"
)

// sqliteCachedDriver is modernc's SQLite driver with a per-connection cache
// of prepared statements. modernc prepares every statement it is given as
// text (database/sql's ExecContext/QueryContext on a DB or Tx), and parsing
// SQL was the largest share of the hot path's CPU (SQLite's parser ~38 %
// of a loaded server's profile): with one connection, textback's queries
// and River's are each parsed once per connection instead of once per call.
const sqliteCachedDriver = "sqlite-textback-cached"

// maxCachedStmts bounds each connection's cache; past it, the cache is
// emptied (textback and River use well under a hundred distinct statements).
const maxCachedStmts = 512

func init() {
	sql.Register(sqliteCachedDriver, cachingDriver{&sqlite.Driver{}})
}

type cachingDriver struct{ d driver.Driver }

func (cd cachingDriver) Open(name string) (driver.Conn, error) {
	c, err := cd.d.Open(name)
	if err != nil {
		return nil, err
	}
	return &cachingConn{Conn: c, stmts: map[string]*cachedStmt{}}, nil
}

type cachedStmt struct {
	s    driver.Stmt
	busy bool // rows of it are open: a second use prepares afresh
}

// cachingConn forwards everything to modernc's connection, except that
// single statements run through cached prepared statements. database/sql
// uses a connection from one goroutine at a time, so no lock is needed.
type cachingConn struct {
	driver.Conn
	stmts map[string]*cachedStmt
}

// cacheable says whether a statement is worth caching. modernc prepares a
// single statement once and re-parses a script (several statements) at
// each run, so caching is always correct; a statement that is a script
// (River's sqlc queries carry ";" in their text) gains nothing but loses nothing either.
func cacheable(query string) bool { return query != "" }

func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, bool, error) {
	if cs, ok := c.stmts[query]; ok && !cs.busy {
		return cs, true, nil
	}
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	cs := &cachedStmt{s: s}
	if _, taken := c.stmts[query]; taken {
		return cs, false, nil // the cached one is busy: use this one once
	}
	if len(c.stmts) >= maxCachedStmts {
		c.closeStmts()
	}
	c.stmts[query] = cs
	return cs, true, nil
}

func (c *cachingConn) closeStmts() {
	for q, cs := range c.stmts {
		if !cs.busy {
			cs.s.Close()
		}
		delete(c.stmts, q)
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !cacheable(query) {
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	cs, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if !cached {
		defer cs.s.Close()
	}
	return cs.s.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if !cacheable(query) {
		return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	cs, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := cs.s.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		if !cached {
			cs.s.Close()
		}
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs, cached: cached}, nil
}

func (c *cachingConn) Close() error {
	c.closeStmts()
	return c.Conn.Close()
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *cachingConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *cachingConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

// cachedRows frees its statement for reuse when closed.
type cachedRows struct {
	driver.Rows
	cs     *cachedStmt
	cached bool
	closed bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close() // modernc resets a prepared statement's rows for reuse
	r.cs.busy = false
	if !r.cached {
		r.cs.s.Close()
	}
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
