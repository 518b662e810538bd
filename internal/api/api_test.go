package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/twilio"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// ---- one textback for the package ----

// Starting textback (migrations on a new SQLite file) is the slow part of a
// test, above all under -race, so the tests share one running textback and
// each gets a workspace of its own in it (newEnv). Tests that need a
// textback to themselves (the sign-in rate limiter) call apptest.New.
var shared struct {
	mu  sync.Mutex
	env *apptest.Env
	tb  *sharedTB
	n   int                     // workspaces made so far
	ws  map[string]sharedWSInfo // by workspace id
	ip  int                     // loopback addresses handed out
}

type sharedWSInfo struct {
	n          int
	adminEmail string
}

// sharedTB is the testing.TB of the shared textback: it lives until
// TestMain ends. apptest uses only the methods defined here.
type sharedTB struct {
	testing.TB // nil: any other method panics
	cleanups   []func()
	dirs       []string
}

func (s *sharedTB) Helper()                   {}
func (s *sharedTB) Name() string              { return "shared" }
func (s *sharedTB) Failed() bool              { return false }
func (s *sharedTB) Log(args ...any)           {}
func (s *sharedTB) Logf(string, ...any)       {}
func (s *sharedTB) Cleanup(f func())          { s.cleanups = append(s.cleanups, f) }
func (s *sharedTB) Context() context.Context  { return context.Background() }
func (s *sharedTB) Error(args ...any)         { panic(fmt.Sprint(args...)) }
func (s *sharedTB) Errorf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (s *sharedTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (s *sharedTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (s *sharedTB) FailNow()                  { panic("FailNow") }
func (s *sharedTB) TempDir() string {
	d, err := os.MkdirTemp("", "textback-api-test-")
	if err != nil {
		panic(err)
	}
	s.dirs = append(s.dirs, d)
	return d
}

func (s *sharedTB) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	for _, d := range s.dirs {
		os.RemoveAll(d)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		// No request of any test may have failed on textback's side: a 5xx
		// is a bug whatever the test was looking at.
		if bad := serverErrors(shared.env.Logs.String()); len(bad) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: textback answered with a server error during the tests:\n%s\n", strings.Join(bad, "\n"))
			code = 1
		}
		shared.tb.close()
	}
	os.Exit(code)
}

// serverErrors returns the log lines of 5xx answers and failed requests.
func serverErrors(logs string) []string {
	var bad []string
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Msg    string `json:"msg"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if (l.Msg == "http" && l.Status >= 500) || l.Msg == "request failed" || l.Msg == "webhook failed" {
			bad = append(bad, line)
		}
	}
	return bad
}

// newEnv returns the shared textback with a new workspace of the test's own
// (named Test Clinic, in Europe/Paris, with Twilio set up, as apptest.New
// makes it). Its e-mails, tracking numbers and data are its own, so the
// test runs in parallel with the others.
func newEnv(t *testing.T) *apptest.Env {
	t.Helper()
	t.Parallel()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.env == nil {
		shared.tb = &sharedTB{}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("starting the shared textback: %v", p)
				}
			}()
			shared.env = apptest.New(shared.tb)
		}()
		shared.ws = map[string]sharedWSInfo{}
	}
	shared.n++
	n := shared.n
	email := fmt.Sprintf("admin-%d@clinic.test", n)
	ctx := context.Background()
	cw, err := shared.env.App.Svc.CreateWorkspace(ctx, service.NewWorkspace{Name: "Test Clinic", TimeZone: "Europe/Paris",
		AdminEmail: email, AdminPassword: "correct horse battery"})
	if err != nil {
		t.Fatalf("creating the test's workspace: %v", err)
	}
	if err := shared.env.App.Svc.SetTwilioSettings(ctx, cw.Workspace.ID, service.TwilioSettings{AccountSID: apptest.TwilioSID, AuthToken: apptest.TwilioToken}); err != nil {
		t.Fatalf("setting Twilio: %v", err)
	}
	shared.ws[cw.Workspace.ID] = sharedWSInfo{n: n, adminEmail: email}
	e := *shared.env
	e.T = t
	e.Workspace, e.SiteID, e.AdminKey, e.AdminID = cw.Workspace, cw.Site.ID, cw.APIKey, cw.User.ID
	return &e
}

func wsInfo(e *apptest.Env) sharedWSInfo {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	info, ok := shared.ws[e.Workspace.ID]
	if !ok { // a textback of the test's own (apptest.New)
		return sharedWSInfo{n: 0, adminEmail: "admin@clinic.test"}
	}
	return info
}

// adminEmail is the e-mail of the workspace's first admin.
func adminEmail(e *apptest.Env) string { return wsInfo(e).adminEmail }

// mail is an e-mail address for the workspace's test: users are shared by
// all workspaces, so each test has its own.
func mail(e *apptest.Env, local string) string {
	return fmt.Sprintf("%s-%d@clinic.test", local, wsInfo(e).n)
}

// tn is the workspace's i-th tracking number (0..9999): tracking numbers are
// unique across workspaces, so each test has its own block.
func tn(e *apptest.Env, i int) string {
	return fmt.Sprintf("+1415%03d%04d", 200+wsInfo(e).n%800, i)
}

// natl is tn in US national format, e.g. (415) 201-0000.
func natl(e *apptest.Env, i int) string {
	n := tn(e, i)
	return fmt.Sprintf("(%s) %s-%s", n[2:5], n[5:8], n[8:])
}

// nextIP is a loopback address no other request of the run came from.
func nextIP() string {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.ip++
	return fmt.Sprintf("127.0.%d.%d", 10+shared.ip/250, 1+shared.ip%250)
}

// signIn posts to /auth/token from an address of its own, so that failed
// sign-ins of one test do not count towards another's rate limit.
func signIn(t *testing.T, e *apptest.Env, body map[string]string) *apptest.Response {
	t.Helper()
	if r, ok := postFrom(t, e, nextIP(), "/api/v1/auth/token", body); ok {
		return r
	}
	return e.API("POST", "/api/v1/auth/token", "", body)
}

// postFrom posts JSON from the given loopback address; ok is false when the
// system cannot send from it (only 127.0.0.1 is up on some systems).
func postFrom(t *testing.T, e *apptest.Env, ip, path string, body any) (*apptest.Response, bool) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}}
	defer client.CloseIdleConnections()
	b, _ := json.Marshal(body)
	resp, err := client.Post(e.Server.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return nil, false
		}
		t.Fatalf("POST %s from %s: %v", path, ip, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return &apptest.Response{Status: resp.StatusCode, Header: resp.Header, Body: rb}, true
}

// ---- helpers shared by the package's tests ----

// must checks the status of a setup step and returns the JSON answer (nil
// for an empty body); it stops the test on anything else.
func must(t *testing.T, r *apptest.Response, status int, what string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: got %d %s, want %d", what, r.Status, r.Body, status)
	}
	if len(r.Body) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s: answer is not a JSON object: %s", what, r.Body)
	}
	return m
}

// mustStatus checks the status of a setup step whose answer is not JSON.
func mustStatus(t *testing.T, r *apptest.Response, status int, what string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: got %d %s, want %d", what, r.Status, r.Body, status)
	}
}

// wantError checks an error answer: the status, the code ("" for any) and
// the documented shape {"error": {"code", "message"}} as JSON.
func wantError(t *testing.T, r *apptest.Response, status int, code, what string) bool {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got %d %s, want %d %s", what, r.Status, r.Body, status, code)
		return false
	}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error == nil {
		t.Errorf("%s: the %d answer is not a JSON error: %q", what, r.Status, r.Body)
		return false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error Content-Type = %q, want application/json", what, ct)
	}
	if code != "" && body.Error.Code != code {
		t.Errorf("%s: error code %q (%s), want %q", what, body.Error.Code, body.Error.Message, code)
		return false
	}
	if body.Error.Code == "" || body.Error.Message == "" {
		t.Errorf("%s: the error has no code or no message: %s", what, r.Body)
	}
	return true
}

// decodeAs decodes a JSON answer into v.
func decodeAs(t *testing.T, r *apptest.Response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer %s does not decode into %T: %v", r.Body, v, err)
	}
}

// hasFields reports the fields of want that m lacks.
func hasFields(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	for _, f := range want {
		if _, ok := m[f]; !ok {
			t.Errorf("%s has no field %q: %v", what, f, m)
		}
	}
}

func sitePath(e *apptest.Env, rest string) string {
	return "/api/v1/sites/" + e.SiteID + rest
}

func balance(t *testing.T, e *apptest.Env, key string) int {
	t.Helper()
	var b struct {
		Balance *int `json:"balance"`
	}
	decodeAs(t, e.API("GET", "/api/v1/credits", key, nil), &b)
	if b.Balance == nil {
		t.Fatal("GET /credits has no balance")
	}
	return *b.Balance
}

func topUp(t *testing.T, e *apptest.Env, credits int, ref string) {
	t.Helper()
	must(t, e.API("POST", "/api/v1/credits/top-ups", e.AdminKey, map[string]any{"credits": credits, "reference": ref}), 201, "top-up")
}

type autoresponder struct {
	SiteID        string  `json:"site_id"`
	Available     bool    `json:"available"`
	Enabled       bool    `json:"enabled"`
	Message       string  `json:"message"`
	UpdatedAt     *string `json:"updated_at"`
	Encoding      string  `json:"encoding"`
	Segments      int     `json:"segments"`
	CreditsPerSMS int     `json:"credits_per_sms"`
}

func getAutoresponder(t *testing.T, e *apptest.Env, key string) autoresponder {
	t.Helper()
	r := e.API("GET", sitePath(e, "/autoresponder"), key, nil)
	must(t, r, 200, "GET autoresponder")
	var a autoresponder
	decodeAs(t, r, &a)
	return a
}

// ---- reading ----

func TestMeShape(t *testing.T) {
	e := newEnv(t)
	r := e.API("GET", "/api/v1/me", e.AdminKey, nil)
	var me struct {
		User *struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"user"`
		Workspace *struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			TimeZone string `json:"time_zone"`
		} `json:"workspace"`
		Role string `json:"role"`
	}
	must(t, r, 200, "GET /me")
	decodeAs(t, r, &me)
	if me.User == nil || me.User.ID != e.AdminID || me.User.Email != adminEmail(e) {
		t.Errorf("user = %+v, want id %s, email %s", me.User, e.AdminID, adminEmail(e))
	}
	if me.Workspace == nil || me.Workspace.ID != e.Workspace.ID || me.Workspace.Name != "Test Clinic" || me.Workspace.TimeZone != "Europe/Paris" {
		t.Errorf("workspace = %+v, want %s Test Clinic Europe/Paris", me.Workspace, e.Workspace.ID)
	}
	if me.Role != "admin" {
		t.Errorf("role = %q, want admin", me.Role)
	}
	member := e.AddMember(mail(e, "member"), "member")
	r = e.API("GET", "/api/v1/me", member, nil)
	must(t, r, 200, "GET /me as member")
	decodeAs(t, r, &me)
	if me.Role != "member" || me.User.Email != mail(e, "member") {
		t.Errorf("member's /me: role %q email %q, want member %s", me.Role, me.User.Email, mail(e, "member"))
	}
}

