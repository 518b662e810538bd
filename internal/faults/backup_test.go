package faults_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/twilio/twiliotest"
	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/store/pgtest"
)

// ids is every call, message and ledger entry of a workspace.
type ids map[string]map[string]bool

func readIDs(t *testing.T, dbURL, workspace string) ids {
	t.Helper()
	db, err := store.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := ids{}
	for _, table := range []string{"calls", "messages", "credit_ledger"} {
		out[table] = map[string]bool{}
		rows, err := db.SQL.QueryContext(t.Context(), "SELECT id FROM "+table+" WHERE workspace_id = $1", workspace)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out[table][id] = true
		}
		rows.Close()
	}
	return out
}

// TestBackupDuringLoad backs the database up while missed calls pour in
// (SQLite: `textback backup`, VACUUM INTO; PostgreSQL: pg_dump), restores
// the backup into a fresh database, and finds there every call, message
// and ledger entry committed before the backup began, with the ledger
// equal to the balance; textback then serves the restored database.
func TestBackupDuringLoad(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	dbURL := databaseURL(t, dir)
	pg := apptest.Database() == "postgres"
	if pg {
		for _, tool := range []string{"pg_dump", "pg_restore"} {
			if _, err := exec.LookPath(tool); err != nil {
				if pgtest.Required() {
					t.Fatalf("%s is not installed", tool)
				}
				t.Skipf("%s is not installed", tool)
			}
		}
	}
	tw := twiliotest.New(t)
	tw.SetCredentials(twilioSID, twilioToken)
	p := newProc(t, bin, dbURL, "--twilio-api-url", tw.URL, "--log-level", "warn", "--retry-base", "100ms")
	p.start(true)
	const calls = 300
	p.setup(dbURL, 4*calls)

	var (
		next, accepted atomic.Int64
		wg             sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < calls; i = next.Add(1) - 1 {
				code, err := p.deliver(missedCall(fmt.Sprintf("backup-%04d", i), fmt.Sprintf("+1415559%04d", i)))
				if err != nil || code/100 != 2 {
					t.Errorf("call %d: %d %v", i, code, err)
					return
				}
				accepted.Add(1)
			}
		}()
	}
	for accepted.Load() < calls/3 {
		time.Sleep(5 * time.Millisecond)
	}
	before := readIDs(t, dbURL, p.workspace)
	file := filepath.Join(dir, "textback-backup.db")
	var cmd *exec.Cmd
	if pg {
		file = filepath.Join(dir, "textback.dump")
		cmd = exec.Command("pg_dump", "--format=custom", "--file", file, "--dbname", dbURL)
	} else {
		cmd = exec.Command(bin, "backup", "--database-url", dbURL, "--to", file)
	}
	began := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	took := time.Since(began)
	during := accepted.Load()
	wg.Wait()
	waitSettled(t, dbURL, p.workspace, calls, time.Minute)
	p.stop()

	// Restore into a fresh database.
	restored := "sqlite:" + filepath.Join(t.TempDir(), "restored.db")
	if pg {
		restored = pgtest.NewDatabase(t)
		if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, file).CombinedOutput(); err != nil {
			t.Fatalf("pg_restore: %v\n%s", err, out)
		}
	} else {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(restored[len("sqlite:"):], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	after := readIDs(t, restored, p.workspace)
	missing := 0
	for table, set := range before {
		for id := range set {
			if !after[table][id] {
				missing++
				t.Errorf("%s %s, committed before the backup, is not in it", table, id)
			}
		}
	}
	s := readState(t, restored, p.workspace)
	if s.ledgerSum != s.balance {
		t.Errorf("restored: ledger sum %d != balance %d", s.ledgerSum, s.balance)
	}
	// textback serves the restored database: the same key works.
	q := newProc(t, bin, restored, "--twilio-api-url", tw.URL, "--log-level", "warn")
	q.key = p.key
	q.start(true)
	if got := q.api("GET", "/api/v1/credits", nil, 200)["balance"]; fmt.Sprint(got) != fmt.Sprint(s.balance) {
		t.Errorf("restored textback says balance %v, the database %d", got, s.balance)
	}
	how := "textback backup (VACUUM INTO)"
	if pg {
		how = "pg_dump --format=custom / pg_restore"
	}
	report(t, "%s in %v while calls arrived (%d accepted before it, %d by its end, %d in all); restored: %d calls, %d messages, %d ledger entries committed before the backup, %d missing; restored ledger sum %d == balance %d; textback serves it",
		how, took.Round(time.Millisecond), calls/3, during, calls, len(before["calls"]), len(before["messages"]), len(before["credit_ledger"]), missing, s.ledgerSum, s.balance)
}
