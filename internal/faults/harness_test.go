// Package faults_test runs `textback serve`, built from this tree, as a real
// process and injects faults around it: an SMS provider that fails, stalls,
// rate-limits and rejects; kill -9 in the middle of a load of missed calls;
// the database cut off and restored; a full or read-only disk. Each test
// checks that nothing accepted is lost, nothing is sent or billed twice and
// the ledger equals the balance, and prints its figures ("faults-test: ...").
//
// The suite runs on SQLite, or on PostgreSQL with TEXTBACK_TEST_DB=postgres.
package faults_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/store/pgtest"
)

const (
	tracking    = "+14155550100"
	message     = "Hello, we missed your call. We will call you back within the hour."
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "5f3e0a1b2c3d4e5f60718293a4b5c6d7"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds textback from this tree once per test run.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the fault tests build and run the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "textback-faults-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "textback")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/textback/textback/cmd/textback").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building textback: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// report prints a figure to the test log and to stdout, for CI logs and
// docs/reliability.md.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf(format, args...)
	fmt.Printf("faults-test: %s: "+format+"\n", append([]any{t.Name()}, args...)...)
}

// databaseURL is a fresh database for the test: an SQLite file in dir, or a
// PostgreSQL database when TEXTBACK_TEST_DB=postgres.
func databaseURL(t *testing.T, dir string) string {
	if apptest.Database() == "postgres" {
		return pgtest.NewDatabase(t)
	}
	return "sqlite:" + filepath.Join(dir, "textback.db")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one `textback serve` process; start it again after a kill with
// the same address and database.
type proc struct {
	t      *testing.T
	bin    string
	addr   string
	args   []string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	http   *http.Client

	secret, hookPath string // the generic webhook's signing secret and path
	key              string // an admin API key
	workspace, site  string
}

func newProc(t *testing.T, bin, dbURL string, args ...string) *proc {
	p := &proc{t: t, bin: bin, addr: freeAddr(t), log: filepath.Join(t.TempDir(), "textback.log"),
		http: &http.Client{Timeout: 10 * time.Second}}
	p.args = append([]string{"serve", "--addr", p.addr, "--database-url", dbURL, "--public-url", "https://textback.faults.test"}, args...)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("textback's log (last lines):\n%s", p.logTail(60))
		}
	})
	return p
}

func (p *proc) url() string { return "http://" + p.addr }