func TestSitesShape(t *testing.T) {
	e := newEnv(t)
	r := e.API("GET", "/api/v1/sites", e.AdminKey, nil)
	var out struct {
		Sites []map[string]any `json:"sites"`
	}
	must(t, r, 200, "GET /sites")
	decodeAs(t, r, &out)
	if len(out.Sites) != 1 {
		t.Fatalf("sites = %v, want the workspace's one site", out.Sites)
	}
	hasFields(t, "site", out.Sites[0], "id", "name", "time_zone")
	if out.Sites[0]["id"] != e.SiteID || out.Sites[0]["time_zone"] != "Europe/Paris" {
		t.Errorf("site = %v, want id %s in Europe/Paris", out.Sites[0], e.SiteID)
	}
}

func TestCreditsShape(t *testing.T) {
	e := newEnv(t)
	m := must(t, e.API("GET", "/api/v1/credits", e.AdminKey, nil), 200, "GET /credits")
	if b, ok := m["balance"].(float64); !ok || b != 0 {
		t.Errorf("a new workspace's credits = %v, want {balance: 0}", m)
	}
	topUp(t, e, 12, "inv-1")
	if b := balance(t, e, e.AdminKey); b != 12 {
		t.Errorf("balance after a 12-credit top-up = %d, want 12", b)
	}
}

func TestUsageShape(t *testing.T) {
	e := newEnv(t)
	m := must(t, e.API("GET", "/api/v1/usage", e.AdminKey, nil), 200, "GET /usage")
	hasFields(t, "usage", m, "month", "standard_sms_sent", "standard_sms_limit", "autoreply_sms_sent", "credits_used")
	loc, _ := time.LoadLocation("Europe/Paris")
	if want := time.Now().In(loc).Format("2006-01"); m["month"] != want {
		t.Errorf("month = %v, want %s (the workspace's time zone)", m["month"], want)
	}
	for f, want := range map[string]float64{"standard_sms_sent": 0, "standard_sms_limit": 200, "autoreply_sms_sent": 0, "credits_used": 0} {
		if m[f] != want {
			t.Errorf("%s = %v, want %v", f, m[f], want)
		}
	}
}

// ---- sites ----

func TestCreateSite(t *testing.T) {
	e := newEnv(t)
	m := must(t, e.API("POST", "/api/v1/sites", e.AdminKey, map[string]string{"name": "Annex", "time_zone": "America/New_York"}), 201, "POST /sites")
	hasFields(t, "site", m, "id", "name", "time_zone")
	if m["name"] != "Annex" || m["time_zone"] != "America/New_York" {
		t.Errorf("site = %v", m)
	}
	// Without a time zone the site takes the workspace's.
	d := must(t, e.API("POST", "/api/v1/sites", e.AdminKey, map[string]string{"name": "Default zone"}), 201, "POST /sites without time_zone")
	if d["time_zone"] != "Europe/Paris" {
		t.Errorf("a site without time_zone got %v, want the workspace's Europe/Paris", d["time_zone"])
	}
	// The new site has its autoresponder, unavailable until it has a number.
	ar := must(t, e.API("GET", "/api/v1/sites/"+m["id"].(string)+"/autoresponder", e.AdminKey, nil), 200, "the new site's autoresponder")
	if ar["available"] != false || ar["enabled"] != false {
		t.Errorf("a new site's autoresponder = %v, want available and enabled false", ar)
	}
	var out struct {
		Sites []struct{ ID string } `json:"sites"`
	}
	decodeAs(t, e.API("GET", "/api/v1/sites", e.AdminKey, nil), &out)
	if len(out.Sites) != 3 {
		t.Errorf("GET /sites lists %d sites after creating 2, want 3", len(out.Sites))
	}
}

func TestCreateSiteValidation(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.API("POST", "/api/v1/sites", e.AdminKey, map[string]string{"name": "X", "time_zone": "Mars/Olympus"}), 422, "validation_failed", "bad time_zone")
	wantError(t, e.API("POST", "/api/v1/sites", e.AdminKey, map[string]string{"name": "  "}), 422, "validation_failed", "blank name")
	var out struct {
		Sites []struct{ ID string } `json:"sites"`
	}
	decodeAs(t, e.API("GET", "/api/v1/sites", e.AdminKey, nil), &out)
	if len(out.Sites) != 1 {
		t.Errorf("refused sites were stored: %d sites", len(out.Sites))
	}
}

// ---- tracking numbers ----

func addNumber(e *apptest.Env, body map[string]any) *apptest.Response {
	return e.API("POST", sitePath(e, "/tracking-numbers"), e.AdminKey, body)
}

func listNumbers(t *testing.T, e *apptest.Env) []map[string]any {
	t.Helper()
	var out struct {
		TrackingNumbers []map[string]any `json:"tracking_numbers"`
	}
	r := e.API("GET", sitePath(e, "/tracking-numbers"), e.AdminKey, nil)
	must(t, r, 200, "GET tracking-numbers")
	decodeAs(t, r, &out)
	return out.TrackingNumbers
}

func TestTrackingNumberInvalid(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"12", "hello", "+1555", ""} {
		wantError(t, addNumber(e, map[string]any{"number": n, "provider": "twilio"}), 422, "invalid_phone_number", "number "+n)
	}
	wantError(t, addNumber(e, map[string]any{"number": tn(e, 0), "provider": "twilio", "forward_to": "nope"}), 422, "invalid_phone_number", "forward_to nope")
	if n := listNumbers(t, e); len(n) != 0 {
		t.Errorf("refused numbers were stored: %v", n)
	}
}

