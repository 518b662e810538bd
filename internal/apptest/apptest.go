// Package apptest starts a whole textback in-process for end-to-end tests:
// a real database (a fresh SQLite file, or with TEXTBACK_TEST_DB=postgres a
// fresh PostgreSQL database, see pgtest), the real HTTP handler on a
// loopback server, River workers, and a fake Twilio REST API reached
// through the official SDK.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/textback/textback/internal/app"
	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/config"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/twilio"
	"github.com/textback/textback/internal/providers/twilio/twiliotest"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/store/pgtest"
)

// PublicURL is the address textback believes providers reach it at. It
// differs from the test server's address, so signature checks that used
// the request's Host instead would fail.
const PublicURL = "https://textback.example.test"

// Twilio credentials of the test workspace.
const (
	TwilioSID   = "AC0123456789abcdef0123456789abcdef"
	TwilioToken = "5f3e0a1b2c3d4e5f60718293a4b5c6d7"
)

// Env is a running textback with one workspace.
type Env struct {
	T      testing.TB
	App    *app.App
	Server *httptest.Server
	Twilio *twiliotest.Server
	Logs   *SafeBuffer

	Workspace *store.Workspace
	SiteID    string
	AdminKey  string
	AdminID   string
}

// SafeBuffer is a bytes.Buffer safe for concurrent writes (the log sink).
type SafeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SafeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SafeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Options change the environment.
type Options struct {
	MaxAttempts int  // default 5
	NoWorkers   bool // do not start the send workers: jobs stay queued
	Demo        bool // demo mode: the UI offers "Simulate a missed call"

	PollInterval time.Duration // how often idle workers poll for jobs; default 10ms
}

// Database is the database the environments run on: "postgres" when
// TEXTBACK_TEST_DB=postgres, else "sqlite".
func Database() string {
	if os.Getenv("TEXTBACK_TEST_DB") == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// New starts textback on a fresh database (see Database) and creates a workspace (with
// its Twilio account set to the fake) whose admin key is e.AdminKey.
func New(t testing.TB, opts ...Options) *Env {
	t.Helper()
	auth.BcryptCost = bcrypt.MinCost
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	e := &Env{T: t, Twilio: twiliotest.New(t), Logs: &SafeBuffer{}}
	e.Twilio.SetCredentials(TwilioSID, TwilioToken)
	cfg := config.Defaults()
	cfg.DatabaseURL = "sqlite:" + filepath.Join(t.TempDir(), "textback.db")
	if Database() == "postgres" {
		cfg.DatabaseURL = pgtest.NewDatabase(t) // dropped after the cleanup below has stopped textback
	}
	cfg.PublicURL = PublicURL
	cfg.TwilioAPIURL = e.Twilio.URL
	cfg.PollInterval = 10 * time.Millisecond
	if o.PollInterval > 0 {
		cfg.PollInterval = o.PollInterval
	}
	cfg.RetryBase = 20 * time.Millisecond
	cfg.MaxAttempts = o.MaxAttempts
	cfg.Demo = o.Demo
	log := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("opening textback: %v", err)
	}
	if !o.NoWorkers {
		if err := a.Start(ctx); err != nil {
			t.Fatalf("starting workers: %v", err)
		}
	}
	e.App = a
	e.Server = httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		e.Server.Close()
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Stop(stop) // without workers: closes the database and the queue's pool
	})
	cw, err := a.Svc.CreateWorkspace(ctx, service.NewWorkspace{Name: "Test Clinic", TimeZone: "Europe/Paris",
		AdminEmail: "admin@clinic.test", AdminPassword: "correct horse battery"})
	if err != nil {
		t.Fatalf("creating workspace: %v", err)
	}
	e.Workspace, e.SiteID, e.AdminKey, e.AdminID = cw.Workspace, cw.Site.ID, cw.APIKey, cw.User.ID
	if err := a.Svc.SetTwilioSettings(ctx, e.Workspace.ID, service.TwilioSettings{AccountSID: TwilioSID, AuthToken: TwilioToken}); err != nil {
		t.Fatalf("setting Twilio: %v", err)
	}
	return e
}

// Response is an HTTP answer with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", r.Status, r.Body)
	}
	return m
}

// ErrorCode is the answer's error.code, or "".
func (r *Response) ErrorCode() string {
	var m struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &m)
	return m.Error.Code
}

