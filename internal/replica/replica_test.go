// Package replica_test runs three real `textback serve` processes, built
// from this tree, on one PostgreSQL database, the way an operator runs
// replicas behind a load balancer, and checks that together they behave as
// one textback: exactly one SMS and one debit per missed call however often
// and wherever its webhook arrives, even when a replica is killed.
//
// It runs when TEXTBACK_TEST_DB=postgres (the PostgreSQL pass of .ci/run).
// Everything stays on loopback: SMS go to a fake of Twilio's API in this
// test process.
package replica_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/twilio/twiliotest"
	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/store/pgtest"
)

const (
	replicas        = 3
	callsPerRound   = 1000
	duplicateShare  = 0.30 // of the calls, delivered 2 to 4 times
	concurrency     = 24   // deliveries in flight at once
	tracking        = "+14155550100"
	message         = "Hello, we missed your call. We will call you back within the hour."
	twilioSID       = "AC0123456789abcdef0123456789abcdef"
	twilioToken     = "5f3e0a1b2c3d4e5f60718293a4b5c6d7"
	seed            = 20261203
	providerLatency = 10 * time.Millisecond
)

func TestThreeReplicasOneDatabase(t *testing.T) {
	if apptest.Database() != "postgres" {
		t.Skip("the multi-replica test runs on PostgreSQL: set TEXTBACK_TEST_DB=postgres")
	}
	if testing.Short() {
		t.Skip("-short: the multi-replica test takes about a minute")
	}
	began := time.Now()
	dbURL := pgtest.WithQuery(t, pgtest.NewDatabase(t), "pool_max_conns", "10")
	bin := buildBinary(t)
	tw := twiliotest.New(t)
	tw.SetCredentials(twilioSID, twilioToken)
	// The provider takes a moment to answer, as a real one does, so that
	// sends are in flight when a replica is killed.
	tw.OnMessage(func(twiliotest.Message) { time.Sleep(providerLatency) })

	// Three replicas start together on the empty database: one migrates,
	// the others wait for the lock and find nothing left to do.
	c := startCluster(t, bin, replicas, "--database-url", dbURL, "--public-url", "https://textback.replica.test",
		"--twilio-api-url", tw.URL, "--log-level", "warn", "--workers", "10", "--poll-interval", "100ms",
		"--retry-base", "200ms", "--job-timeout", "5s", "--rescue-after", "6s")

	ws := createWorkspace(t, bin, dbURL)
	key := ws["api_key"]
	site := ws["site_id"]
	c.api("POST", "/api/v1/sites/"+site+"/tracking-numbers", key, map[string]any{
		"number": tracking, "provider": "generic", "sms_provider": "twilio", "forward_to": "+14155550199"}, 201)
	c.api("PUT", "/api/v1/providers/twilio", key, map[string]string{"account_sid": twilioSID, "auth_token": twilioToken}, 200)
	c.api("PUT", "/api/v1/sites/"+site+"/autoresponder/message", key, map[string]string{"message": message}, 200)
	c.api("PUT", "/api/v1/sites/"+site+"/autoresponder/enabled", key, map[string]bool{"enabled": true}, 200)
	hooks := c.api("GET", "/api/v1/webhooks", key, nil, 200)["generic"].(map[string]any)
	c.secret = hooks["signing_secret"].(string)
	u, _ := url.Parse(hooks["call_events_url"].(string))
	c.path = u.Path

	db, err := store.Open(t.Context(), pgtest.WithQuery(t, dbURL, "pool_max_conns", "2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	chk := &checker{t: t, db: db, tw: tw, workspace: ws["workspace_id"]}

	topUps := 0
	for round := 1; round <= 2; round++ {
		credits := 4*callsPerRound + 100
		c.api("POST", "/api/v1/credits/top-ups", key, map[string]any{"credits": credits, "reference": fmt.Sprint("replica-test-round-", round)}, 201)
		topUps += credits

		r := newRound(round, seed+round)
		if round == 2 {
			// Kill the replica that leads River's maintenance (it rescues
			// the jobs a dead process left running): leadership must move.
			r.killAt = len(r.batches) * 2 / 5
			r.kill = func() (string, error) {
				victim := chk.leader(c)
				c.kill(victim)
				return fmt.Sprintf("replica %d (River leader) killed with SIGKILL", victim.n), nil
			}
		}
		r.run(t, c)
		chk.settle(r, 100*time.Second)
		chk.round(r, topUps)

		if round == 1 {
			var shares []string
			var total float64
			for _, rep := range c.replicas {
				n := c.metric(rep, "textback_sms_sends_total", `result="accepted"`)
				total += n
				shares = append(shares, fmt.Sprint(n))
				if n == 0 {
					t.Errorf("replica %d sent no SMS: the workers do not share the queue", rep.n)
				}
			}
			if total != callsPerRound {
				t.Errorf("replicas report %v accepted sends in all, want %d", total, callsPerRound)
			}
			report(t, "round 1: SMS handed to the provider per replica (from /metrics): %s", strings.Join(shares, " / "))
		}
	}
	report(t, "multi-replica test took %v", time.Since(began).Round(100*time.Millisecond))
}

// report prints a figure to the test log and to stdout, so that CI logs
// show it.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf(format, args...)
	fmt.Printf("replica-test: "+format+"\n", args...)
}

func createWorkspace(t *testing.T, bin, dbURL string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "workspace", "create", "--database-url", dbURL, "--name", "Replica Clinic",
		"--admin-email", "admin@replica.test", "--admin-password", "correct horse battery")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("textback workspace create: %v", err)
	}
	var ws map[string]string
	if err := json.Unmarshal(out, &ws); err != nil || ws["api_key"] == "" {
		t.Fatalf("textback workspace create printed %q", out)
	}
	return ws
}