func TestTrackingNumberTaken(t *testing.T) {
	e := newEnv(t)
	must(t, addNumber(e, map[string]any{"number": tn(e, 0), "provider": "twilio"}), 201, "first add")
	wantError(t, addNumber(e, map[string]any{"number": tn(e, 0), "provider": "twilio"}), 409, "tracking_number_taken", "same number again")
	// The same number in another format is the same number.
	wantError(t, addNumber(e, map[string]any{"number": "+1 " + natl(e, 0), "provider": "generic"}), 409, "tracking_number_taken", "same number, other format")
	// And on another site of the workspace.
	other := must(t, e.API("POST", "/api/v1/sites", e.AdminKey, map[string]string{"name": "Annex"}), 201, "POST /sites")
	r := e.API("POST", "/api/v1/sites/"+other["id"].(string)+"/tracking-numbers", e.AdminKey, map[string]any{"number": tn(e, 0), "provider": "twilio"})
	wantError(t, r, 409, "tracking_number_taken", "same number on another site")
	if n := listNumbers(t, e); len(n) != 1 {
		t.Errorf("tracking numbers = %v, want one", n)
	}
}

func TestTrackingNumberDelete(t *testing.T) {
	e := newEnv(t)
	id := e.AddTrackingNumber(tn(e, 0), "+14155550199")
	keep := e.AddTrackingNumber(tn(e, 1), "")
	r := e.API("DELETE", "/api/v1/tracking-numbers/"+id, e.AdminKey, nil)
	if r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("DELETE = %d %q, want 204 with no body", r.Status, r.Body)
	}
	ns := listNumbers(t, e)
	if len(ns) != 1 || ns[0]["id"] != keep {
		t.Errorf("after DELETE the numbers are %v, want only %s", ns, keep)
	}
	wantError(t, e.API("DELETE", "/api/v1/tracking-numbers/"+id, e.AdminKey, nil), 404, "not_found", "DELETE twice")
	// The number is free again.
	must(t, addNumber(e, map[string]any{"number": tn(e, 0), "provider": "twilio"}), 201, "re-adding the deleted number")
}

func TestTrackingNumberDeleteKeepsCallLog(t *testing.T) {
	e := newEnv(t)
	id := e.AddTrackingNumber(tn(e, 0), "")
	must(t, e.TwilioPost(e.TwilioPath("call-status"), apptest.Form("CallSid", "CAkept", "From", "+14155550150", "To", tn(e, 0), "CallStatus", "no-answer")), 204, "missed call")
	must(t, e.API("DELETE", "/api/v1/tracking-numbers/"+id, e.AdminKey, nil), 204, "DELETE tracking number with calls")
	c := e.CallByProviderID("CAkept")
	if c["tracking_number"] != tn(e, 0) || c["outcome"] != "missed" {
		t.Errorf("the call after its number was deleted = %v, want it kept with the number it was made to", c)
	}
}

func TestTrackingNumberShapeAndSMSProviderDefault(t *testing.T) {
	e := newEnv(t)
	tw := must(t, addNumber(e, map[string]any{"number": natl(e, 0), "provider": "twilio", "forward_to": "+14155550199", "ring_timeout_seconds": 25, "label": "Google Ads"}), 201, "twilio number")
	hasFields(t, "tracking number", tw, "id", "number", "provider", "forward_to", "ring_timeout_seconds", "label")
	if tw["number"] != tn(e, 0) || tw["provider"] != "twilio" || tw["forward_to"] != "+14155550199" || tw["ring_timeout_seconds"] != 25.0 || tw["label"] != "Google Ads" {
		t.Errorf("twilio number = %v", tw)
	}
	if tw["sms_provider"] != "twilio" {
		t.Errorf("provider twilio: sms_provider = %v, want twilio", tw["sms_provider"])
	}
	gen := must(t, addNumber(e, map[string]any{"number": tn(e, 1), "provider": "generic"}), 201, "generic number")
	if gen["sms_provider"] != "simulated" {
		t.Errorf("provider generic: sms_provider = %v, want simulated", gen["sms_provider"])
	}
	if gen["forward_to"] != nil {
		t.Errorf("no forward_to given: forward_to = %v, want null", gen["forward_to"])
	}
	sim := must(t, addNumber(e, map[string]any{"number": tn(e, 2), "provider": "twilio", "sms_provider": "simulated"}), 201, "explicit sms_provider")
	if sim["sms_provider"] != "simulated" {
		t.Errorf("explicit sms_provider simulated: got %v", sim["sms_provider"])
	}
	wantError(t, addNumber(e, map[string]any{"number": tn(e, 3), "provider": "carrier-pigeon"}), 422, "validation_failed", "unknown provider")
	// The list shows what was stored.
	byID := map[string]map[string]any{}
	for _, n := range listNumbers(t, e) {
		byID[n["id"].(string)] = n
	}
	if byID[tw["id"].(string)]["sms_provider"] != "twilio" || byID[gen["id"].(string)]["sms_provider"] != "simulated" {
		t.Errorf("listed numbers = %v", byID)
	}
}

// ---- autoresponder ----

func putMessage(e *apptest.Env, key string, body any) *apptest.Response {
	return e.API("PUT", sitePath(e, "/autoresponder/message"), key, body)
}

func putEnabled(e *apptest.Env, key string, body any) *apptest.Response {
	return e.API("PUT", sitePath(e, "/autoresponder/enabled"), key, body)
}

func TestAutoresponderUnavailableWithoutTrackingNumber(t *testing.T) {
	e := newEnv(t)
	a := getAutoresponder(t, e, e.AdminKey)
	if a.Available {
		t.Errorf("available = true on a site without tracking number")
	}
	wantError(t, putMessage(e, e.AdminKey, map[string]string{"message": "We missed your call."}), 409, "autoresponder_unavailable", "PUT message")
	wantError(t, putEnabled(e, e.AdminKey, map[string]bool{"enabled": true}), 409, "autoresponder_unavailable", "PUT enabled")
	if a := getAutoresponder(t, e, e.AdminKey); a.Enabled || a.Message != "" {
		t.Errorf("refused changes were stored: %+v", a)
	}

	id := e.AddTrackingNumber(tn(e, 0), "")
	if a := getAutoresponder(t, e, e.AdminKey); !a.Available {
		t.Errorf("available = false after adding a tracking number")
	}
	must(t, e.API("DELETE", "/api/v1/tracking-numbers/"+id, e.AdminKey, nil), 204, "DELETE tracking number")
	if a := getAutoresponder(t, e, e.AdminKey); a.Available {
		t.Errorf("available = true after deleting the site's only tracking number")
	}
	wantError(t, putEnabled(e, e.AdminKey, map[string]bool{"enabled": true}), 409, "autoresponder_unavailable", "PUT enabled after the number is gone")
}

func TestAutoresponderMessageAndSwitchAreIndependent(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")

	// Message first: the switch stays off.
	r := putMessage(e, e.AdminKey, map[string]string{"message": "First message."})
	must(t, r, 200, "PUT message")
	var a autoresponder
	decodeAs(t, r, &a)
	if a.Message != "First message." || a.Enabled || !a.Available {
		t.Errorf("PUT message answered %+v", a)
	}
	if g := getAutoresponder(t, e, e.AdminKey); g.Enabled || g.Message != "First message." {
		t.Errorf("after PUT message: %+v, want the message and the switch still off", g)
	}

	// Switch on: the message stays.
	r = putEnabled(e, e.AdminKey, map[string]bool{"enabled": true})
	must(t, r, 200, "PUT enabled")
	decodeAs(t, r, &a)
	if !a.Enabled || a.Message != "First message." {
		t.Errorf("PUT enabled answered %+v", a)
	}
	if g := getAutoresponder(t, e, e.AdminKey); !g.Enabled || g.Message != "First message." {
		t.Errorf("after PUT enabled=true: %+v, want enabled with the message kept", g)
	}

	// New message while on: the switch stays on.
	must(t, putMessage(e, e.AdminKey, map[string]string{"message": "Second message."}), 200, "PUT message again")
	if g := getAutoresponder(t, e, e.AdminKey); !g.Enabled || g.Message != "Second message." {
		t.Errorf("after PUT message while on: %+v, want the new message and the switch still on", g)
	}

	// Switch off: the message stays.
	must(t, putEnabled(e, e.AdminKey, map[string]bool{"enabled": false}), 200, "PUT enabled=false")
	g := getAutoresponder(t, e, e.AdminKey)
	if g.Enabled || g.Message != "Second message." {
		t.Errorf("after PUT enabled=false: %+v, want off with the message kept", g)
	}
	if g.UpdatedAt == nil {
		t.Errorf("updated_at is null after changes")
	}
}

