// Package loadtest plays a carrier against a running textback: it sets up a
// workspace through the API, sends signed missed-call webhooks (generic and
// Twilio Dial action) at a fixed rate or concurrency with a mix of answered,
// duplicated and withheld calls, and measures, with a fake Twilio Messages
// API, how long each missed call takes to become an SMS.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/twilio"
)

// Mix is the share of each kind of request.
type Mix struct {
	Answered   float64 // calls answered: no SMS
	Duplicates float64 // share of webhooks that repeat an earlier call's event
	Withheld   float64 // missed calls from a withheld number: no SMS
	Twilio     float64 // share of calls reported by Twilio's Dial action (the rest by the generic webhook)
}

// Load is one run's shape: Rate webhooks/s (open model) or Concurrency
// senders (closed model), for Duration or Calls webhooks.
type Load struct {
	Rate        float64
	Concurrency int
	Duration    time.Duration
	Calls       int
	Drain       time.Duration // how long to wait for the last SMS after the last webhook
}

// Target is a workspace set up on one or more textback instances.
type Target struct {
	Bases         []string // where to post (one per replica)
	PublicURLs    []string // what Twilio signatures are computed over, per base
	APIKey        string
	WorkspaceID   string
	Tracking      string
	GenericSecret string
	TwilioToken   string
	client        *http.Client
}

// Setup prepares a workspace for a run: Twilio settings (sid/token, the
// server's --twilio-api-url points at the fake), a tracking number whose SMS
// go through Twilio, the autoresponder on, and credits.
func Setup(ctx context.Context, bases []string, apiKey, twilioSID, twilioToken string, credits int) (*Target, error) {
	t := &Target{Bases: bases, APIKey: apiKey, TwilioToken: twilioToken, client: newClient()}
	var sites struct {
		Sites []struct {
			ID string `json:"id"`
		} `json:"sites"`
	}
	if err := t.api(ctx, "GET", "/api/v1/sites", nil, &sites); err != nil {
		return nil, err
	}
	var siteID string
	if len(sites.Sites) > 0 {
		siteID = sites.Sites[0].ID
	} else {
		var s struct {
			ID string `json:"id"`
		}
		if err := t.api(ctx, "POST", "/api/v1/sites", map[string]any{"name": "Load test", "time_zone": "UTC"}, &s); err != nil {
			return nil, err
		}
		siteID = s.ID
	}
	if err := t.api(ctx, "PUT", "/api/v1/providers/twilio", map[string]any{"account_sid": twilioSID, "auth_token": twilioToken}, nil); err != nil {
		return nil, err
	}
	t.Tracking = fmt.Sprintf("+1415%07d", 2000000+rand.IntN(7000000))
	if err := t.api(ctx, "POST", "/api/v1/sites/"+siteID+"/tracking-numbers", map[string]any{
		"number": t.Tracking, "provider": "twilio", "sms_provider": "twilio", "label": "load test"}, nil); err != nil {
		return nil, err
	}
	if err := t.api(ctx, "PUT", "/api/v1/sites/"+siteID+"/autoresponder/message", map[string]any{
		"message": "Hello, we missed your call. We will call you back within the hour."}, nil); err != nil {
		return nil, err
	}
	if err := t.api(ctx, "PUT", "/api/v1/sites/"+siteID+"/autoresponder/enabled", map[string]any{"enabled": true}, nil); err != nil {
		return nil, err
	}
	for left := credits; left > 0; left -= 1_000_000 {
		if err := t.api(ctx, "POST", "/api/v1/credits/top-ups", map[string]any{"credits": min(left, 1_000_000),
			"reference": fmt.Sprintf("loadtest-%d-%d", time.Now().UnixNano(), left)}, nil); err != nil {
			return nil, err
		}
	}
	var hooks struct {
		Twilio struct {
			DialStatusURL string `json:"dial_status_url"`
		} `json:"twilio"`
		Generic struct {
			CallEventsURL string `json:"call_events_url"`
			SigningSecret string `json:"signing_secret"`
		} `json:"generic"`
	}
	if err := t.api(ctx, "GET", "/api/v1/webhooks", nil, &hooks); err != nil {
		return nil, err
	}
	t.GenericSecret = hooks.Generic.SigningSecret
	u, err := url.Parse(hooks.Twilio.DialStatusURL)
	if err != nil {
		return nil, err
	}
	// /webhooks/twilio/{workspace_id}/dial-status
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 3 {
		return nil, fmt.Errorf("unexpected dial status URL %q", hooks.Twilio.DialStatusURL)
	}
	t.WorkspaceID = parts[2]
	if t.PublicURLs == nil {
		pub := strings.TrimSuffix(hooks.Twilio.DialStatusURL, u.Path)
		for range bases {
			t.PublicURLs = append(t.PublicURLs, pub)
		}
	}
	return t, nil
}

func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2000, MaxIdleConnsPerHost: 1000, IdleConnTimeout: time.Minute}}
}

