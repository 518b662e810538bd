package faults_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/twilio/twiliotest"
	"github.com/textback/textback/internal/store/pgtest"
)

// privatePostgres is a PostgreSQL server of the test's own (initdb in a
// temporary directory, another port), so that it can be stopped and
// started without disturbing the shared server other tests use.
type privatePostgres struct {
	t       *testing.T
	bin     string // the directory of initdb and pg_ctl
	dir     string
	port    int
	asUser  []string // runuser prefix when running as root
	started bool
}

// startPrivatePostgres skips (fails when TEXTBACK_TEST_REQUIRE_POSTGRES=1)
// when PostgreSQL's server binaries are not installed.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	fail := t.Skipf
	if pgtest.Required() {
		fail = t.Fatalf
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		fail("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: cannot stop and start a private server")
		return nil
	}
	sort.Strings(bins)
	pp := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "textback-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pp.dir = dir
	t.Cleanup(func() { pp.ctl("stop", "-m", "immediate"); os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			fail("running as root without a postgres user: %v", err)
			return nil
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pp.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	addr := freeAddr(t)
	pp.port, _ = strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if out, err := pp.run(filepath.Join(pp.bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "--no-sync"); err != nil {
		fail("initdb: %v\n%s", err, out)
		return nil
	}
	pp.start()
	return pp
}

func (pp *privatePostgres) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, pp.asUser...), name), args...)
	return exec.Command(argv[0], argv[1:]...).CombinedOutput()
}

func (pp *privatePostgres) ctl(args ...string) error {
	out, err := pp.run(filepath.Join(pp.bin, "pg_ctl"), append([]string{"-D", filepath.Join(pp.dir, "data"), "-w", "-t", "60"}, args...)...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (pp *privatePostgres) start() {
	pp.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", pp.port, pp.dir)
	if err := pp.ctl("start", "-l", filepath.Join(pp.dir, "server.log"), "-o", opts); err != nil {
		pp.t.Fatal(err)
	}
}

func (pp *privatePostgres) stop() {
	pp.t.Helper()
	if err := pp.ctl("stop", "-m", "fast"); err != nil {
		pp.t.Fatal(err)
	}
}

func (pp *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&pool_max_conns=10", pp.port)
}

// TestPostgresStoppedAndStarted stops textback's PostgreSQL server in the
// middle of a stream of missed calls and starts it again 5 s later. While
// it is down, webhooks answer 503 with Retry-After (so the carrier retries)
// and /readyz fails; once it is back every call the carrier delivers is
// processed, with one SMS each.
func TestPostgresStoppedAndStarted(t *testing.T) {
	if apptest.Database() != "postgres" {
		t.Skip("PostgreSQL stopped and started: runs with TEXTBACK_TEST_DB=postgres (SQLite lives in the process: see TestFullDiskSQLite)")
	}
	bin := binary(t)
	pp := startPrivatePostgres(t)
	dbURL := pp.url()
	tw := twiliotest.New(t)
	tw.SetCredentials(twilioSID, twilioToken)
	p := newProc(t, bin, dbURL, "--twilio-api-url", tw.URL, "--log-level", "error",
		"--retry-base", "100ms", "--job-timeout", "2s", "--rescue-after", "4s")
	p.start(true)
	const calls = 120
	p.setup(dbURL, 4*calls)

	var (
		accepted, unavailable, noAnswer, retryAfter, posts atomic.Int64
		readyzDown                                         atomic.Bool
		wg                                                 sync.WaitGroup
		next                                               atomic.Int64
	)
	stopAt, down := int64(calls/3), 5*time.Second
	stopped := make(chan struct{})
	go func() {
		for next.Load() < stopAt {
			time.Sleep(5 * time.Millisecond)
		}
		pp.stop()
		close(stopped)
		deadline := time.Now().Add(down)
		for time.Now().Before(deadline) {
			if code, _ := p.get("/readyz"); code == http.StatusServiceUnavailable {
				readyzDown.Store(true)
			}
			time.Sleep(200 * time.Millisecond)
		}
		pp.start()
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= calls {
					return
				}
				if i == stopAt {
					<-stopped
				}
				body := missedCall(fmt.Sprintf("pgdown-%03d", i), fmt.Sprintf("+1415557%04d", i))
				for try := 0; ; try++ {
					posts.Add(1)
					code, hdr := deliverHeader(p, body)
					if code/100 == 2 {
						accepted.Add(1)
						break
					}
					switch {
					case code == http.StatusServiceUnavailable:
						unavailable.Add(1)
						if hdr != "" {
							retryAfter.Add(1)
						}
					case code == 0:
						noAnswer.Add(1)
					default:
						t.Errorf("call %d answered %d while the database was down", i, code)
						return
					}
					if try > 300 {
						t.Errorf("call %d never accepted", i)
						return
					}
					time.Sleep(100 * time.Millisecond) // the carrier's retry, shortened
				}
			}
		}()
	}
	wg.Wait()
	s := waitSettled(t, dbURL, p.workspace, calls, 60*time.Second)
	sent := map[string]int{}
	for _, m := range tw.Messages() {
		sent[m.To]++
	}
	lost, doubled := 0, 0
	for i := range calls {
		from := fmt.Sprintf("+1415557%04d", i)
		if len(s.messages[from]) != 1 || sent[from] == 0 {
			lost++
			t.Errorf("call %d: %d messages stored, %d sent", i, len(s.messages[from]), sent[from])
		}
		if sent[from] > 1 {
			doubled++
			t.Errorf("call %d: %d SMS sent", i, sent[from])
		}
	}
	if unavailable.Load() == 0 || retryAfter.Load() != unavailable.Load() {
		t.Errorf("%d answers 503 while the database was down, %d with Retry-After", unavailable.Load(), retryAfter.Load())
	}
	if !readyzDown.Load() {
		t.Error("/readyz never failed while the database was down")
	}
	if s.calls != calls || s.ledgerSum != s.balance || s.balance != 0 || s.debits != calls {
		t.Errorf("calls %d, balance %d, ledger sum %d, debits %d", s.calls, s.balance, s.ledgerSum, s.debits)
	}
	report(t, "PostgreSQL stopped for %v after %d of %d calls: %d webhook posts, %d answered 503 with Retry-After, %d without an answer, /readyz failed: %v",
		down, stopAt, calls, posts.Load(), unavailable.Load(), noAnswer.Load(), readyzDown.Load())
	report(t, "%d of %d calls accepted and processed, %d lost, %d doubled; %d debits, ledger sum %d == balance %d",
		s.calls, calls, lost, doubled, s.debits, s.ledgerSum, s.balance)
}

// deliverHeader is deliver, also returning the answer's Retry-After.
func deliverHeader(p *proc, body []byte) (int, string) {
	req, _ := http.NewRequest("POST", p.url()+p.hookPath, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(generic.SignatureHeader, generic.Sign(p.secret, time.Now(), body))
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, ""
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}