func TestAutoresponderMessageValidation(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	must(t, putMessage(e, e.AdminKey, map[string]string{"message": "Kept."}), 200, "PUT message")

	wantError(t, putMessage(e, e.AdminKey, map[string]string{"message": ""}), 422, "validation_failed", "empty message")
	wantError(t, putMessage(e, e.AdminKey, map[string]string{"message": " \n\t "}), 422, "validation_failed", "blank message")
	wantError(t, putMessage(e, e.AdminKey, map[string]string{"message": strings.Repeat("a", 1601)}), 422, "validation_failed", "1,601 characters")
	// Characters, not bytes: 1,601 two-byte characters are too long too.
	wantError(t, putMessage(e, e.AdminKey, map[string]string{"message": strings.Repeat("é", 1601)}), 422, "validation_failed", "1,601 é")
	wantError(t, putMessage(e, e.AdminKey, map[string]any{}), 422, "validation_failed", "PUT message {}")
	wantError(t, putMessage(e, e.AdminKey, []byte(`{"message":"Hi","colour":"red"}`)), 400, "invalid_json", "unknown field")
	wantError(t, putMessage(e, e.AdminKey, []byte(`{"message":42}`)), 400, "invalid_json", "message a number")
	if g := getAutoresponder(t, e, e.AdminKey); g.Message != "Kept." {
		t.Errorf("a refused message changed the stored one: %q", g.Message)
	}

	wantError(t, putEnabled(e, e.AdminKey, []byte(`{"enabled":"yes"}`)), 400, "invalid_json", `{"enabled":"yes"}`)
	wantError(t, putEnabled(e, e.AdminKey, map[string]any{}), 422, "validation_failed", "PUT enabled {}")
	wantError(t, putEnabled(e, e.AdminKey, []byte(`{"enabled":true,"message":"x"}`)), 400, "invalid_json", "PUT enabled with an unknown field")
	if g := getAutoresponder(t, e, e.AdminKey); g.Enabled {
		t.Errorf("a refused switch change turned it on")
	}

	long := strings.Repeat("b", 1600)
	must(t, putMessage(e, e.AdminKey, map[string]string{"message": long}), 200, "1,600 characters")
	if g := getAutoresponder(t, e, e.AdminKey); g.Message != long {
		t.Errorf("the 1,600-character message was not stored whole (%d characters)", len(g.Message))
	}
}

func TestAutoresponderCostPreview(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	r := putMessage(e, e.AdminKey, map[string]string{"message": "Sorry we missed you. We call back within 2 hours."})
	must(t, r, 200, "PUT message")
	var a autoresponder
	decodeAs(t, r, &a)
	if a.Encoding != "GSM-7" || a.Segments != 1 || a.CreditsPerSMS != 4 {
		t.Errorf("plain message: encoding %q segments %d credits_per_sms %d, want GSM-7 1 4", a.Encoding, a.Segments, a.CreditsPerSMS)
	}
	r = putMessage(e, e.AdminKey, map[string]string{"message": "We’ll call you back “soon”."})
	must(t, r, 200, "PUT curly message")
	decodeAs(t, r, &a)
	if a.Encoding != "UCS-2" || a.Segments != 1 || a.CreditsPerSMS != 4 {
		t.Errorf("curly quotes: encoding %q segments %d credits_per_sms %d, want UCS-2 1 4", a.Encoding, a.Segments, a.CreditsPerSMS)
	}
	if g := getAutoresponder(t, e, e.AdminKey); g.Encoding != "UCS-2" {
		t.Errorf("GET after a curly message: encoding %q, want UCS-2", g.Encoding)
	}
	must(t, putMessage(e, e.AdminKey, map[string]string{"message": strings.Repeat("x", 161)}), 200, "PUT 161 characters")
	if g := getAutoresponder(t, e, e.AdminKey); g.Encoding != "GSM-7" || g.Segments != 2 {
		t.Errorf("161 GSM characters: encoding %q segments %d, want GSM-7 2", g.Encoding, g.Segments)
	}
	must(t, putMessage(e, e.AdminKey, map[string]string{"message": strings.Repeat("“", 71)}), 200, "PUT 71 curly quotes")
	if g := getAutoresponder(t, e, e.AdminKey); g.Encoding != "UCS-2" || g.Segments != 2 {
		t.Errorf("71 UCS-2 characters: encoding %q segments %d, want UCS-2 2", g.Encoding, g.Segments)
	}
}

// ---- members ----

