package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

var postgresDialect = Dialect{
	Name:      "postgres",
	ForUpdate: " FOR UPDATE",
	goose:     goose.DialectPostgres,
	isUnique: func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && pgErr.Code == "23505" // unique_violation
	},
}

// DefaultPoolSize is the most connections one textback process opens for
// its own queries on PostgreSQL, unless the URL sets pool_max_conns. The job
// queue has a small pool of its own (see service.NewRiverQueue).
const DefaultPoolSize = 20

// IsPostgresURL says whether url names a PostgreSQL database.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	// pgxpool's parser understands (and removes) pool_max_conns and the
	// other pool_* settings, which PostgreSQL itself would refuse.
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("error parsing the database URL: %w", redactErr(err, rawURL))
	}
	size := DefaultPoolSize
	if u, err := url.Parse(rawURL); err == nil && u.Query().Has("pool_max_conns") {
		size = int(cfg.MaxConns)
	}
	conn := cfg.ConnConfig
	conn.RuntimeParams["timezone"] = "UTC"
	sqldb := stdlib.OpenDB(*conn, stdlib.OptionAfterConnect(scanTimesInUTC))
	sqldb.SetMaxOpenConns(size)
	sqldb.SetMaxIdleConns(size)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	sqldb.SetConnMaxLifetime(time.Hour)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("error connecting to PostgreSQL at %s: %w", redact(rawURL), err)
	}
	return &DB{SQL: sqldb, Dialect: postgresDialect, Now: time.Now, pgURL: rawURL}, nil
}

// scanTimesInUTC makes TIMESTAMPTZ values come back in UTC, as they do
// from SQLite, rather than in the process's local zone.
func scanTimesInUTC(_ context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
	return nil
}

// NewPgxPool opens a pgx pool of at most maxConns connections on the same
// PostgreSQL database, for River's pgx driver (LISTEN/NOTIFY, fetching and
// completing jobs). The caller closes it.
func (db *DB) NewPgxPool(ctx context.Context, maxConns int32) (*pgxpool.Pool, error) {
	if db.pgURL == "" {
		return nil, errors.New("not a PostgreSQL database")
	}
	cfg, err := pgxpool.ParseConfig(db.pgURL)
	if err != nil {
		return nil, redactErr(err, db.pgURL)
	}
	cfg.MaxConns, cfg.MinConns = maxConns, 0
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("error connecting to PostgreSQL at %s: %w", redact(db.pgURL), err)
	}
	return pool, nil
}

// migrationLockKey names the advisory lock under which migrations run
// ("textback" in ASCII).
const migrationLockKey int64 = 0x746578746261636b

// WithMigrationLock runs fn while holding a lock that other textback
// processes on the same database also take before migrating: when several
// replicas start together, one migrates and the others wait, then find
// nothing left to do. On PostgreSQL it is a transaction-level advisory
// lock, taken on a connection of its own (outside the pool, which fn's
// migrations use however small it is) and released when that transaction
// ends or its connection drops: a process killed mid-migration does not
// leave it held. SQLite is one file on one machine: fn simply runs.
func (db *DB) WithMigrationLock(ctx context.Context, fn func(ctx context.Context) error) error {
	if db.Dialect.Name != postgresDialect.Name {
		return fn(ctx)
	}
	cfg, err := pgxpool.ParseConfig(db.pgURL)
	if err != nil {
		return redactErr(err, db.pgURL)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("error connecting for the migration lock: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("error starting the migration lock's transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // the transaction only holds the lock
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("error taking the migration lock: %w", err)
	}
	return fn(ctx)
}

// redact hides the password of a database URL, for messages and logs.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// redactErr keeps the password out of pgx's parse errors, which quote the
// connection string.
func redactErr(err error, rawURL string) error {
	if u, perr := url.Parse(rawURL); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
		}
	}
	return err
}
