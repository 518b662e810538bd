package loadtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/textback/textback/internal/store"
)

// LimitResult is the bare commit rate of the hot path's writes.
type LimitResult struct {
	Database      string  `json:"database"`
	Writers       int     `json:"writers"`
	Transactions  int     `json:"transactions"`
	Seconds       float64 `json:"seconds"`
	CommitsPerSec float64 `json:"commits_per_second"`
	MeanCommitMS  float64 `json:"mean_transaction_ms"`
	RowsPerTx     int     `json:"rows_per_transaction"`
	Synchronous   string  `json:"synchronous,omitempty"` // SQLite's PRAGMA synchronous as measured
}

// limitSchema mirrors the widths of the rows the hot path writes, in
// tables of the limit's own (dropped afterwards).
var limitSchema = []string{
	`CREATE TABLE IF NOT EXISTS loadlimit_calls (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, tracking_number TEXT NOT NULL,
		provider TEXT NOT NULL, provider_call_id TEXT NOT NULL, caller TEXT, outcome TEXT NOT NULL, started_at TEXT NOT NULL,
		created_at TEXT NOT NULL, UNIQUE (provider, provider_call_id))`,
	`CREATE TABLE IF NOT EXISTS loadlimit_balance (workspace_id TEXT PRIMARY KEY, credits BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS loadlimit_ledger (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, delta INTEGER NOT NULL,
		balance_after BIGINT NOT NULL, reason TEXT NOT NULL, reference TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS loadlimit_messages (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, call_id TEXT, kind TEXT NOT NULL,
		to_number TEXT NOT NULL, from_number TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS loadlimit_autoreplies (call_id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, decision TEXT NOT NULL,
		message_id TEXT, created_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS loadlimit_jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, args TEXT NOT NULL, state TEXT NOT NULL,
		queue TEXT NOT NULL, scheduled_at TEXT NOT NULL, created_at TEXT NOT NULL)`,
}

var limitDrop = []string{"loadlimit_calls", "loadlimit_balance", "loadlimit_ledger", "loadlimit_messages", "loadlimit_autoreplies", "loadlimit_jobs"}

// MeasureLimit opens databaseURL exactly as textback does (same pragmas,
// same pool) and commits, for d, transactions that write what a missed
// call writes: the call, a ledger entry and the balance update, the
// message, the autoreply and a job row; no HTTP, no reads, no logic. On
// SQLite one writer (textback has one connection); on PostgreSQL `writers`
// concurrent ones.
func MeasureLimit(ctx context.Context, databaseURL string, d time.Duration, writers int) (*LimitResult, error) {
	return MeasureLimitSync(ctx, databaseURL, d, writers, "")
}

// MeasureLimitSync is MeasureLimit with SQLite's synchronous setting
// changed for the measurement ("FULL", "NORMAL"; "" keeps textback's).
func MeasureLimitSync(ctx context.Context, databaseURL string, d time.Duration, writers int, synchronous string) (*LimitResult, error) {
	db, err := store.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	pg := db.Dialect.Name == "postgres"
	if synchronous != "" && !pg {
		// One connection: the pragma holds for every transaction below.
		if _, err := db.SQL.ExecContext(ctx, "PRAGMA synchronous = "+map[string]string{"FULL": "FULL", "NORMAL": "NORMAL", "OFF": "OFF", "EXTRA": "EXTRA"}[synchronous]); err != nil {
			return nil, err
		}
	}
	schema := append([]string(nil), limitSchema...)
	if pg {
		schema[5] = `CREATE TABLE IF NOT EXISTS loadlimit_jobs (id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, args TEXT NOT NULL, state TEXT NOT NULL,
		queue TEXT NOT NULL, scheduled_at TEXT NOT NULL, created_at TEXT NOT NULL)`
	} else {
		writers = 1
	}
	if writers <= 0 {
		writers = 1
	}
	for _, q := range schema {
		if _, err := db.SQL.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("limit schema: %w", err)
		}
	}
	defer func() {
		for _, t := range limitDrop {
			_, _ = db.SQL.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+t)
		}
	}()
	res := &LimitResult{Database: db.Dialect.Name, Writers: writers, RowsPerTx: 6}
	if !pg {
		_ = db.SQL.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&res.Synchronous)
		res.Synchronous = map[string]string{"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}[res.Synchronous]
	}
	if _, err := db.SQL.ExecContext(ctx, "INSERT INTO loadlimit_balance (workspace_id, credits) VALUES ('ws', 1000000000)"); err != nil {
		return nil, err
	}
	var seq atomic.Int64
	var busy atomic.Int64 // ns spent in transactions
	begin := time.Now()
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(begin) < d && ctx.Err() == nil {
				n := seq.Add(1)
				t0 := time.Now()
				if err := limitTx(ctx, db, w, n); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				busy.Add(int64(time.Since(t0)))
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	var count int
	if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM loadlimit_calls").Scan(&count); err != nil {
		return nil, err
	}
	res.Transactions = count
	res.Seconds = time.Since(begin).Seconds()
	res.CommitsPerSec = float64(count) / res.Seconds
	if count > 0 {
		res.MeanCommitMS = float64(busy.Load()) / float64(count) / 1e6
	}
	return res, nil
}

func limitTx(ctx context.Context, db *store.DB, w int, n int64) error {
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	id := fmt.Sprintf("%d_%d", w, n)
	caller := fmt.Sprintf("+1212%07d", n%10000000)
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO loadlimit_calls (id, workspace_id, tracking_number, provider, provider_call_id, caller, outcome, started_at, created_at)
			VALUES ($1, 'ws', '+14155550100', 'generic', $2, $3, 'missed', $4, $4)`, []any{"call_" + id, "pc_" + id, caller, now}},
		{`UPDATE loadlimit_balance SET credits = credits - 4 WHERE workspace_id = 'ws'`, nil},
		{`INSERT INTO loadlimit_ledger (id, workspace_id, delta, balance_after, reason, reference, idempotency_key, created_at)
			VALUES ($1, 'ws', -4, 0, 'autoreply', $2, $3, $4)`, []any{"led_" + id, "msg_" + id, "autoreply:call_" + id, now}},
		{`INSERT INTO loadlimit_messages (id, workspace_id, call_id, kind, to_number, from_number, body, status, created_at)
			VALUES ($1, 'ws', $2, 'autoreply', $3, '+14155550100', 'Hello, we missed your call. We will call you back within the hour.', 'queued', $4)`,
			[]any{"msg_" + id, "call_" + id, caller, now}},
		{`INSERT INTO loadlimit_autoreplies (call_id, workspace_id, decision, message_id, created_at) VALUES ($1, 'ws', 'sent', $2, $3)`,
			[]any{"call_" + id, "msg_" + id, now}},
		{`INSERT INTO loadlimit_jobs (kind, args, state, queue, scheduled_at, created_at) VALUES ('send_sms', $1, 'available', 'default', $2, $2)`,
			[]any{`{"message_id":"msg_` + id + `"}`, now}},
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("limit: %w", err)
		}
	}
	return tx.Commit()
}
