package faults_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/providers/twilio/twiliotest"
)

// Fault kinds the flaky provider plays, per caller.
const (
	faultNone    = "none"
	fault500     = "500"     // Twilio answers 500 twice, then takes the message
	fault429     = "429"     // 429 with Retry-After: 2, then takes the message
	faultTimeout = "timeout" // no answer until textback gives up on the attempt, then takes the message
	fault400     = "400"     // rejected outright (invalid number), every time
)

// flaky is Twilio's API with faults in front: a reverse proxy to the fake
// twiliotest server that, per destination number, answers errors or stalls
// before letting requests through.
type flaky struct {
	URL string

	mu       sync.Mutex
	plan     map[string][]string    // to → faults still to play, in order
	attempts map[string][]time.Time // to → when each request arrived
	answered map[string][]int       // to → the status each request got
	injected int
}

func newFlaky(t *testing.T, tw *twiliotest.Server) *flaky {
	f := &flaky{plan: map[string][]string{}, attempts: map[string][]time.Time{}, answered: map[string][]int{}}
	target, _ := url.Parse(tw.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		to := form.Get("To")
		f.mu.Lock()
		f.attempts[to] = append(f.attempts[to], time.Now())
		fault := faultNone
		if p := f.plan[to]; len(p) > 0 {
			fault = p[0]
			if fault != fault400 {
				f.plan[to] = p[1:]
			}
			f.injected++
		}
		f.mu.Unlock()
		status := 0
		switch fault {
		case fault500:
			status = 500
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			fmt.Fprint(w, `{"code":20500,"message":"Internal Server Error","status":500}`)
		case fault429:
			status = 429
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"code":20429,"message":"Too Many Requests","status":429}`)
		case faultTimeout:
			// Stall until textback abandons the attempt (its job timeout).
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		case fault400:
			status = 400
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}`)
		default:
			rec := &statusWriter{ResponseWriter: w}
			proxy.ServeHTTP(rec, r)
			status = rec.status
		}
		f.mu.Lock()
		f.answered[to] = append(f.answered[to], status)
		f.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// TestProviderFaults: missed calls whose SMS meet 500s, a 429 with
// Retry-After, a stalled request and an outright rejection. Every message
// ends in the right state, only rejections are refunded, Retry-After is
// honoured, and no caller gets two SMS.
func TestProviderFaults(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	dbURL := databaseURL(t, dir)
	tw := twiliotest.New(t)
	tw.SetCredentials(twilioSID, twilioToken)
	fl := newFlaky(t, tw)
	p := newProc(t, bin, dbURL, "--twilio-api-url", fl.URL, "--log-level", "warn",
		"--retry-base", "100ms", "--job-timeout", "2s", "--rescue-after", "10s", "--max-attempts", "6")
	p.start(true)
	const perKind = 6
	kinds := []string{faultNone, fault500, fault429, faultTimeout, fault400}
	p.setup(dbURL, 4*perKind*len(kinds))

	kindOf := map[string]string{}
	fl.mu.Lock()
	for k, kind := range kinds {
		for i := range perKind {
			caller := fmt.Sprintf("+1415555%02d%02d", 20+k, i)
			kindOf[caller] = kind
			switch kind {
			case fault500:
				fl.plan[caller] = []string{fault500, fault500}
			case fault429, faultTimeout, fault400:
				fl.plan[caller] = []string{kind}
			}
		}
	}
	fl.mu.Unlock()
	began := time.Now()
	for caller := range kindOf {
		code, err := p.deliver(missedCall("call-"+caller[1:], caller))
		if err != nil || code/100 != 2 {
			t.Fatalf("webhook for %s: %d %v", caller, code, err)
		}
	}
	s := waitSettled(t, dbURL, p.workspace, len(kindOf), 90*time.Second)
	took := time.Since(began)

	sentAt := map[string]int{}
	for _, m := range tw.Messages() {
		sentAt[m.To]++
	}
	doubled, lost := 0, 0
	for caller, kind := range kindOf {
		ms := s.messages[caller]
		if len(ms) != 1 {
			t.Errorf("%s (%s): %d messages stored, want 1", caller, kind, len(ms))
			continue
		}
		m := ms[0]
		if sentAt[caller] > 1 {
			doubled++
			t.Errorf("%s (%s): the provider took %d SMS, want 1", caller, kind, sentAt[caller])
		}
		switch kind {
		case fault400:
			if m.status != "failed" || m.credits != 0 || sentAt[caller] != 0 {
				t.Errorf("%s rejected: status %s, credits %d, sent %d; want failed, refunded, none sent", caller, m.status, m.credits, sentAt[caller])
			}
		default:
			if (m.status != "sent" && m.status != "delivered") || m.credits != 4 || m.providerID == "" {
				lost++
				t.Errorf("%s (%s): status %s, credits %d, provider id %q; want sent for 4 credits", caller, kind, m.status, m.credits, m.providerID)
			}
			if sentAt[caller] != 1 {
				lost++
				t.Errorf("%s (%s): the provider took %d SMS, want 1", caller, kind, sentAt[caller])
			}
		}
	}
	// Retry-After: 2 was honoured: the retry came 2 s or more after the 429.
	fl.mu.Lock()
	var minGap time.Duration = -1
	for caller, kind := range kindOf {
		if kind != fault429 {
			continue
		}
		at := fl.attempts[caller]
		if len(at) < 2 {
			t.Errorf("%s: %d attempts after a 429, want 2", caller, len(at))
			continue
		}
		gap := at[1].Sub(at[0])
		if minGap < 0 || gap < minGap {
			minGap = gap
		}
		if gap < 2*time.Second {
			t.Errorf("%s: retried %v after a 429 with Retry-After: 2", caller, gap)
		}
	}
	injected, requests := fl.injected, 0
	for _, a := range fl.attempts {
		requests += len(a)
	}
	fl.mu.Unlock()

	rejected := perKind
	wantBalance := 4*perKind*len(kinds) - 4*(len(kindOf)-rejected)
	if s.balance != wantBalance || s.ledgerSum != s.balance || s.refunds != rejected {
		t.Errorf("balance %d (want %d), ledger sum %d, refunds %d (want %d)", s.balance, wantBalance, s.ledgerSum, s.refunds, rejected)
	}
	report(t, "%d missed calls, %d faults injected (%d×2 HTTP 500, %d 429 Retry-After: 2, %d stalled requests, %d rejected with 400 each try), %d requests to the provider in %v",
		len(kindOf), injected, perKind, perKind, perKind, perKind, requests, took.Round(100*time.Millisecond))
	report(t, "final states %v; %d lost, %d doubled; %d refunds (only the rejected); shortest retry after a 429: %v; ledger sum %d == balance %d",
		s.statuses, lost, doubled, s.refunds, minGap.Round(10*time.Millisecond), s.ledgerSum, s.balance)
}