func TestMemberMayUseAutoresponderButNotSettings(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	m := must(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": strings.ToUpper(mail(e, "nurse")), "role": "member", "password": "nurse password 1"}), 201, "POST /members")
	if m["email"] != mail(e, "nurse") || m["role"] != "member" {
		t.Errorf("member = %v, want %s with role member", m, mail(e, "nurse"))
	}
	tok := must(t, e.API("POST", "/api/v1/auth/token", "", map[string]string{"email": mail(e, "nurse"), "password": "nurse password 1"}), 201, "member sign-in")
	key, _ := tok["api_key"].(string)
	if tok["role"] != "member" || tok["workspace_id"] != e.Workspace.ID || key == "" {
		t.Fatalf("member token = %v", tok)
	}

	must(t, e.API("GET", sitePath(e, "/autoresponder"), key, nil), 200, "member GET autoresponder")
	must(t, putMessage(e, key, map[string]string{"message": "Written by a member."}), 200, "member PUT message")
	must(t, putEnabled(e, key, map[string]bool{"enabled": true}), 200, "member PUT enabled")
	if g := getAutoresponder(t, e, e.AdminKey); g.Message != "Written by a member." || !g.Enabled {
		t.Errorf("the member's changes are not seen by the admin: %+v", g)
	}

	wantError(t, e.API("POST", sitePath(e, "/tracking-numbers"), key, map[string]any{"number": tn(e, 1), "provider": "twilio"}), 403, "forbidden", "member POST tracking number")
	if n := listNumbers(t, e); len(n) != 1 {
		t.Errorf("a member's refused tracking number was stored: %v", n)
	}
	wantError(t, e.API("POST", "/api/v1/members", key, map[string]string{"email": mail(e, "x"), "role": "admin", "password": "whatever pass"}), 403, "forbidden", "member POST member")
}

func TestAddMemberTwice(t *testing.T) {
	e := newEnv(t)
	must(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": mail(e, "nurse"), "role": "member", "password": "nurse password 1"}), 201, "first add")
	wantError(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": mail(e, "nurse"), "role": "admin", "password": "nurse password 1"}), 409, "already_member", "same e-mail again")
	wantError(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": " " + strings.ToUpper(mail(e, "nurse")) + " ", "role": "member", "password": "nurse password 1"}), 409, "already_member", "same e-mail, other case")
	wantError(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": adminEmail(e), "role": "member", "password": "x password y"}), 409, "already_member", "the admin again")
	var out struct {
		Members []map[string]any `json:"members"`
	}
	decodeAs(t, e.API("GET", "/api/v1/members", e.AdminKey, nil), &out)
	if len(out.Members) != 2 {
		t.Errorf("members = %v, want admin and nurse", out.Members)
	}
	for _, m := range out.Members {
		if m["email"] == mail(e, "nurse") && m["role"] != "member" {
			t.Errorf("the refused second add changed the nurse's role to %v", m["role"])
		}
	}
}

func TestAddMemberValidation(t *testing.T) {
	e := newEnv(t)
	for what, body := range map[string]map[string]string{
		"bad e-mail":     {"email": "not-an-email", "role": "member", "password": "long enough password"},
		"unknown role":   {"email": mail(e, "a"), "role": "owner", "password": "long enough password"},
		"empty password": {"email": mail(e, "b"), "role": "member", "password": ""},
	} {
		wantError(t, e.API("POST", "/api/v1/members", e.AdminKey, body), 422, "validation_failed", what)
	}
	var out struct {
		Members []map[string]any `json:"members"`
	}
	decodeAs(t, e.API("GET", "/api/v1/members", e.AdminKey, nil), &out)
	if len(out.Members) != 1 {
		t.Errorf("refused members were added: %v", out.Members)
	}
	// A refused member cannot sign in.
	wantError(t, signIn(t, e, map[string]string{"email": mail(e, "b"), "password": ""}), 401, "invalid_credentials", "signing in as a refused member")
}

// ---- API keys ----

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	r := e.API("POST", "/api/v1/api-keys", e.AdminKey, map[string]string{"name": "Zapier"})
	k := must(t, r, 201, "POST /api-keys")
	key, _ := k["key"].(string)
	id, _ := k["id"].(string)
	if key == "" || id == "" || k["name"] != "Zapier" {
		t.Fatalf("new key = %v, want id, name and key", k)
	}
	must(t, e.API("GET", "/api/v1/me", key, nil), 200, "using the new key")
	wantError(t, e.API("POST", "/api/v1/api-keys", e.AdminKey, map[string]string{"name": " "}), 422, "validation_failed", "a key without a name")

	r = e.API("GET", "/api/v1/api-keys", e.AdminKey, nil)
	must(t, r, 200, "GET /api-keys")
	if strings.Contains(string(r.Body), key) || strings.Contains(string(r.Body), e.AdminKey) {
		t.Errorf("GET /api-keys shows a whole key: %s", r.Body)
	}
	var list struct {
		APIKeys []map[string]any `json:"api_keys"`
	}
	decodeAs(t, r, &list)
	found := false
	for _, l := range list.APIKeys {
		if _, has := l["key"]; has {
			t.Errorf("a listed key has a key field: %v", l)
		}
		if l["id"] == id {
			found = true
			p, _ := l["prefix"].(string)
			if p == "" || !strings.HasPrefix(key, p) || len(p) >= len(key)/2 {
				t.Errorf("prefix %q is not a short prefix of the key", p)
			}
		}
	}
	if !found {
		t.Errorf("the new key %s is not listed: %s", id, r.Body)
	}

	r = e.API("DELETE", "/api/v1/api-keys/"+id, e.AdminKey, nil)
	if r.Status != 204 {
		t.Fatalf("DELETE key = %d %s, want 204", r.Status, r.Body)
	}
	wantError(t, e.API("GET", "/api/v1/me", key, nil), 401, "unauthorized", "the deleted key")
	wantError(t, e.API("DELETE", "/api/v1/api-keys/"+id, e.AdminKey, nil), 404, "not_found", "DELETE twice")
	must(t, e.API("GET", "/api/v1/me", e.AdminKey, nil), 200, "the other key still works")
}

// ---- sign-in ----

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	r := e.API("POST", "/api/v1/auth/token", "", map[string]string{"email": strings.ToUpper(adminEmail(e)), "password": "correct horse battery"})
	m := must(t, r, 201, "sign-in")
	key, _ := m["api_key"].(string)
	if key == "" || m["workspace_id"] != e.Workspace.ID || m["role"] != "admin" {
		t.Fatalf("sign-in answer = %v, want api_key, workspace_id %s, role admin", m, e.Workspace.ID)
	}
	must(t, e.API("GET", "/api/v1/me", key, nil), 200, "the signed-in key")
	r = e.API("POST", "/api/v1/auth/token", "", map[string]string{"email": adminEmail(e), "password": "correct horse battery", "workspace_id": e.Workspace.ID})
	must(t, r, 201, "sign-in with workspace_id")
}

func TestSignInFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	wrong := signIn(t, e, map[string]string{"email": adminEmail(e), "password": "wrong password"})
	unknown := signIn(t, e, map[string]string{"email": mail(e, "nobody"), "password": "wrong password"})
	wantError(t, wrong, 401, "invalid_credentials", "wrong password")
	wantError(t, unknown, 401, "invalid_credentials", "unknown e-mail")
	if string(wrong.Body) != string(unknown.Body) {
		t.Errorf("wrong password and unknown e-mail answer differently:\n%s\n%s", wrong.Body, unknown.Body)
	}
	// A workspace the user is not a member of is a wrong credential too.
	other := signIn(t, e, map[string]string{"email": adminEmail(e), "password": "correct horse battery", "workspace_id": "ws_nope"})
	wantError(t, other, 401, "invalid_credentials", "foreign workspace_id")
}

// signInFrom signs in from the given loopback address, so that the
// per-address and per-e-mail counts can be told apart.
func signInFrom(t *testing.T, e *apptest.Env, ip, email, password string) *apptest.Response {
	t.Helper()
	r, ok := postFrom(t, e, ip, "/api/v1/auth/token", map[string]string{"email": email, "password": password})
	if !ok {
		t.Skipf("this system cannot send from %s", ip)
	}
	return r
}

func TestSignInRateLimited(t *testing.T) {
	e := apptest.New(t)
	must(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": "nurse@clinic.test", "role": "member", "password": "nurse password 1"}), 201, "add member")
	for i := range 10 {
		r := signInFrom(t, e, "127.0.0.1", "admin@clinic.test", fmt.Sprintf("guess %d", i))
		wantError(t, r, 401, "invalid_credentials", fmt.Sprintf("failure %d", i+1))
	}
	r := signInFrom(t, e, "127.0.0.1", "admin@clinic.test", "correct horse battery")
	wantError(t, r, 429, "rate_limited", "right password after 10 failures")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("the 429 has no Retry-After header")
	}
	if strings.Contains(string(r.Body), "tbk_") {
		t.Errorf("the rate-limited answer holds a key: %s", r.Body)
	}
	// The e-mail is locked from any address, not only the guessing one.
	wantError(t, signInFrom(t, e, "127.0.0.2", "Admin@Clinic.test", "correct horse battery"), 429, "rate_limited", "right password from another address")
	// Another user from another address is not locked out.
	must(t, signInFrom(t, e, "127.0.0.3", "nurse@clinic.test", "nurse password 1"), 201, "another user from another address")
	// The guessing address is limited whatever e-mail it tries next.
	wantError(t, signInFrom(t, e, "127.0.0.1", "nurse@clinic.test", "nurse password 1"), 429, "rate_limited", "another e-mail from the guessing address")
	// Keys issued before the lock keep working.
	must(t, e.API("GET", "/api/v1/me", e.AdminKey, nil), 200, "the admin's existing key")
}

// ---- credits ----

func TestTopUp(t *testing.T) {
	e := newEnv(t)
	topUp(t, e, 10, "inv-0")
	r := e.API("POST", "/api/v1/credits/top-ups", e.AdminKey, map[string]any{"credits": 40, "reference": "inv-1"})
	m := must(t, r, 201, "top-up")
	hasFields(t, "ledger entry", m, "id", "delta", "balance_after", "reason", "reference", "created_at")
	if m["delta"] != 40.0 || m["balance_after"] != 50.0 || m["reference"] != "inv-1" {
		t.Errorf("entry = %v, want delta 40, balance_after 50, reference inv-1", m)
	}
	if b := balance(t, e, e.AdminKey); b != 50 || e.Balance() != 50 {
		t.Errorf("balance = %d, want 50", b)
	}
}

func TestTopUpRejectsBadAmounts(t *testing.T) {
	e := newEnv(t)
	topUp(t, e, 8, "inv-0")
	for _, c := range []struct {
		body string
		code string
	}{
		{`{"credits":0,"reference":"a"}`, ""},
		{`{"credits":-5,"reference":"b"}`, ""},
		{`{"credits":1.5,"reference":"c"}`, ""},
		{`{"credits":"ten","reference":"d"}`, ""},
		{`{"credits":10}`, ""},
		{`{"credits":10,"reference":""}`, ""},
		{`{"reference":"e"}`, ""},
	} {
		r := e.API("POST", "/api/v1/credits/top-ups", e.AdminKey, []byte(c.body))
		if r.Status < 400 || r.Status > 499 || r.Status == 404 {
			t.Errorf("top-up %s = %d %s, want a 4xx refusal", c.body, r.Status, r.Body)
			continue
		}
		wantError(t, r, r.Status, c.code, "top-up "+c.body)
	}
	if b := balance(t, e, e.AdminKey); b != 8 {
		t.Errorf("balance after refused top-ups = %d, want 8", b)
	}
}

func TestTopUpDuplicateReference(t *testing.T) {
	e := newEnv(t)
	topUp(t, e, 10, "stripe pi_123")
	r := e.API("POST", "/api/v1/credits/top-ups", e.AdminKey, map[string]any{"credits": 10, "reference": "stripe pi_123"})
	wantError(t, r, 409, "duplicate_reference", "same reference")
	r = e.API("POST", "/api/v1/credits/top-ups", e.AdminKey, map[string]any{"credits": 99, "reference": "  stripe pi_123 "})
	wantError(t, r, 409, "duplicate_reference", "same reference with spaces")
	if b := balance(t, e, e.AdminKey); b != 10 {
		t.Errorf("balance = %d, want 10 (one top-up)", b)
	}
}

func TestTopUpByMemberForbidden(t *testing.T) {
	e := newEnv(t)
	member := e.AddMember(mail(e, "member"), "member")
	wantError(t, e.API("POST", "/api/v1/credits/top-ups", member, map[string]any{"credits": 100, "reference": "free"}), 403, "forbidden", "member top-up")
	if b := balance(t, e, member); b != 0 {
		t.Errorf("balance = %d after a member's refused top-up, want 0", b)
	}
}

func TestLedgerNewestFirst(t *testing.T) {
	e := newEnv(t)
	for i, c := range []int{5, 7, 11} {
		topUp(t, e, c, fmt.Sprintf("inv-%d", i))
	}
	var out struct {
		Entries []struct {
			ID           string `json:"id"`
			Delta        int    `json:"delta"`
			BalanceAfter int    `json:"balance_after"`
			Reason       string `json:"reason"`
			Reference    string `json:"reference"`
			CreatedAt    string `json:"created_at"`
		} `json:"entries"`
	}
	r := e.API("GET", "/api/v1/credits/ledger", e.AdminKey, nil)
	must(t, r, 200, "GET ledger")
	decodeAs(t, r, &out)
	if len(out.Entries) != 3 {
		t.Fatalf("ledger = %s, want 3 entries", r.Body)
	}
	want := []struct{ delta, after int }{{11, 23}, {7, 12}, {5, 5}}
	for i, w := range want {
		got := out.Entries[i]
		if got.Delta != w.delta || got.BalanceAfter != w.after {
			t.Errorf("entry %d = %+v, want delta %d balance_after %d (newest first)", i, got, w.delta, w.after)
		}
		if _, err := time.Parse(time.RFC3339, got.CreatedAt); err != nil || !strings.HasSuffix(got.CreatedAt, "Z") {
			t.Errorf("created_at %q is not RFC 3339 in UTC", got.CreatedAt)
		}
	}
	decodeAs(t, e.API("GET", "/api/v1/credits/ledger?limit=2", e.AdminKey, nil), &out)
	if len(out.Entries) != 2 || out.Entries[0].Delta != 11 {
		t.Errorf("limit=2 gave %+v, want the 2 newest", out.Entries)
	}
}

// ---- providers and webhooks ----

func TestPutTwilioValidation(t *testing.T) {
	e := newEnv(t)
	const token = "newtokenffffffffffffffffffffffff"
	wantError(t, e.API("PUT", "/api/v1/providers/twilio", e.AdminKey, map[string]string{"account_sid": "AC123", "auth_token": token}), 422, "validation_failed", "short SID")
	wantError(t, e.API("PUT", "/api/v1/providers/twilio", e.AdminKey, map[string]string{"account_sid": "XX0123456789abcdef0123456789abcdef", "auth_token": token}), 422, "validation_failed", "SID not starting with AC")
	wantError(t, e.API("PUT", "/api/v1/providers/twilio", e.AdminKey, map[string]string{"account_sid": "AC0123456789abcdef0123456789abcdeg", "auth_token": token}), 422, "validation_failed", "SID not hex")
	wantError(t, e.API("PUT", "/api/v1/providers/twilio", e.AdminKey, map[string]string{"account_sid": apptest.TwilioSID, "auth_token": "short"}), 422, "validation_failed", "short token")
	r := e.API("GET", "/api/v1/providers", e.AdminKey, nil)
	must(t, r, 200, "GET /providers")
	if !strings.Contains(string(r.Body), apptest.TwilioSID) {
		t.Errorf("refused settings replaced the stored ones: %s", r.Body)
	}
}

func TestPutTwilioNeverReturnsToken(t *testing.T) {
	e := newEnv(t)
	const sid = "ACfedcba9876543210fedcba9876543210"
	const token = "s3cr3ttw1l10t0k3nabcdef0123456789"
	r := e.API("PUT", "/api/v1/providers/twilio", e.AdminKey, map[string]string{"account_sid": sid, "auth_token": token})
	must(t, r, 200, "PUT /providers/twilio")
	if strings.Contains(string(r.Body), token) {
		t.Errorf("PUT /providers/twilio returns the auth token: %s", r.Body)
	}
	if !strings.Contains(string(r.Body), sid) {
		t.Errorf("PUT /providers/twilio does not show the account SID: %s", r.Body)
	}
	r = e.API("GET", "/api/v1/providers", e.AdminKey, nil)
	must(t, r, 200, "GET /providers")
	for _, secret := range []string{token, apptest.TwilioToken} {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("GET /providers shows an auth token: %s", r.Body)
		}
	}
	var p struct {
		Twilio struct {
			AccountSID   string `json:"account_sid"`
			AuthTokenSet bool   `json:"auth_token_set"`
		} `json:"twilio"`
	}
	decodeAs(t, r, &p)
	if p.Twilio.AccountSID != sid || !p.Twilio.AuthTokenSet {
		t.Errorf("GET /providers twilio = %+v, want the new SID and auth_token_set", p.Twilio)
	}
	// The new token is the one webhooks are verified with.
	path := e.TwilioPath("call-status")
	form := apptest.Form("CallSid", "CA-new-token", "From", "+14155550150", "To", tn(e, 0), "CallStatus", "ringing")
	wantError(t, e.TwilioPost(path, form), 403, "bad_signature", "a webhook signed with the old token")
	if r := e.TwilioPostSigned(path, form, twilio.Sign(token, apptest.PublicURL+path, form)); r.Status/100 != 2 {
		t.Errorf("a webhook signed with the new token: %d %s", r.Status, r.Body)
	}
}

func TestWebhookURLs(t *testing.T) {
	e := newEnv(t)
	var w struct {
		Twilio  map[string]string `json:"twilio"`
		Generic map[string]string `json:"generic"`
	}
	r := e.API("GET", "/api/v1/webhooks", e.AdminKey, nil)
	must(t, r, 200, "GET /webhooks")
	decodeAs(t, r, &w)
	for _, f := range []string{"voice_url", "call_status_url", "message_status_url", "incoming_message_url"} {
		u := w.Twilio[f]
		if !strings.HasPrefix(u, apptest.PublicURL+"/") || !strings.Contains(u, e.Workspace.ID) {
			t.Errorf("twilio.%s = %q, want a full URL on %s naming workspace %s", f, u, apptest.PublicURL, e.Workspace.ID)
		}
	}
	if u := w.Generic["call_events_url"]; !strings.HasPrefix(u, apptest.PublicURL+"/") || !strings.Contains(u, e.Workspace.ID) {
		t.Errorf("generic.call_events_url = %q", u)
	}
	if w.Generic["signing_secret"] == "" || w.Generic["bearer_token"] == "" || w.Generic["signing_secret"] == w.Generic["bearer_token"] {
		t.Errorf("generic secrets = %v, want two different non-empty values", w.Generic)
	}

	// The URLs work as given: pasted into Twilio, signed over the exact URL.
	e.AddTrackingNumber(tn(e, 0), "+14155550199")
	voice := w.Twilio["voice_url"]
	form := apptest.Form("CallSid", "CA-url-test", "From", "+14155550150", "To", tn(e, 0), "CallStatus", "ringing")
	r = e.TwilioPostSigned(strings.TrimPrefix(voice, apptest.PublicURL), form, twilio.Sign(apptest.TwilioToken, voice, form))
	if r.Status != 200 || !strings.Contains(string(r.Body), "+14155550199") {
		t.Errorf("POST to the voice_url = %d %s, want TwiML dialling the business line", r.Status, r.Body)
	}
	// The generic URL with the bearer token.
	ev, _ := json.Marshal(generic.Event{EventID: "ev1", CallID: "pbx-1", From: "+14155550150", To: tn(e, 0), Status: "ringing", OccurredAt: time.Now().UTC().Format(time.RFC3339)})
	r = e.Do("POST", strings.TrimPrefix(w.Generic["call_events_url"], apptest.PublicURL), http.Header{
		"Content-Type": {"application/json"}, "Authorization": {"Bearer " + w.Generic["bearer_token"]}}, ev)
	if r.Status/100 != 2 {
		t.Errorf("POST to call_events_url with the bearer token = %d %s", r.Status, r.Body)
	}
}

// ---- secrets ----

func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t)
	const sid = "ACaaaabbbbccccddddeeeeffff00001111"
	const token = "logcanarytwiliotoken5a6b7c8d9e"
	const memberPassword = "log-canary-member-password-77"
	const wrongPassword = "log-canary-wrong-password-88"

	e.AddTrackingNumber(tn(e, 0), "")
	e.Configure("Sorry we missed you.", true, 40)
	must(t, e.API("PUT", "/api/v1/providers/twilio", e.AdminKey, map[string]string{"account_sid": sid, "auth_token": token}), 200, "PUT twilio")
	// The fake Twilio still expects the old credentials: the send fails and its error is logged.
	must(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": mail(e, "canary"), "role": "member", "password": memberPassword}), 201, "add member")
	mk := must(t, e.API("POST", "/api/v1/auth/token", "", map[string]string{"email": mail(e, "canary"), "password": memberPassword}), 201, "member sign-in")["api_key"].(string)
	wantError(t, signIn(t, e, map[string]string{"email": mail(e, "canary"), "password": wrongPassword}), 401, "invalid_credentials", "wrong password")
	k := must(t, e.API("POST", "/api/v1/api-keys", mk, map[string]string{"name": "script"}), 201, "POST api-keys")["key"].(string)
	must(t, e.API("GET", "/api/v1/calls?limit=5", k, nil), 200, "using the new key")
	wantError(t, e.API("GET", "/api/v1/me", k+"x", nil), 401, "unauthorized", "a mangled key")

	var w struct {
		Generic map[string]string `json:"generic"`
	}
	decodeAs(t, e.API("GET", "/api/v1/webhooks", e.AdminKey, nil), &w)
	secret, bearer := w.Generic["signing_secret"], w.Generic["bearer_token"]
	if secret == "" || bearer == "" {
		t.Fatalf("no generic secrets: %v", w.Generic)
	}
	// A missed call through the generic webhook (signed) and one through Twilio.
	must(t, e.GenericPost(generic.Event{EventID: "e1", CallID: "pbx-1", From: "+14155550150", To: tn(e, 0), Status: "missed", OccurredAt: time.Now().UTC().Format(time.RFC3339)}), 202, "generic missed call")
	ev, _ := json.Marshal(generic.Event{EventID: "e2", CallID: "pbx-2", From: "+14155550151", To: tn(e, 0), Status: "missed"})
	r := e.Do("POST", "/webhooks/generic/"+e.Workspace.ID+"/call-events", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + bearer}}, ev)
	must(t, r, 202, "generic with bearer")
	r = e.Do("POST", "/webhooks/generic/"+e.Workspace.ID+"/call-events", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + bearer + "x"}}, ev)
	wantError(t, r, 403, "bad_signature", "generic with a wrong bearer")
	path := e.TwilioPath("call-status")
	form := apptest.Form("CallSid", "CA-log", "From", "+14155550152", "To", tn(e, 0), "CallStatus", "no-answer")
	must(t, e.TwilioPostSigned(path, form, twilio.Sign(token, apptest.PublicURL+path, form)), 204, "twilio missed call")
	e.Settle()
	must(t, e.API("DELETE", "/api/v1/api-keys/"+mustKeyID(t, e, mk, "script"), mk, nil), 204, "delete key")

	logs := e.Logs.String()
	if !strings.Contains(logs, "missed call") {
		t.Fatalf("the logs do not hold the run (nothing logged?): %.500s", logs)
	}
	for name, s := range map[string]string{
		"twilio auth token": token, "old twilio auth token": apptest.TwilioToken,
		"admin API key": e.AdminKey, "member API key": mk, "created API key": k,
		"webhook signing secret": secret, "webhook bearer token": bearer,
		"admin password": "correct horse battery", "member password": memberPassword, "wrong password": wrongPassword,
	} {
		if strings.Contains(logs, s) {
			i := strings.Index(logs, s)
			t.Errorf("the %s is in the logs: …%s…", name, logs[max(0, i-200):min(len(logs), i+len(s)+50)])
		}
	}
}

