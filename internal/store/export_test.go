package store

import "database/sql"

// ReadPool exposes SQLite's read-only pool to the package's tests.
func (db *DB) ReadPool() *sql.DB { return db.read }
