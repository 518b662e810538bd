// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server is TEXTBACK_TEST_POSTGRES_URL, or else
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable if it answers.
// Each call of NewDatabase creates an empty database
// textback_t_<unix time>_<random> there (dropped when the test ends), so test
// packages and tests can run in parallel; databases left behind by test
// processes that were killed are dropped once they are a day old. Without a server the test is skipped, saying why, unless
// TEXTBACK_TEST_REQUIRE_POSTGRES=1: then it fails (CI sets it, so that
// PostgreSQL tests never pass by not running).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tried when TEXTBACK_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Required says whether an unavailable PostgreSQL must fail the tests.
func Required() bool { return os.Getenv("TEXTBACK_TEST_REQUIRE_POSTGRES") == "1" }

var (
	probeOnce sync.Once
	serverURL string
	probeErr  error
)

// ServerURL returns the PostgreSQL server's admin URL, or skips (fails
// when Required) the test when there is none.
func ServerURL(t testing.TB) string {
	t.Helper()
	probeOnce.Do(func() {
		serverURL = os.Getenv("TEXTBACK_TEST_POSTGRES_URL")
		from := "TEXTBACK_TEST_POSTGRES_URL"
		if serverURL == "" {
			serverURL, from = DefaultURL, "the default "+DefaultURL+" (set TEXTBACK_TEST_POSTGRES_URL to use another)"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			probeErr = fmt.Errorf("no PostgreSQL at %s: %v", from, err)
			return
		}
		defer conn.Close(ctx)
		if err := conn.Ping(ctx); err != nil {
			probeErr = fmt.Errorf("PostgreSQL at %s does not answer: %v", from, err)
			return
		}
		dropLeftovers(ctx, conn)
	})
	if probeErr != nil {
		if Required() {
			t.Fatalf("PostgreSQL is required (TEXTBACK_TEST_REQUIRE_POSTGRES=1) but unavailable: %v", probeErr)
		}
		t.Skipf("skipping a PostgreSQL test: %v", probeErr)
	}
	return serverURL
}

// NewDatabase creates an empty database for t and returns its URL. The
// database is dropped (its connections closed) when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := ServerURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("%s%d_%s", prefix, time.Now().Unix(), hex.EncodeToString(b))
	if err := exec(admin, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// WITH (FORCE) ends whatever connection the test left open.
		if err := exec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping the test database: %v", err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parsing the PostgreSQL URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// WithQuery returns dbURL with query parameter name set to value (for
// instance pool_max_conns).
func WithQuery(t testing.TB, dbURL, name, value string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

const prefix = "textback_t_"

// dropLeftovers drops test databases older than a day: those of test
// processes killed before their cleanup ran.
func dropLeftovers(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, prefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		stamp, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "_")
		created, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil || time.Since(time.Unix(created, 0)) < 24*time.Hour {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

func exec(dbURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