// call is one distinct missed call and how many times its webhook is sent.
type call struct {
	id, from string
	body     []byte
	copies   int
}

// batch is what one sender does at once: one delivery, or every copy of a
// duplicated event at the same instant to different replicas.
type batch struct {
	call  *call
	burst bool
	copy  int // for a single delivery: which copy
}

type round struct {
	n       int
	calls   []*call
	batches []batch
	killAt  int                    // the batch before which kill runs; -1: none
	kill    func() (string, error) // what happened, for the report
	killed  string

	st       deliveryStats
	failures atomic.Int64
	took     time.Duration // sending the webhooks
	settled  time.Duration // from the last webhook until every send ended
}

// newRound makes callsPerRound missed calls from distinct callers;
// duplicateShare of them are delivered 2 to 4 times, half of those as a
// burst of simultaneous copies to different replicas, the others spread
// over the round in random order.
func newRound(n, seed int) *round {
	rng := rand.New(rand.NewPCG(uint64(seed), 42))
	r := &round{n: n, killAt: -1}
	now := time.Now().UTC().Format(time.RFC3339)
	for i := range callsPerRound {
		c := &call{id: fmt.Sprintf("r%d-call-%04d", n, i), from: fmt.Sprintf("+1415555%d%03d", 1+n, i), copies: 1}
		c.body, _ = json.Marshal(generic.Event{EventID: "evt-" + c.id, CallID: c.id, From: c.from, To: tracking,
			Status: "missed", Detail: "no-answer", OccurredAt: now})
		r.calls = append(r.calls, c)
	}
	burst := map[*call]bool{}
	for k, i := range rng.Perm(callsPerRound)[:int(duplicateShare*callsPerRound)] {
		r.calls[i].copies = 2 + rng.IntN(3)
		burst[r.calls[i]] = k%2 == 0
	}
	for _, c := range r.calls {
		if burst[c] {
			r.batches = append(r.batches, batch{call: c, burst: true})
			continue
		}
		for k := range c.copies {
			r.batches = append(r.batches, batch{call: c, copy: k})
		}
	}
	rng.Shuffle(len(r.batches), func(i, j int) { r.batches[i], r.batches[j] = r.batches[j], r.batches[i] })
	return r
}

func (r *round) deliveries() (events, duplicated, extra int) {
	for _, c := range r.calls {
		events += c.copies
		if c.copies > 1 {
			duplicated++
			extra += c.copies - 1
		}
	}
	return
}

// run sends the round's webhooks, concurrently, spread over the replicas.
func (r *round) run(t *testing.T, c *cluster) {
	t.Helper()
	ctx := t.Context()
	start := time.Now()
	var killOnce sync.Once
	fail := func(err error) {
		if r.failures.Add(1) <= 5 {
			t.Errorf("round %d: %v", r.n, err)
		}
	}
	parallel(r.batches, concurrency, func(i int, b batch) {
		if i == r.killAt {
			killOnce.Do(func() {
				what, err := r.kill()
				if err != nil {
					t.Error(err)
				}
				r.killed = fmt.Sprintf("%s after %d of %d batches", what, i, len(r.batches))
			})
		}
		if !b.burst {
			if err := c.deliver(ctx, b.call.body, i+b.copy, &r.st); err != nil {
				fail(err)
			}
			return
		}
		var wg sync.WaitGroup
		for k := range b.call.copies {
			wg.Go(func() {
				if err := c.deliver(ctx, b.call.body, i+k, &r.st); err != nil {
					fail(err)
				}
			})
		}
		wg.Wait()
	})
	r.took = time.Since(start)
}

