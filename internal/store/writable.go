package store

import (
	"context"
	"fmt"
)

// CheckWritable proves the database accepts a write: it commits a one-row
// heartbeat (created on first use). A read-only file, a full disk or a
// PostgreSQL standby fail it, where a ping would still succeed; /readyz
// uses it.
func (db *DB) CheckWritable(ctx context.Context) error {
	const create = `CREATE TABLE IF NOT EXISTS readyz_heartbeat (id INTEGER PRIMARY KEY, beat BIGINT NOT NULL)`
	// A failure here (two replicas creating it at once) shows in the upsert.
	_, _ = db.SQL.ExecContext(ctx, create)
	upsert := fmt.Sprintf(`INSERT INTO readyz_heartbeat (id, beat) VALUES (1, %d)
		ON CONFLICT (id) DO UPDATE SET beat = excluded.beat`, db.now().UnixNano())
	if _, err := db.SQL.ExecContext(ctx, upsert); err != nil {
		return fmt.Errorf("the database refuses writes: %w", err)
	}
	return nil
}