// start runs the process and, if wait, waits until /readyz answers 200.
func (p *proc) start(wait bool) {
	p.t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	cmd, exited := p.cmd, p.exited
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	if !wait {
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := p.get("/readyz"); code == http.StatusOK {
			return
		}
		select {
		case <-exited:
			p.t.Fatalf("textback exited while starting:\n%s", p.logTail(40))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("textback not ready after 60 s:\n%s", p.logTail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func (p *proc) stop() {
	if p.cmd == nil || p.exited == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func (p *proc) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(p.logText(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (p *proc) get(path string) (int, string) {
	resp, err := p.http.Get(p.url() + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// api calls the JSON API with the admin key and wants status want.
func (p *proc) api(method, path string, body any, want int) map[string]any {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url()+path, rd)
	req.Header.Set("Authorization", "Bearer "+p.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		p.t.Fatalf("%s %s answered %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// setup creates a workspace with the CLI, then through the API a generic
// tracking number sending SMS through Twilio (at twilioURL, given to serve),
// the autoresponder on, and credits.
func (p *proc) setup(dbURL string, credits int) {
	p.t.Helper()
	cmd := exec.Command(p.bin, "workspace", "create", "--database-url", dbURL, "--name", "Faults Clinic",
		"--admin-email", "admin@faults.test", "--admin-password", "correct horse battery")
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("textback workspace create: %v", err)
	}
	var ws map[string]string
	if err := json.Unmarshal(out, &ws); err != nil {
		p.t.Fatalf("workspace create printed %q", out)
	}
	p.key, p.workspace, p.site = ws["api_key"], ws["workspace_id"], ws["site_id"]
	p.api("POST", "/api/v1/sites/"+p.site+"/tracking-numbers", map[string]any{
		"number": tracking, "provider": "generic", "sms_provider": "twilio", "forward_to": "+14155550199"}, 201)
	p.api("PUT", "/api/v1/providers/twilio", map[string]string{"account_sid": twilioSID, "auth_token": twilioToken}, 200)
	p.api("PUT", "/api/v1/sites/"+p.site+"/autoresponder/message", map[string]string{"message": message}, 200)
	p.api("PUT", "/api/v1/sites/"+p.site+"/autoresponder/enabled", map[string]bool{"enabled": true}, 200)
	p.api("POST", "/api/v1/credits/top-ups", map[string]any{"credits": credits, "reference": "faults"}, 201)
	hooks := p.api("GET", "/api/v1/webhooks", nil, 200)["generic"].(map[string]any)
	p.secret = hooks["signing_secret"].(string)
	p.hookPath = hooks["call_events_url"].(string)[len("https://textback.faults.test"):]
}

// missedCall is one missed call's signed event.
func missedCall(id, from string) []byte {
	b, _ := json.Marshal(generic.Event{EventID: "evt-" + id, CallID: id, From: from, To: tracking,
		Status: "missed", Detail: "no-answer", OccurredAt: time.Now().UTC().Format(time.RFC3339)})
	return b
}

// deliver posts a call event once: the status (0 when no answer came).
func (p *proc) deliver(body []byte) (int, error) {
	req, _ := http.NewRequest("POST", p.url()+p.hookPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(generic.SignatureHeader, generic.Sign(p.secret, time.Now(), body))
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// state is what the database holds for the workspace.
type state struct {
	calls      int
	messages   map[string][]msg // by caller
	statuses   map[string]int
	balance    int
	ledgerSum  int
	ledgerRows int
	refunds    int
	debits     int
}

type msg struct {
	id, status, providerID string
	credits, attempts      int
}

func readState(t *testing.T, dbURL, workspace string) state {
	t.Helper()
	db, err := store.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := func(query string, dest ...any) {
		t.Helper()
		if err := db.SQL.QueryRowContext(t.Context(), query, workspace).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	var s state
	q(`SELECT COUNT(*) FROM calls WHERE workspace_id = $1`, &s.calls)
	q(`SELECT balance FROM workspaces WHERE id = $1`, &s.balance)
	q(`SELECT COALESCE(SUM(delta), 0), COUNT(*) FROM credit_ledger WHERE workspace_id = $1`, &s.ledgerSum, &s.ledgerRows)
	q(`SELECT COUNT(*) FROM credit_ledger WHERE workspace_id = $1 AND reason = 'refund'`, &s.refunds)
	q(`SELECT COUNT(*) FROM credit_ledger WHERE workspace_id = $1 AND delta < 0`, &s.debits)
	rows, err := db.SQL.QueryContext(t.Context(), `SELECT id, to_number, status, COALESCE(provider_message_id, ''), credits, attempts
		FROM messages WHERE workspace_id = $1`, workspace)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	s.messages, s.statuses = map[string][]msg{}, map[string]int{}
	for rows.Next() {
		var m msg
		var to string
		if err := rows.Scan(&m.id, &to, &m.status, &m.providerID, &m.credits, &m.attempts); err != nil {
			t.Fatal(err)
		}
		s.messages[to] = append(s.messages[to], m)
		s.statuses[m.status]++
	}
	return s
}

// settled reports whether no message is still queued or sending.
func (s state) settled() bool { return s.statuses["queued"] == 0 && s.statuses["sending"] == 0 }

func waitSettled(t *testing.T, dbURL, workspace string, want int, within time.Duration) state {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := readState(t, dbURL, workspace)
		n := 0
		for _, ms := range s.messages {
			n += len(ms)
		}
		if n >= want && s.settled() {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages not settled after %v: %d of %d, statuses %v", within, n, want, s.statuses)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dbKind() string {
	if apptest.Database() == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite"
}