// checker reads the outcome from the database and the fake provider.
type checker struct {
	t         *testing.T
	db        *store.DB
	tw        *twiliotest.Server
	workspace string
}

func (k *checker) query(q string, args ...any) []int {
	k.t.Helper()
	rows, err := k.db.SQL.QueryContext(context.Background(), q, args...)
	if err != nil {
		k.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := make([]int, len(cols))
	ptrs := make([]any, len(cols))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if !rows.Next() {
		k.t.Fatalf("%s: no row", q)
	}
	if err := rows.Scan(ptrs...); err != nil {
		k.t.Fatalf("%s: %v", q, err)
	}
	return out
}

// leader is the replica whose River client holds the leadership (its
// client id carries its process id).
func (k *checker) leader(c *cluster) *replica {
	k.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var id string
		err := k.db.SQL.QueryRowContext(context.Background(), `SELECT leader_id FROM river_leader`).Scan(&id)
		if err == nil {
			for _, r := range c.replicas {
				if strings.Contains(id, fmt.Sprintf("_pid%d_", r.cmd.Process.Pid)) {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	k.t.Fatal("no replica leads River's maintenance")
	return nil
}

// settle waits until every call of the round has its message, no message
// is still queued or being sent and every send job has ended (those a
// killed replica was running are rescued by the River leader, once they
// have run longer than --rescue-after), then a little longer, so that an
// SMS sent twice would have arrived.
func (k *checker) settle(r *round, within time.Duration) {
	k.t.Helper()
	start := time.Now()
	pattern := fmt.Sprintf("r%d-%%", r.n)
	for {
		n := k.query(`SELECT COUNT(*), COUNT(*) FILTER (WHERE m.status IN ('queued', 'sending')),
				(SELECT COUNT(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded'))
			FROM messages m JOIN calls c ON c.id = m.call_id WHERE c.provider_call_id LIKE $1`, pattern)
		if n[0] >= callsPerRound && n[1] == 0 && n[2] == 0 {
			break
		}
		if time.Since(start) > within {
			k.t.Fatalf("round %d: after %v, %d messages of %d calls, %d still queued or sending, %d send jobs not ended",
				r.n, within, n[0], callsPerRound, n[1], n[2])
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.settled = time.Since(start)
	time.Sleep(time.Second)
}

// round checks the round's outcome and reports its figures.
func (k *checker) round(r *round, topUps int) {
	t := k.t
	t.Helper()
	pattern := fmt.Sprintf("r%d-%%", r.n)

	calls := k.query(`SELECT COUNT(*), COUNT(DISTINCT provider_call_id), COUNT(*) FILTER (WHERE outcome = 'missed')
		FROM calls WHERE workspace_id = $1 AND provider_call_id LIKE $2`, k.workspace, pattern)
	if calls[0] != callsPerRound || calls[1] != callsPerRound || calls[2] != callsPerRound {
		t.Errorf("round %d: %d calls stored (%d distinct, %d missed), want %d: a call was lost or stored twice", r.n, calls[0], calls[1], calls[2], callsPerRound)
	}
	decided := k.query(`SELECT COUNT(a.call_id), COUNT(*) FILTER (WHERE a.decision = 'sent')
		FROM calls c LEFT JOIN autoreplies a ON a.call_id = c.id WHERE c.provider_call_id LIKE $1`, pattern)
	if decided[0] != callsPerRound || decided[1] != callsPerRound {
		t.Errorf("round %d: %d autoreply decisions, %d sent; want %d sent", r.n, decided[0], decided[1], callsPerRound)
	}
	msgs := k.query(`SELECT COUNT(*), COUNT(DISTINCT m.call_id), COUNT(*) FILTER (WHERE m.status = 'sent'),
			COUNT(*) FILTER (WHERE m.to_number = c.caller), COUNT(*) FILTER (WHERE m.attempts > 1)
		FROM messages m JOIN calls c ON c.id = m.call_id WHERE c.provider_call_id LIKE $1`, pattern)
	if msgs[0] != callsPerRound || msgs[1] != callsPerRound || msgs[2] != callsPerRound || msgs[3] != callsPerRound {
		t.Errorf("round %d: %d messages for %d calls, %d sent, %d to the caller; want %d of each", r.n, msgs[0], msgs[1], msgs[2], msgs[3], callsPerRound)
	}
	debits := k.query(`SELECT COUNT(*), COALESCE(-SUM(l.delta), 0) FROM credit_ledger l JOIN calls c ON c.id = l.call_id
		WHERE c.provider_call_id LIKE $1 AND l.reason = 'autoreply'`, pattern)
	if debits[0] != callsPerRound || debits[1] != 4*callsPerRound {
		t.Errorf("round %d: %d autoreply debits of %d credits in all, want %d of 4", r.n, debits[0], debits[1], callsPerRound)
	}
	money := k.query(`SELECT w.balance, (SELECT COALESCE(SUM(delta), 0) FROM credit_ledger l WHERE l.workspace_id = w.id),
		(SELECT COUNT(*) FROM messages m WHERE m.workspace_id = w.id AND m.credits > 0) FROM workspaces w WHERE w.id = $1`, k.workspace)
	balance, ledger, charged := money[0], money[1], money[2]
	if balance != ledger {
		t.Errorf("round %d: balance %d != ledger sum %d", r.n, balance, ledger)
	}
	if balance != topUps-4*charged {
		t.Errorf("round %d: balance %d, want %d top-ups - 4 x %d SMS = %d", r.n, balance, topUps, charged, topUps-4*charged)
	}
	jobs := k.query(`SELECT COUNT(*) FILTER (WHERE state <> 'completed'), COUNT(*) FROM river_job`)
	if jobs[0] != 0 {
		t.Errorf("round %d: %d send jobs of %d not completed", r.n, jobs[0], jobs[1])
	}

	// What the provider received, by textback message id (its status callback names it).
	ids := map[string]int{} // message id → attempts, for the round's messages
	rows, err := k.db.SQL.QueryContext(context.Background(), `SELECT m.id, m.attempts FROM messages m JOIN calls c ON c.id = m.call_id
		WHERE c.provider_call_id LIKE $1`, pattern)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var attempts int
		if err := rows.Scan(&id, &attempts); err != nil {
			t.Fatal(err)
		}
		ids[id] = attempts
	}
	rows.Close()
	got := map[string]int{}
	received := 0
	for _, m := range k.tw.Messages() {
		cb, _ := url.Parse(m.StatusCallback)
		id := cb.Query().Get("message_id")
		if _, ok := ids[id]; !ok {
			continue
		}
		received++
		got[id]++
		if m.From != tracking || m.Body != message || !strings.HasPrefix(m.To, fmt.Sprintf("+1415555%d", 1+r.n)) {
			t.Errorf("round %d: the provider got %s → %s %q", r.n, m.From, m.To, m.Body)
		}
	}
	resent, unexplained := 0, 0
	for id, attempts := range ids {
		switch n := got[id]; {
		case n == 0:
			t.Errorf("round %d: message %s never reached the provider", r.n, id)
		case n > 1:
			resent += n - 1
			if attempts < 2 {
				unexplained++
			}
		}
	}
	if r.kill == nil && received != callsPerRound {
		t.Errorf("round %d: the provider received %d SMS for %d missed calls, want exactly one each", r.n, received, callsPerRound)
	}
	if unexplained > 0 {
		t.Errorf("round %d: %d messages reached the provider twice in a single attempt", r.n, unexplained)
	}

	events, duplicated, extra := r.deliveries()
	report(t, "round %d: %d missed calls, %d webhooks (%d calls delivered 2-4 times: %d duplicates; %d posts with retries, %d redirected to another replica) in %v over %d replicas; all sends ended %v later",
		r.n, callsPerRound, events, duplicated, extra, r.st.posts.Load(), r.st.redirected.Load(), r.took.Round(time.Millisecond), replicas,
		r.settled.Round(100*time.Millisecond))
	if r.killed != "" {
		report(t, "round %d: %s", r.n, r.killed)
	}
	report(t, "round %d: calls stored %d, autoreplies sent %d, SMS messages %d (sent %d, %d needed more than one attempt), provider received %d (%d resent after the kill)",
		r.n, calls[1], decided[1], msgs[0], msgs[2], msgs[4], received, resent)
	report(t, "round %d: debits %d (%d credits), balance %d, ledger sum %d, top-ups %d, send jobs %d (%d not completed)",
		r.n, debits[0], debits[1], balance, ledger, topUps, jobs[1], jobs[0])
}