func mustKeyID(t *testing.T, e *apptest.Env, key, name string) string {
	t.Helper()
	var list struct {
		APIKeys []struct{ ID, Name string } `json:"api_keys"`
	}
	decodeAs(t, e.API("GET", "/api/v1/api-keys", key, nil), &list)
	for _, k := range list.APIKeys {
		if k.Name == name {
			return k.ID
		}
	}
	t.Fatalf("no key named %q", name)
	return ""
}

// ---- request bodies and queries ----

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	big := []byte(`{"message":"` + strings.Repeat("a", 65<<10) + `"}`)
	wantError(t, putMessage(e, e.AdminKey, big), 413, "payload_too_large", "PUT message of 65 KiB")
	big = []byte(`{"name":"` + strings.Repeat("a", 65<<10) + `"}`)
	wantError(t, e.API("POST", "/api/v1/api-keys", e.AdminKey, big), 413, "payload_too_large", "POST api-keys of 65 KiB")
	wantError(t, e.API("POST", "/api/v1/auth/token", "", big), 413, "payload_too_large", "POST auth/token of 65 KiB")
}

func TestNotJSON(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{"name=Annex", "", `{"name":"Annex"`, `{"name":"Annex"} {"name":"B"}`, `["Annex"]`} {
		wantError(t, e.API("POST", "/api/v1/sites", e.AdminKey, []byte(body)), 400, "invalid_json", fmt.Sprintf("POST /sites %q", body))
	}
	wantError(t, e.API("POST", "/api/v1/auth/token", "", []byte("email=a&password=b")), 400, "invalid_json", "auth/token form body")
}

