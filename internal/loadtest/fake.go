package loadtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Arrivals records when each SMS reached the provider, by recipient.
type Arrivals struct {
	mu     sync.Mutex
	first  map[string]time.Time
	count  map[string]int
	total  int
	latest time.Time
	notify chan struct{}
}

// NewArrivals returns an empty record.
func NewArrivals() *Arrivals {
	return &Arrivals{first: map[string]time.Time{}, count: map[string]int{}, notify: make(chan struct{}, 1)}
}

// Record notes one SMS to `to` received at `at`.
func (a *Arrivals) Record(to string, at time.Time) {
	a.mu.Lock()
	if _, ok := a.first[to]; !ok {
		a.first[to] = at
	}
	a.count[to]++
	a.total++
	if at.After(a.latest) {
		a.latest = at
	}
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// Total is the number of SMS received.
func (a *Arrivals) Total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

func (a *Arrivals) last() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.latest
}

func (a *Arrivals) get(to string) (time.Time, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.first[to], a.count[to]
}

// FakeTwilio is a minimal Twilio Messages API: it accepts every message
// (any credentials), answers as Twilio does, and records its arrival.
type FakeTwilio struct {
	URL      string
	Arrivals *Arrivals
	srv      *http.Server
	ln       net.Listener
}

// StartFakeTwilio listens on a loopback port.
func StartFakeTwilio() (*FakeTwilio, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &FakeTwilio{URL: "http://" + ln.Addr().String(), Arrivals: NewArrivals(), ln: ln}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

// Close stops the server.
func (f *FakeTwilio) Close() error { return f.srv.Close() }

func (f *FakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
		http.Error(w, `{"code":20404,"message":"not found","status":404}`, http.StatusNotFound)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, `{"code":20001,"message":"bad form","status":400}`, http.StatusBadRequest)
		return
	}
	to := r.PostForm.Get("To")
	f.Arrivals.Record(to, now)
	var b [16]byte
	rand.Read(b[:])
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"sid": "SM" + hex.EncodeToString(b[:]), "status": "queued", "to": to, "from": r.PostForm.Get("From"),
		"body": r.PostForm.Get("Body"), "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
	})
}
