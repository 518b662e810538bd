package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/textback/textback/internal/config"
	"github.com/textback/textback/internal/store"
)

// backup writes a consistent copy of an SQLite database while textback
// runs: VACUUM INTO reads one snapshot (WAL mode lets the server keep
// writing meanwhile) into a new, compact file. PostgreSQL is backed up
// with pg_dump (docs/reliability.md).
func backup(ctx context.Context, args []string, out io.Writer) error {
	cfg := config.Defaults()
	var to string
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.StringVar(&cfg.DatabaseURL, "database-url", envOr("TEXTBACK_DATABASE_URL", cfg.DatabaseURL), "sqlite:PATH (PostgreSQL: use pg_dump)")
	fs.StringVar(&to, "to", "", "the backup file to write (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if to == "" {
		return errors.New("--to FILE is required")
	}
	if store.IsPostgresURL(cfg.DatabaseURL) {
		return errors.New("textback backup copies SQLite databases; back up PostgreSQL with pg_dump --format=custom (see docs/reliability.md)")
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("%s already exists: choose a new file", to)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.SQL.ExecContext(ctx, "VACUUM INTO '"+strings.ReplaceAll(to, "'", "''")+"'"); err != nil {
		return fmt.Errorf("error backing up to %s: %w", to, err)
	}
	fmt.Fprintf(out, "backed up %s to %s\n", db.Path, to)
	return nil
}