func TestListLimits(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/v1/calls", "/api/v1/messages", "/api/v1/credits/ledger"} {
		for _, q := range []string{"0", "1000", "-1", "ten", "501"} {
			wantError(t, e.API("GET", path+"?limit="+q, e.AdminKey, nil), 400, "", path+"?limit="+q)
		}
		for _, q := range []string{"1", "500"} {
			must(t, e.API("GET", path+"?limit="+q, e.AdminKey, nil), 200, path+"?limit="+q)
		}
	}
	wantError(t, e.API("GET", "/api/v1/calls?outcome=maybe", e.AdminKey, nil), 400, "", "outcome=maybe")
	wantError(t, e.API("GET", "/api/v1/messages?kind=spam", e.AdminKey, nil), 400, "", "kind=spam")
}

func TestUnknownEndpoint(t *testing.T) {
	e := newEnv(t)
	for _, key := range []string{"", e.AdminKey} {
		wantError(t, e.API("GET", "/api/v1/nope", key, nil), 404, "not_found", "GET /api/v1/nope")
		wantError(t, e.API("POST", "/api/v1/sites/"+e.SiteID+"/nope", key, []byte(`{}`)), 404, "not_found", "POST under a site")
	}
	wantError(t, e.API("GET", "/api/v1/sites/site_nope/autoresponder", e.AdminKey, nil), 404, "not_found", "unknown site")
}

// ---- sending ----

func TestSendMessage(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	topUp(t, e, 10, "inv-1")
	r := e.API("POST", "/api/v1/messages", e.AdminKey, map[string]string{"site_id": e.SiteID, "to": "+14155550150", "body": "Hello from the clinic."})
	m := must(t, r, 202, "POST /messages")
	hasFields(t, "message", m, "id", "kind", "site_id", "to", "from", "body", "status", "encoding", "segments", "credits", "provider", "provider_message_id", "error", "created_at")
	if m["kind"] != "standard" || m["credits"] != 4.0 || m["from"] != tn(e, 0) || m["to"] != "+14155550150" {
		t.Errorf("message = %v", m)
	}
	if b := balance(t, e, e.AdminKey); b != 6 {
		t.Errorf("balance after one standard SMS = %d, want 10-4 = 6", b)
	}
	u := must(t, e.API("GET", "/api/v1/usage", e.AdminKey, nil), 200, "GET /usage")
	if u["standard_sms_sent"] != 1.0 || u["credits_used"] != 4.0 {
		t.Errorf("usage after one standard SMS = %v", u)
	}
	e.Settle()
}

func TestSendMessageInvalidTo(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	topUp(t, e, 10, "inv-1")
	for _, to := range []string{"12345", "call me", ""} {
		wantError(t, e.API("POST", "/api/v1/messages", e.AdminKey, map[string]string{"site_id": e.SiteID, "to": to, "body": "Hi"}), 422, "invalid_phone_number", "to "+to)
	}
	if b := balance(t, e, e.AdminKey); b != 10 {
		t.Errorf("balance = %d after refused sends, want 10", b)
	}
}

func TestSendMessageNoTrackingNumber(t *testing.T) {
	e := newEnv(t)
	topUp(t, e, 10, "inv-1")
	wantError(t, e.API("POST", "/api/v1/messages", e.AdminKey, map[string]string{"site_id": e.SiteID, "to": "+14155550150", "body": "Hi"}), 409, "no_tracking_number", "send without tracking number")
	if b := balance(t, e, e.AdminKey); b != 10 {
		t.Errorf("balance = %d, want 10", b)
	}
}