func (t *Target) api(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(t.Bases[0], "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type kind int

const (
	missed kind = iota
	answered
	withheld
)

// call is one planned call.
type call struct {
	id       string
	from     string
	kind     kind
	twilio   bool
	sentAt   atomic.Int64 // unix ns of the first webhook sent
	accepted atomic.Bool  // a webhook for it was answered 2xx
}

// Result is one run's figures.
type Result struct {
	Rate        float64 `json:"target_rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Seconds     float64 `json:"seconds"` // from the first webhook to the last one answered

	Webhooks       int            `json:"webhooks_sent"`
	Accepted       int            `json:"webhooks_accepted"`
	WebhooksPerSec float64        `json:"webhooks_per_second"`
	Errors         map[string]int `json:"errors"`
	MissedCalls    int            `json:"missed_calls"`   // distinct calls with a valid caller that were accepted
	SMS            int            `json:"sms_received"`   // at the fake provider
	SMSPerSec      float64        `json:"sms_per_second"` // over the same window as the webhooks
	Missing        int            `json:"sms_missing"`    // expected but not received before the drain ended
	Duplicates     int            `json:"sms_duplicates"` // received more than once
	Unexpected     int            `json:"sms_unexpected"` // received for a call that should have none
	Correct        bool           `json:"counts_correct"` // SMS == distinct missed calls, none twice, none unexpected
	Latency        Latency        `json:"latency_webhook_to_sms"`
	ResponseTime   Latency        `json:"webhook_response_time"`
	Samples        []float64      `json:"-"` // webhook→SMS latencies in ms
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
	N    int     `json:"n"`
}

func summarize(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	// An HDR histogram in microseconds, 1 µs to 10 min, 3 significant digits.
	h := hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
	for _, v := range ms {
		_ = h.RecordValue(max(1, int64(v*1000)))
	}
	pct := func(p float64) float64 { return float64(h.ValueAtQuantile(p)) / 1000 }
	return Latency{P50: pct(50), P95: pct(95), P99: pct(99), Max: float64(h.Max()) / 1000, Mean: h.Mean() / 1000, N: len(ms)}
}

// Runner sends the load; it keeps numbering callers across runs so that
// runs on the same workspace never share a caller.
type Runner struct {
	T        *Target
	Arrivals *Arrivals
	Mix      Mix
	Seed     uint64
	next     atomic.Int64
}

// numbers from +1 212 200-0000 on: distinct, valid NANP numbers
func (r *Runner) caller() string {
	n := r.next.Add(1)
	return fmt.Sprintf("+1212%03d%04d", 200+(n/10000)%800, n%10000)
}

// Run sends one load and waits for the SMS.
func (r *Runner) Run(ctx context.Context, l Load) (*Result, error) {
	if l.Rate <= 0 && l.Concurrency <= 0 {
		return nil, errors.New("give a rate or a concurrency")
	}
	if l.Duration <= 0 && l.Calls <= 0 {
		return nil, errors.New("give a duration or a number of calls")
	}
	if l.Drain <= 0 {
		l.Drain = 15 * time.Second
	}
	rng := rand.New(rand.NewPCG(r.Seed, uint64(r.next.Load())))
	var rngMu sync.Mutex
	var (
		mu       sync.Mutex
		planned  []*call
		errs     = map[string]int{}
		resp     []float64
		sent, ok atomic.Int64
	)
	// nextRequest picks the next webhook: a repeat of a recent call or a new one.
	nextRequest := func() *call {
		rngMu.Lock()
		defer rngMu.Unlock()
		mu.Lock()
		n := len(planned)
		mu.Unlock()
		if n > 0 && rng.Float64() < r.Mix.Duplicates {
			mu.Lock()
			c := planned[n-1-rng.IntN(min(n, 50))]
			mu.Unlock()
			return c
		}
		c := &call{from: r.caller(), twilio: rng.Float64() < r.Mix.Twilio}
		c.id = fmt.Sprintf("lt-%d-%s", r.next.Load(), c.from[1:])
		if c.twilio {
			c.id = fmt.Sprintf("CA%032x", uint64(time.Now().UnixNano())^uint64(r.next.Load())<<20)
		}
		switch x := rng.Float64(); {
		case x < r.Mix.Answered:
			c.kind = answered
		case x < r.Mix.Answered+r.Mix.Withheld:
			c.kind = withheld
			c.from = "anonymous"
			if c.twilio {
				c.from = "+266696687"
			}
		}
		mu.Lock()
		planned = append(planned, c)
		mu.Unlock()
		return c
	}
	var replica atomic.Int64
	send := func(c *call) {
		i := int(replica.Add(1)) % len(r.T.Bases)
		req := r.T.request(ctx, c, i)
		start := time.Now()
		c.sentAt.CompareAndSwap(0, start.UnixNano())
		sent.Add(1)
		res, err := r.T.client.Do(req)
		d := time.Since(start)
		var kind string
		switch {
		case err != nil && errors.Is(err, context.DeadlineExceeded):
			kind = "timeout"
		case err != nil:
			kind = "network"
		default:
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode/100 != 2 {
				kind = "http_" + strconv.Itoa(res.StatusCode)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if kind != "" {
			errs[kind]++
			return
		}
		ok.Add(1)
		c.accepted.Store(true)
		resp = append(resp, float64(d)/1e6)
	}

	begin := time.Now()
	var wg sync.WaitGroup
	stop := func(i int) bool {
		if ctx.Err() != nil {
			return true
		}
		if l.Calls > 0 {
			return i >= l.Calls
		}
		return time.Since(begin) >= l.Duration
	}
	if l.Rate > 0 {
		interval := time.Duration(float64(time.Second) / l.Rate)
		sem := make(chan struct{}, 2000)
		for i := 0; !stop(i); i++ {
			due := begin.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			select {
			case sem <- struct{}{}:
			default:
				mu.Lock()
				errs["client_backlog"]++
				mu.Unlock()
				continue
			}
			c := nextRequest()
			wg.Add(1)
			go func() {
				defer wg.Done()
				send(c)
				<-sem
			}()
		}
	} else {
		var n atomic.Int64
		for range l.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop(int(n.Add(1)) - 1) {
					send(nextRequest())
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(begin)

	// Which SMS are expected: one per accepted missed call with a valid caller.
	expected := map[string]bool{}
	all := map[string]bool{}
	mu.Lock()
	for _, c := range planned {
		all[c.from] = true
		if c.kind == missed && c.accepted.Load() {
			expected[c.from] = true
		}
	}
	mu.Unlock()
	deadline := time.Now().Add(l.Drain)
	for time.Now().Before(deadline) {
		got := 0
		for to := range expected {
			if _, n := r.Arrivals.get(to); n > 0 {
				got++
			}
		}
		if got == len(expected) {
			break
		}
		select {
		case <-r.Arrivals.notify:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			deadline = time.Now()
		}
	}
	// Let stragglers (a second SMS would be one) arrive.
	time.Sleep(200 * time.Millisecond)

	res := &Result{Rate: l.Rate, Concurrency: l.Concurrency, Seconds: elapsed.Seconds(), Webhooks: int(sent.Load()),
		Accepted: int(ok.Load()), Errors: errs, MissedCalls: len(expected)}
	res.WebhooksPerSec = float64(res.Accepted) / elapsed.Seconds()
	mu.Lock()
	for _, c := range planned {
		if c.kind == withheld {
			continue
		}
		at, n := r.Arrivals.get(c.from)
		switch {
		case n == 0:
			if expected[c.from] {
				res.Missing++
			}
			continue
		case !expected[c.from]:
			res.Unexpected += n
			continue
		case n > 1:
			res.Duplicates += n - 1
		}
		if expected[c.from] {
			res.SMS += n
			expected[c.from] = false // count each caller once even if planned twice
			res.Samples = append(res.Samples, float64(at.UnixNano()-c.sentAt.Load())/1e6)
		}
	}
	res.ResponseTime = summarize(resp)
	mu.Unlock()
	// SMS/s over the window from the first webhook to the last SMS (or the last webhook, if later).
	window := elapsed
	if last := r.Arrivals.last(); last.Sub(begin) > window {
		window = last.Sub(begin)
	}
	res.SMSPerSec = float64(res.SMS) / window.Seconds()
	res.Latency = summarize(res.Samples)
	res.Correct = res.Missing == 0 && res.Duplicates == 0 && res.Unexpected == 0 && res.SMS == res.MissedCalls
	return res, nil
}

// request builds the signed webhook for a call on replica i.
func (t *Target) request(ctx context.Context, c *call, i int) *http.Request {
	base := strings.TrimRight(t.Bases[i], "/")
	if c.twilio {
		path := "/webhooks/twilio/" + t.WorkspaceID + "/dial-status"
		status := "no-answer"
		if c.kind == answered {
			status = "completed"
		}
		form := url.Values{"CallSid": {c.id}, "AccountSid": {"AC" + strings.Repeat("0", 32)}, "From": {c.from}, "To": {t.Tracking},
			"CallStatus": {"completed"}, "Direction": {"inbound"}, "DialCallStatus": {status}, "DialCallDuration": {"0"}}
		if c.kind == answered {
			form.Set("DialCallDuration", "42")
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Sign(t.TwilioToken, t.PublicURLs[i]+path, form))
		return req
	}
	status := "missed"
	if c.kind == answered {
		status = "answered"
	}
	body, _ := json.Marshal(generic.Event{EventID: "ev-" + c.id, CallID: c.id, From: c.from, To: t.Tracking, Status: status,
		OccurredAt: time.Now().UTC().Format(time.RFC3339Nano)})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/webhooks/generic/"+t.WorkspaceID+"/call-events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(generic.SignatureHeader, generic.Sign(t.GenericSecret, time.Now(), body))
	return req
}