// Do sends a request to textback.
func (e *Env) Do(method, path string, header http.Header, body []byte) *Response {
	e.T.Helper()
	req, err := http.NewRequest(method, e.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// API calls the JSON API with a key ("" for none); body is marshalled
// unless it is already []byte.
func (e *Env) API(method, path, key string, body any) *Response {
	e.T.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	var b []byte
	switch v := body.(type) {
	case nil:
	case []byte:
		b = v
	default:
		b, _ = json.Marshal(v)
	}
	if b != nil {
		h.Set("Content-Type", "application/json")
	}
	return e.Do(method, path, h, b)
}

// TwilioPath is a Twilio webhook path of the workspace ("voice", "dial-status", ...).
func (e *Env) TwilioPath(hook string) string {
	return "/webhooks/twilio/" + e.Workspace.ID + "/" + hook
}

// Twilio posts a form to a Twilio webhook path, signed as Twilio signs it
// (over the public URL) with the workspace's auth token.
func (e *Env) TwilioPost(path string, form url.Values) *Response {
	e.T.Helper()
	return e.TwilioPostSigned(path, form, twilio.Sign(TwilioToken, PublicURL+path, form))
}

// TwilioPostSigned posts with the given signature ("" for none).
func (e *Env) TwilioPostSigned(path string, form url.Values, signature string) *Response {
	e.T.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if signature != "" {
		h.Set(twilio.SignatureHeader, signature)
	}
	return e.Do("POST", path, h, []byte(form.Encode()))
}

// GenericPost posts a JSON call event to the generic webhook, signed now.
func (e *Env) GenericPost(ev generic.Event) *Response {
	e.T.Helper()
	body, _ := json.Marshal(ev)
	return e.Do("POST", "/webhooks/generic/"+e.Workspace.ID+"/call-events", http.Header{
		"Content-Type":          {"application/json"},
		generic.SignatureHeader: {generic.Sign(e.Workspace.WebhookSecret, time.Now(), body)},
	}, body)
}

// AddTrackingNumber adds a Twilio tracking number to the site and returns it.
func (e *Env) AddTrackingNumber(number, forwardTo string) string {
	e.T.Helper()
	r := e.API("POST", "/api/v1/sites/"+e.SiteID+"/tracking-numbers", e.AdminKey, map[string]any{
		"number": number, "provider": "twilio", "forward_to": forwardTo, "ring_timeout_seconds": 15, "label": "Google Ads"})
	if r.Status != http.StatusCreated {
		e.T.Fatalf("adding tracking number: %d %s", r.Status, r.Body)
	}
	return r.JSON(e.T)["id"].(string)
}

// Configure saves the message, flips the switch and tops up credits.
func (e *Env) Configure(message string, enabled bool, credits int) {
	e.T.Helper()
	if message != "" {
		if r := e.API("PUT", "/api/v1/sites/"+e.SiteID+"/autoresponder/message", e.AdminKey, map[string]string{"message": message}); r.Status != 200 {
			e.T.Fatalf("saving message: %d %s", r.Status, r.Body)
		}
	}
	if r := e.API("PUT", "/api/v1/sites/"+e.SiteID+"/autoresponder/enabled", e.AdminKey, map[string]bool{"enabled": enabled}); r.Status != 200 {
		e.T.Fatalf("switching: %d %s", r.Status, r.Body)
	}
	if credits > 0 {
		if r := e.API("POST", "/api/v1/credits/top-ups", e.AdminKey, map[string]any{"credits": credits, "reference": "test top-up " + time.Now().String()}); r.Status != 201 {
			e.T.Fatalf("top-up: %d %s", r.Status, r.Body)
		}
	}
}

// AddMember adds a member (role "member" or "admin") and returns an API key of theirs.
func (e *Env) AddMember(email, role string) string {
	e.T.Helper()
	r := e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": email, "role": role, "password": "member password"})
	if r.Status != http.StatusCreated {
		e.T.Fatalf("adding member: %d %s", r.Status, r.Body)
	}
	r = e.API("POST", "/api/v1/auth/token", "", map[string]string{"email": email, "password": "member password", "workspace_id": e.Workspace.ID})
	if r.Status != http.StatusCreated {
		e.T.Fatalf("signing in member: %d %s", r.Status, r.Body)
	}
	return r.JSON(e.T)["api_key"].(string)
}

// Balance is the workspace's balance, checked against the ledger's sum.
func (e *Env) Balance() int {
	e.T.Helper()
	ctx := context.Background()
	b, err := e.App.DB.Q().Balance(ctx, e.Workspace.ID)
	if err != nil {
		e.T.Fatal(err)
	}
	sum, err := e.App.DB.Q().LedgerSum(ctx, e.Workspace.ID)
	if err != nil {
		e.T.Fatal(err)
	}
	if sum != b {
		e.T.Fatalf("ledger sum %d != balance %d", sum, b)
	}
	return b
}

// WaitFor polls cond every 5 ms until it holds or 10 s pass.
func (e *Env) WaitFor(what string, cond func() bool) {
	e.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Settle waits until no message is queued or sending any more, then a
// little longer, so that an SMS sent twice would have arrived.
func (e *Env) Settle() {
	e.T.Helper()
	e.WaitFor("the send queue to drain", func() bool {
		ms, err := e.App.DB.Q().ListMessages(context.Background(), e.Workspace.ID, store.MessageFilter{Limit: 10000})
		if err != nil {
			e.T.Fatal(err)
		}
		for _, m := range ms {
			if m.Status == "queued" || m.Status == "sending" {
				return false
			}
		}
		return true
	})
	time.Sleep(150 * time.Millisecond)
}

// Calls lists the workspace's calls through the API.
func (e *Env) Calls() []map[string]any {
	e.T.Helper()
	r := e.API("GET", "/api/v1/calls?limit=500", e.AdminKey, nil)
	if r.Status != 200 {
		e.T.Fatalf("listing calls: %d %s", r.Status, r.Body)
	}
	var out struct {
		Calls []map[string]any `json:"calls"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		e.T.Fatal(err)
	}
	return out.Calls
}

// CallByProviderID finds a call in the API's list.
func (e *Env) CallByProviderID(id string) map[string]any {
	e.T.Helper()
	for _, c := range e.Calls() {
		if c["provider_call_id"] == id {
			return c
		}
	}
	e.T.Fatalf("call %s not in the call log", id)
	return nil
}

// Form builds a Twilio webhook form.
func Form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// Contains is strings.Contains for readability in tests.
func Contains(s, sub string) bool { return strings.Contains(s, sub) }