func TestSendMessageInsufficientCredits(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	send := func() *apptest.Response {
		return e.API("POST", "/api/v1/messages", e.AdminKey, map[string]string{"site_id": e.SiteID, "to": "+14155550150", "body": "Hi"})
	}
	wantError(t, send(), 402, "insufficient_credits", "send with 0 credits")
	topUp(t, e, 3, "inv-1")
	wantError(t, send(), 402, "insufficient_credits", "send with 3 credits")
	if b := balance(t, e, e.AdminKey); b != 3 || e.Balance() != 3 {
		t.Errorf("balance = %d after refused sends, want 3", b)
	}
	msgs, err := e.App.DB.Q().ListMessages(context.Background(), e.Workspace.ID, store.MessageFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 0 {
		t.Errorf("refused sends left messages: %+v", msgs)
	}
	for _, m := range e.Twilio.Messages() {
		if m.From == tn(e, 0) {
			t.Errorf("a refused send reached Twilio: %+v", m)
		}
	}
}

// timeFields collects every field named *_at in a decoded JSON value.
func timeFields(prefix string, v any, out map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.HasSuffix(k, "_at") {
				out[prefix+"."+k] = val
			}
			timeFields(prefix+"."+k, val, out)
		}
	case []any:
		for i, val := range x {
			timeFields(fmt.Sprintf("%s[%d]", prefix, i), val, out)
		}
	}
}

func TestTimesAreRFC3339UTC(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	e.Configure("We missed your call.", true, 20)
	must(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": mail(e, "nurse"), "role": "member", "password": "nurse password 1"}), 201, "add member")
	must(t, e.API("POST", "/api/v1/api-keys", e.AdminKey, map[string]string{"name": "script"}), 201, "add key")
	must(t, e.TwilioPost(e.TwilioPath("call-status"), apptest.Form("CallSid", "CAtime", "From", "+14155550150", "To", tn(e, 0), "CallStatus", "no-answer", "CallDuration", "0")), 204, "missed call")
	must(t, e.API("POST", "/api/v1/messages", e.AdminKey, map[string]string{"site_id": e.SiteID, "to": "+14155550151", "body": "Hello."}), 202, "send")
	e.Settle()
	must(t, e.API("GET", "/api/v1/me", e.AdminKey, nil), 200, "me") // marks the key used

	found := 0
	for _, p := range []string{"/api/v1/sites", sitePath(e, "/tracking-numbers"), sitePath(e, "/autoresponder"), "/api/v1/calls",
		"/api/v1/messages", "/api/v1/credits/ledger", "/api/v1/members", "/api/v1/api-keys"} {
		r := e.API("GET", p, e.AdminKey, nil)
		m := must(t, r, 200, "GET "+p)
		ts := map[string]any{}
		timeFields(p, m, ts)
		for name, v := range ts {
			if v == nil {
				continue
			}
			found++
			s, _ := v.(string)
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") {
				t.Errorf("%s = %v, want an RFC 3339 time in UTC", name, v)
			}
		}
	}
	if found < 10 {
		t.Errorf("only %d times were checked", found)
	}
}

func TestCallsFilterBySiteOfAnotherWorkspace(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "")
	must(t, e.TwilioPost(e.TwilioPath("call-status"), apptest.Form("CallSid", "CAmine", "From", "+14155550150", "To", tn(e, 0), "CallStatus", "no-answer")), 204, "missed call")
	other, err := e.App.Svc.CreateWorkspace(context.Background(), service.NewWorkspace{Name: "Other Shop", AdminEmail: "boss@other.test", AdminPassword: "other boss password"})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever the status, the other workspace never sees the calls.
	r := e.API("GET", "/api/v1/calls?site_id="+e.SiteID, other.APIKey, nil)
	if strings.Contains(string(r.Body), "CAmine") || strings.Contains(string(r.Body), "+14155550150") {
		t.Fatalf("another workspace sees the calls: %s", r.Body)
	}
	// Own site: the call is there.
	var out struct {
		Calls []map[string]any `json:"calls"`
	}
	decodeAs(t, e.API("GET", "/api/v1/calls?site_id="+e.SiteID, e.AdminKey, nil), &out)
	if len(out.Calls) != 1 {
		t.Errorf("own site filter: %d calls, want 1", len(out.Calls))
	}
	// openapi.json documents 404 not_found for a site_id that is not in the
	// workspace, and API.md says another workspace's resource is 404.
	wantError(t, r, 404, "not_found", "GET /calls?site_id=<another workspace's site>")
	wantError(t, e.API("GET", "/api/v1/calls?site_id=site_nope", e.AdminKey, nil), 404, "not_found", "GET /calls?site_id=<unknown site>")
}

func TestCallsShape(t *testing.T) {
	e := newEnv(t)
	e.AddTrackingNumber(tn(e, 0), "+14155550199")
	e.Configure("Sorry we missed you.", false, 20)
	// Switch off: skipped with its reason.
	must(t, e.TwilioPost(e.TwilioPath("call-status"), apptest.Form("CallSid", "CAoff", "From", "+14155550150", "To", tn(e, 0), "CallStatus", "no-answer")), 204, "missed call, switch off")
	must(t, putEnabled(e, e.AdminKey, map[string]bool{"enabled": true}), 200, "switch on")
	must(t, e.TwilioPost(e.TwilioPath("call-status"), apptest.Form("CallSid", "CAon", "From", "+14155550151", "To", tn(e, 0), "CallStatus", "busy")), 204, "missed call, switch on")
	// Answered: the business line picks up (the Dial action says so).
	mustStatus(t, e.TwilioPost(e.TwilioPath("voice"), apptest.Form("CallSid", "CAanswered", "From", "+14155550152", "To", tn(e, 0), "CallStatus", "ringing")), 200, "answered call: voice")
	mustStatus(t, e.TwilioPost(e.TwilioPath("dial-status"), apptest.Form("CallSid", "CAanswered", "From", "+14155550152", "To", tn(e, 0), "DialCallStatus", "completed", "DialCallDuration", "42")), 200, "answered call: dial status")
	must(t, e.TwilioPost(e.TwilioPath("call-status"), apptest.Form("CallSid", "CAanswered", "From", "+14155550152", "To", tn(e, 0), "CallStatus", "completed", "CallDuration", "50")), 204, "answered call: call status")
	e.Settle()

	off := e.CallByProviderID("CAoff")
	hasFields(t, "call", off, "id", "site_id", "tracking_number", "caller", "started_at", "ended_at", "outcome", "outcome_detail", "autoreply")
	if off["site_id"] != e.SiteID || off["tracking_number"] != tn(e, 0) || off["caller"] != "+14155550150" || off["outcome"] != "missed" || off["outcome_detail"] != "no-answer" {
		t.Errorf("missed call = %v", off)
	}
	if a, _ := off["autoreply"].(map[string]any); a == nil || a["status"] != "skipped" || a["reason"] != "autoresponder_off" {
		t.Errorf("switch off: autoreply = %v, want skipped with reason autoresponder_off", off["autoreply"])
	}
	on := e.CallByProviderID("CAon")
	a, _ := on["autoreply"].(map[string]any)
	if on["outcome"] != "missed" || on["outcome_detail"] != "busy" || a == nil || a["status"] != "sent" || a["message_id"] == nil {
		t.Errorf("switch on: call = %v, want missed/busy with an autoreply sent", on)
	}
	if ans := e.CallByProviderID("CAanswered"); ans["outcome"] != "answered" || ans["autoreply"] != nil || ans["ended_at"] == nil {
		t.Errorf("answered call = %v, want answered and ended with autoreply null", ans)
	}

	var out struct {
		Calls []map[string]any `json:"calls"`
	}
	decodeAs(t, e.API("GET", "/api/v1/calls?outcome=missed", e.AdminKey, nil), &out)
	if len(out.Calls) != 2 {
		t.Errorf("outcome=missed lists %d calls, want 2", len(out.Calls))
	}
	var msgs struct {
		Messages []map[string]any `json:"messages"`
	}
	decodeAs(t, e.API("GET", "/api/v1/messages?kind=autoreply", e.AdminKey, nil), &msgs)
	if len(msgs.Messages) != 1 {
		t.Fatalf("kind=autoreply lists %d messages, want 1", len(msgs.Messages))
	}
	m := msgs.Messages[0]
	hasFields(t, "message", m, "id", "kind", "site_id", "to", "from", "body", "status", "encoding", "segments", "credits", "provider", "provider_message_id", "error", "created_at")
	if m["id"] != a["message_id"] || m["to"] != "+14155550151" || m["from"] != tn(e, 0) || m["body"] != "Sorry we missed you." || m["credits"] != 4.0 || m["provider"] != "twilio" {
		t.Errorf("the autoreply = %v", m)
	}
	if b := balance(t, e, e.AdminKey); b != 16 {
		t.Errorf("balance = %d after one autoreply, want 20-4 = 16", b)
	}
	u := must(t, e.API("GET", "/api/v1/usage", e.AdminKey, nil), 200, "usage")
	if u["autoreply_sms_sent"] != 1.0 || u["standard_sms_sent"] != 0.0 || u["credits_used"] != 4.0 {
		t.Errorf("usage = %v, want 1 autoreply, 0 standard, 4 credits used", u)
	}
}
