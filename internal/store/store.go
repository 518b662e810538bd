// Package store keeps textback's state in SQL. The queries are plain SQL with
// $N placeholders shared by SQLite and PostgreSQL; what differs between the
// two (drivers, migrations, row locks, error codes) lives in Dialect.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Sentinel errors; callers test them with errors.Is.
var (
	ErrNotFound            = errors.New("not found")
	ErrConflict            = errors.New("already exists")
	ErrInsufficientCredits = errors.New("insufficient credits")
)

//go:embed migrations
var migrations embed.FS

// Dialect is what differs between the databases textback runs on.
type Dialect struct {
	Name      string // "sqlite" or "postgres"
	ForUpdate string // row-lock suffix for SELECT inside a write transaction
	goose     goose.Dialect
	isUnique  func(error) bool
}

var sqliteDialect = Dialect{
	Name:      "sqlite",
	ForUpdate: "", // SQLite transactions are BEGIN IMMEDIATE: the whole database is locked for writing
	goose:     goose.DialectSQLite3,
	isUnique: func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
	},
}

// DB is textback's database handle.
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
	Path    string // the file, for SQLite
	Now     func() time.Time

	pgURL string // the connection URL, for PostgreSQL: the queue opens its own pgx pool on it

	// read is SQLite's read-only pool (see R); nil on PostgreSQL.
	read *sql.DB
	// group commits the hot path's transactions together on SQLite
	// (group.go); nil on PostgreSQL.
	group *groupCommitter
}

// readConns is the size of SQLite's read-only pool. In WAL mode readers
// never wait for the writer, so reads outside transactions do not queue
// behind writes on the one read-write connection.
const readConns = 4

// Open connects to the database named by url: "sqlite:PATH" (or a bare
// path) or "postgres://..." (also "postgresql://...").
func Open(ctx context.Context, url string) (*DB, error) {
	if IsPostgresURL(url) {
		return openPostgres(ctx, url)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "sqlite:")
	if path == "" {
		return nil, fmt.Errorf("database url %q names no file", url)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sqldb, err := sql.Open(sqliteCachedDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("error opening %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and River's SQLite driver
	// needs it to avoid SQLITE_BUSY between its own goroutines.
	sqldb.SetMaxOpenConns(1)
	sqldb.SetConnMaxIdleTime(0)
	sqldb.SetConnMaxLifetime(0)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, explainOpen(path, err)
	}
	// The read-only pool: query_only makes any write on it fail, so a
	// statement sent there by mistake cannot bypass the one writer.
	readDSN := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
	read, err := sql.Open(sqliteCachedDriver, readDSN)
	if err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("error opening %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	read.SetConnMaxIdleTime(0)
	read.SetConnMaxLifetime(0)
	db := &DB{SQL: sqldb, Dialect: sqliteDialect, Path: path, Now: time.Now, read: read}
	db.group = newGroupCommitter(db)
	return db, nil
}

// Close closes the pools.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	if db.read != nil {
		db.read.Close()
	}
	return db.SQL.Close()
}

// Migrate applies textback's own migrations (River's are applied by the
// queue). When several processes may start together, run it inside
// WithMigrationLock.
func (db *DB) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+db.Dialect.Name)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(db.Dialect.goose, db.SQL, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("error loading migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("error migrating: %w", err)
	}
	return nil
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.SQL.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Tx is one database transaction with textback's queries on it.
type Tx struct {
	*Queries
	Tx *sql.Tx
}

// InTx runs fn in a transaction, committing when it returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqltx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("error starting transaction: %w", err)
	}
	tx := &Tx{Queries: &Queries{q: sqltx, d: &db.Dialect, now: db.now}, Tx: sqltx}
	defer func() {
		if p := recover(); p != nil {
			_ = sqltx.Rollback() // never leave the one SQLite connection inside a transaction
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = sqltx.Rollback()
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("error committing: %w", err)
	}
	return nil
}

// Q returns the queries outside a transaction (each statement on its own).
func (db *DB) Q() *Queries { return &Queries{q: db.SQL, d: &db.Dialect, now: db.now} }

// R returns the queries for reads outside a transaction. On SQLite they
// run on a read-only pool, so that the hot path's lookups (a webhook's
// workspace and signing secret, a message about to be sent) do not wait
// for the one read-write connection; they see every committed write. On
// PostgreSQL it is Q. A write through R fails.
func (db *DB) R() *Queries {
	if db.read == nil {
		return db.Q()
	}
	return &Queries{q: db.read, d: &db.Dialect, now: db.now}
}

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Queries are textback's statements, run on a pool or in a transaction.
type Queries struct {
	q   querier
	d   *Dialect
	now func() time.Time
}

func (q *Queries) uniqueErr(err error, what string) error {
	if q.d.isUnique(err) {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return err
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

// nullTime helps scanning nullable timestamps.
func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

func strPtr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func nullStr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
