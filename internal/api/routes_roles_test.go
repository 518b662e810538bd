package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/internal/api"
	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/web"
)

// uiCase says how to call one signed-in route of the UI's route table.
type uiCase struct {
	path    func(f *uiFixture) string
	form    func(f *uiFixture) url.Values // POST only
	foreign bool                          // names the first workspace's resource by id: another workspace's admin gets 404 (a site the signed-in member does not have falls back to one of theirs)
	ok      int                           // what the first workspace's admin gets; 0: any answer that is not a refusal
}

type uiFixture struct {
	e          *apptest.Env
	numberID   string
	adminKeyID string
	n          int // for unique numbers
}

func uiPath(p string) func(*uiFixture) string { return func(*uiFixture) string { return p } }
func uiSite(p string) func(*uiFixture) string {
	return func(f *uiFixture) string { return p + "?site=" + f.e.SiteID }
}
func siteForm(kv ...string) func(*uiFixture) url.Values {
	return func(f *uiFixture) url.Values {
		v := url.Values{"site": {f.e.SiteID}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
}

// uiCases must hold every Member and Admin route of the UI's route table:
// a new page without a rule fails TestEveryRouteByRole.
var uiCases = map[string]uiCase{
	"POST /workspace":                   {path: uiPath("/workspace"), form: func(f *uiFixture) url.Values { return url.Values{"workspace": {f.e.Workspace.ID}} }},
	"GET /calls":                        {path: uiSite("/calls"), ok: 200},
	"GET /calls/autoresponder":          {path: uiSite("/calls/autoresponder"), ok: 200},
	"POST /calls/autoresponder/message": {path: uiPath("/calls/autoresponder/message"), form: siteForm("message", "We missed you.")},
	"POST /calls/autoresponder/enabled": {path: uiPath("/calls/autoresponder/enabled"), form: siteForm("enabled", "true")},
	"POST /calls/autoresponder/preview": {path: uiPath("/calls/autoresponder/preview"), form: siteForm("message", "Hi")},
	"POST /calls/simulate":              {path: uiPath("/calls/simulate"), form: siteForm(), ok: 404}, // demo mode only
	"GET /calls/settings":               {path: uiSite("/calls/settings"), ok: 200},
	"POST /calls/settings/numbers": {path: uiPath("/calls/settings/numbers"), form: func(f *uiFixture) url.Values {
		f.n++
		return url.Values{"site": {f.e.SiteID}, "number": {tn(f.e, 10+f.n)}, "provider": {"twilio"}, "sms_provider": {"simulated"}}
	}},
	"POST /calls/settings/numbers/{id}/delete": {path: func(f *uiFixture) string { return "/calls/settings/numbers/" + f.numberID + "/delete" }, form: siteForm(), foreign: true},
	"POST /calls/settings/twilio":              {path: uiPath("/calls/settings/twilio"), form: siteForm("account_sid", apptest.TwilioSID, "auth_token", apptest.TwilioToken)},
	"POST /calls/settings/smpp":                {path: uiPath("/calls/settings/smpp"), form: siteForm("host", "127.0.0.1", "port", "1", "system_id", "x", "password", "x")},
	"POST /calls/settings/kannel":              {path: uiPath("/calls/settings/kannel"), form: siteForm("sendsms_url", "http://127.0.0.1:1/cgi-bin/sendsms", "username", "x", "password", "x")},
	"POST /calls/settings/webhook-secret":      {path: uiPath("/calls/settings/webhook-secret"), form: siteForm()},
	"GET /billing":                             {path: uiPath("/billing"), ok: 200},
	"GET /billing/ledger.csv":                  {path: uiPath("/billing/ledger.csv"), ok: 200},
	"POST /billing/top-ups":                    {path: uiPath("/billing/top-ups"), form: siteForm("credits", "5", "reference", "roles walk")},
	"GET /usage":                               {path: uiPath("/usage"), ok: 200},
	"GET /members":                             {path: uiPath("/members"), ok: 200},
	"POST /members":                            {path: uiPath("/members"), form: siteForm("email", "walker@clinic.test", "role", "member", "password", "walker password")},
	"GET /account/keys":                        {path: uiPath("/account/keys"), ok: 200},
	"POST /account/keys":                       {path: uiPath("/account/keys"), form: siteForm("name", "walk")},
	"POST /account/keys/{id}/delete":           {path: func(f *uiFixture) string { return "/account/keys/" + f.adminKeyID + "/delete" }, form: siteForm(), foreign: true},
}

// uiClient is a browser: a cookie jar, same-origin posts, no redirects followed.
type uiClient struct {
	e *apptest.Env
	c *http.Client
}

func newUIClient(t *testing.T, e *apptest.Env, email, password string) *uiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &uiClient{e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if email != "" {
		if r := u.do("POST", "/signin", url.Values{"email": {email}, "password": {password}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("signing in %s: %d", email, r.StatusCode)
		}
	}
	return u
}

func (u *uiClient) do(method, path string, form url.Values) *http.Response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u.e.Server.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", u.e.Server.URL)
	}
	resp, err := u.c.Do(req)
	if err != nil {
		panic(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// checkSecurityHeaders: every page and API answer carries them.
func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("%s: Content-Security-Policy %q", what, csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
		t.Errorf("%s: X-Content-Type-Options %q, Referrer-Policy %q", what, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
	}
}

// TestEveryRouteByRole walks both route tables, the API's (its rules are
// accessCases and publicRoutes, TestAccessMatrix's) and the UI's (uiCases),
// with {no key or session, member, admin, admin of another workspace}: 401
// (or the sign-in page), 403 for members on admin routes, 404 for another
// workspace's resources, success for the admin; a route without a rule
// fails. Every answer carries the security headers.
func TestEveryRouteByRole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	numberID := e.AddTrackingNumber(tn(e, 0), "")
	e.Configure("We missed your call.", false, 100)
	memberEmail := mail(e, "walker-member")
	must(t, e.API("POST", "/api/v1/members", e.AdminKey, map[string]string{"email": memberEmail, "role": "member", "password": "member password"}), 201, "member")
	memberKey := must(t, e.API("POST", "/api/v1/auth/token", "", map[string]string{"email": memberEmail, "password": "member password", "workspace_id": e.Workspace.ID}), 201, "member key")["api_key"].(string)
	otherEmail := mail(e, "walker-boss")
	other, err := e.App.Svc.CreateWorkspace(ctx, service.NewWorkspace{Name: "Other Shop", TimeZone: "UTC", AdminEmail: otherEmail, AdminPassword: "other boss password"})
	if err != nil {
		t.Fatal(err)
	}
	k := must(t, e.API("POST", "/api/v1/api-keys", e.AdminKey, map[string]string{"name": "walk"}), 201, "key")
	af := &accessFixture{e: e, tnID: numberID, keyID: k["id"].(string)}
	// The UI's deletes get resources of their own (the API's walk deletes its).
	uiNumber := must(t, e.API("POST", "/api/v1/sites/"+e.SiteID+"/tracking-numbers", e.AdminKey, map[string]any{"number": tn(e, 1), "provider": "twilio"}), 201, "number")["id"].(string)
	uiKey := must(t, e.API("POST", "/api/v1/api-keys", e.AdminKey, map[string]string{"name": "walk ui"}), 201, "key")["id"].(string)
	f := &uiFixture{e: e, numberID: uiNumber, adminKeyID: uiKey}

	checks := 0
	api4 := func(method, path, key string, body any) *apptest.Response {
		r := e.API(method, path, key, body)
		checkSecurityHeaders(t, method+" "+path, r.Header)
		checks++
		return r
	}
	// The API's table.
	apiRoutes := (&api.Server{}).Routes()
	sort.SliceStable(apiRoutes, func(i, j int) bool { return apiRoutes[i].Method != "DELETE" && apiRoutes[j].Method == "DELETE" })
	nAPI := 0
	for _, rt := range apiRoutes {
		name := rt.Method + " " + rt.Pattern
		switch rt.Access {
		case api.Public:
			pc, ok := publicRoutes[name]
			if !ok {
				t.Errorf("API route %s has no rule", name)
				continue
			}
			var body any
			if pc.body != nil {
				body = pc.body(af)
			}
			if r := api4(rt.Method, rt.Pattern, "", body); r.Status != pc.status {
				t.Errorf("%s without a key = %d", name, r.Status)
			}
			nAPI++
			continue
		case api.Webhook:
			if _, ok := webhookCases[name]; !ok {
				t.Errorf("webhook route %s has no rule (webhookCases)", name)
			}
			nAPI++ // walked by TestWebhooksRejectUnsigned: signatures, not roles
			continue
		}
		c, ok := accessCases[name]
		if !ok {
			t.Errorf("API route %s has no rule (accessCases)", name)
			continue
		}
		nAPI++
		body := func() any {
			if c.body == nil {
				return nil
			}
			return c.body(af)
		}
		path := c.path(af)
		if r := api4(rt.Method, path, "", body()); r.Status != 401 {
			t.Errorf("%s without a key = %d, want 401", name, r.Status)
		}
		r := api4(rt.Method, path, memberKey, body())
		if rt.Access == api.Admin && r.Status != 403 {
			t.Errorf("%s as a member = %d, want 403", name, r.Status)
		} else if rt.Access == api.Member && (r.Status == 401 || r.Status == 403 || r.Status >= 500) {
			t.Errorf("%s as a member = %d, want it allowed", name, r.Status)
		}
		if c.foreign {
			if r := api4(rt.Method, path, other.APIKey, body()); r.Status != 404 {
				t.Errorf("%s as another workspace's admin = %d, want 404", name, r.Status)
			}
		} else if r := api4(rt.Method, path, other.APIKey, body()); r.Status >= 500 || r.Status == 401 {
			t.Errorf("%s as another workspace's admin (its own workspace) = %d", name, r.Status)
		}
		if r := api4(rt.Method, path, e.AdminKey, body()); r.Status >= 400 && rt.Method != "DELETE" && rt.Method != "POST" {
			t.Errorf("%s as the admin = %d %s", name, r.Status, r.Body)
		}
	}

	// The UI's table.
	anon := newUIClient(t, e, "", "")
	member := newUIClient(t, e, memberEmail, "member password")
	admin := newUIClient(t, e, adminEmail(e), "correct horse battery")
	otherAdmin := newUIClient(t, e, otherEmail, "other boss password")
	call := func(u *uiClient, method, path string, form url.Values) *http.Response {
		if method == "GET" {
			form = nil
		}
		r := u.do(method, path, form)
		checkSecurityHeaders(t, method+" "+path, r.Header)
		checks++
		return r
	}
	uiRoutes := (&web.UI{}).Routes()
	sort.SliceStable(uiRoutes, func(i, j int) bool {
		return !strings.HasSuffix(uiRoutes[i].Pattern, "/delete") && strings.HasSuffix(uiRoutes[j].Pattern, "/delete")
	})
	nUI := 0
	// First pass: no session, and another workspace's admin, who must
	// change nothing of the first workspace.
	firstState := func() string {
		var b strings.Builder
		for _, p := range []string{"/api/v1/sites/" + e.SiteID + "/tracking-numbers", "/api/v1/sites/" + e.SiteID + "/autoresponder", "/api/v1/webhooks", "/api/v1/members", "/api/v1/credits", "/api/v1/api-keys", "/api/v1/providers"} {
			b.WriteString(p + ": " + string(e.API("GET", p, e.AdminKey, nil).Body) + "\n")
		}
		return b.String()
	}
	before := firstState()
	for _, rt := range uiRoutes {
		name := rt.Method + " " + rt.Pattern
		if rt.Access == web.Public {
			path := strings.Replace(rt.Pattern, "{$}", "", 1)
			if rt.Pattern == "/static/" {
				path = "/static/app.css"
			}
			if r := call(anon, rt.Method, path, url.Values{}); r.StatusCode >= 500 {
				t.Errorf("public page %s without a session = %d", name, r.StatusCode)
			}
			nUI++
			continue
		}
		c, ok := uiCases[name]
		if !ok {
			t.Errorf("UI route %s has no rule (uiCases)", name)
			continue
		}
		nUI++
		path := c.path(f)
		form := url.Values{}
		if c.form != nil {
			form = c.form(f)
		}
		r := call(anon, rt.Method, path, form)
		if rt.Method == "GET" && (r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/signin")) {
			t.Errorf("%s without a session = %d %s, want the sign-in page", name, r.StatusCode, r.Header.Get("Location"))
		} else if rt.Method == "POST" && r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a session = %d, want 401", name, r.StatusCode)
		}
		r = call(otherAdmin, rt.Method, path, form)
		if c.foreign && r.StatusCode != http.StatusNotFound {
			t.Errorf("%s as another workspace's admin = %d, want 404", name, r.StatusCode)
		} else if !c.foreign && (r.StatusCode >= 500 || r.StatusCode == 401) {
			t.Errorf("%s as another workspace's admin (its own workspace) = %d", name, r.StatusCode)
		}
	}
	if after := firstState(); after != before {
		t.Errorf("another workspace's admin changed the first workspace through the UI:\n%s", diffLines(before, after))
	}
	// Second pass: the member (refused admin pages), then the admin (allowed).
	for _, rt := range uiRoutes {
		c, ok := uiCases[rt.Method+" "+rt.Pattern]
		if !ok {
			continue
		}
		name := rt.Method + " " + rt.Pattern
		path := c.path(f)
		form := url.Values{}
		if c.form != nil {
			form = c.form(f)
		}
		r := call(member, rt.Method, path, form)
		if rt.Access == web.Admin && r.StatusCode != http.StatusForbidden {
			t.Errorf("%s as a member = %d, want 403", name, r.StatusCode)
		} else if rt.Access == web.Member && (r.StatusCode == 401 || r.StatusCode == 403 || r.StatusCode >= 500) {
			t.Errorf("%s as a member = %d, want it allowed", name, r.StatusCode)
		}
		r = call(admin, rt.Method, path, form)
		if (c.ok != 0 && r.StatusCode != c.ok) || (c.ok == 0 && r.StatusCode >= 400) {
			t.Errorf("%s as the admin = %d, want %d", name, r.StatusCode, c.ok)
		}
	}
	for name := range uiCases {
		found := false
		for _, rt := range uiRoutes {
			found = found || rt.Method+" "+rt.Pattern == name
		}
		if !found {
			t.Errorf("uiCases has %s, which is not a route", name)
		}
	}
	report := fmt.Sprintf("routes × roles: %d API routes and %d UI routes walked with no key/session, member, admin and another workspace's admin: %d requests, each with its security headers checked", nAPI, nUI, checks)
	t.Log(report)
	fmt.Println("access-test: " + report)
}

// TestSessionCookieFlags: the session cookie is HttpOnly, SameSite and,
// behind an https public URL (apptest's), Secure.
func TestSessionCookieFlags(t *testing.T) {
	e := newEnv(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", e.Server.URL+"/signin", strings.NewReader(url.Values{"email": {adminEmail(e)}, "password": {"correct horse battery"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.Server.URL)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) == 0 {
		t.Fatalf("sign-in: %d, cookies %v", resp.StatusCode, cookies)
	}
	for _, ck := range cookies {
		if !ck.HttpOnly || ck.SameSite == http.SameSiteNoneMode || ck.SameSite == http.SameSiteDefaultMode {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %v", ck.Name, ck.HttpOnly, ck.SameSite)
		}
		if !ck.Secure {
			t.Errorf("cookie %s is not Secure behind an https public URL (%s)", ck.Name, apptest.PublicURL)
		}
	}
}

// TestPasswordHashCost: production hashes passwords with bcrypt cost 12
// (tests lower auth.BcryptCost for speed; the default is read from the
// source so that the lowering cannot hide a change).
func TestPasswordHashCost(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "auth", "auth.go"))
	if err != nil {
		t.Skip("auth.go not found beside the api package:", err)
	}
	if !strings.Contains(string(src), "var BcryptCost = 12") {
		t.Errorf("auth.BcryptCost's default is no longer 12: production hashes need cost 10 or more")
	}
	h, err := auth.HashPassword("correct horse battery")
	if err != nil || !strings.HasPrefix(h, "$2a$") {
		t.Errorf("HashPassword = %q, %v: want a bcrypt hash", h, err)
	}
}

// TestNoKeyOrPasswordInTheDatabase scans the SQLite file (WAL checkpointed)
// for every API key, session and password the run created: only their
// hashes may be stored.
func TestNoKeyOrPasswordInTheDatabase(t *testing.T) {
	if apptest.Database() != "sqlite" {
		t.Skip("scans the SQLite file")
	}
	e := apptest.New(t)
	e.AddTrackingNumber("+14155550100", "")
	memberKey := e.AddMember("scan@clinic.test", "member")
	k := e.API("POST", "/api/v1/api-keys", e.AdminKey, map[string]string{"name": "scan"}).JSON(t)["key"].(string)
	u := newUIClient(t, e, "scan@clinic.test", "member password")
	var session string
	for _, c := range u.c.Jar.Cookies(mustURL(t, e.Server.URL)) {
		session += c.Value
	}
	if _, err := e.App.DB.SQL.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(e.App.DB.Path + suffix)
		data = append(data, b...)
	}
	if len(data) == 0 {
		t.Fatal("the database file is empty")
	}
	for name, secret := range map[string]string{"admin key": e.AdminKey, "member key": memberKey, "created key": k,
		"session cookie": session, "admin password": "correct horse battery", "member password": "member password"} {
		if secret == "" {
			t.Errorf("%s is empty", name)
			continue
		}
		if strings.Contains(string(data), secret) {
			t.Errorf("the %s is stored in the clear in the database file", name)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestUISignInLimitedAndNoSecretInLogs drives the UI path: settings forms
// carrying secrets (Twilio token, SMPP and Kannel passwords), sign-ins
// right and wrong until the limiter answers 429, a missed call; then scans
// every log line of the run for each secret it set.
func TestUISignInLimitedAndNoSecretInLogs(t *testing.T) {
	e := apptest.New(t)
	e.AddTrackingNumber("+14155550100", "+14155550199")
	e.Configure("We missed your call.", true, 100)
	const (
		twilioCanary = "uicanarytwiliotoken0a1b2c3d4e5f"
		smppCanary   = "uicanary-smpp-pw"
		kannelCanary = "uicanary-kannel-pw"
		wrongCanary  = "uicanary-wrong-password"
	)
	admin := newUIClient(t, e, "admin@clinic.test", "correct horse battery")
	var session string
	for _, c := range admin.c.Jar.Cookies(mustURL(t, e.Server.URL)) {
		session += c.Value
	}
	for path, form := range map[string]url.Values{
		"/calls/settings/twilio": {"account_sid": {apptest.TwilioSID}, "auth_token": {twilioCanary}},
		"/calls/settings/smpp":   {"host": {"127.0.0.1"}, "port": {"1"}, "system_id": {"canary"}, "password": {smppCanary}},
		"/calls/settings/kannel": {"sendsms_url": {"http://127.0.0.1:1/cgi-bin/sendsms"}, "username": {"canary"}, "password": {kannelCanary}},
	} {
		if r := admin.do("POST", path, form); r.StatusCode != http.StatusSeeOther {
			t.Errorf("POST %s = %d", path, r.StatusCode)
		}
	}
	e.Configure("We missed your call.", true, 100)
	e.GenericPost(generic.Event{EventID: "ui-log-1", CallID: "ui-log-1", From: "+14155550150", To: "+14155550100", Status: "missed", OccurredAt: time.Now().UTC().Format(time.RFC3339)})
	e.Settle()
	// Sign-in limiting on the UI: wrong passwords until 429.
	anon := newUIClient(t, e, "", "")
	limited := 0
	for i := 0; i < 15; i++ {
		r := anon.do("POST", "/signin", url.Values{"email": {"admin@clinic.test"}, "password": {wrongCanary}})
		if r.StatusCode == http.StatusTooManyRequests {
			limited = i + 1
			break
		}
	}
	if limited == 0 || limited > 11 {
		t.Errorf("the UI's sign-in was not limited within 11 wrong passwords (429 at try %d)", limited)
	}
	if r := anon.do("POST", "/signin", url.Values{"email": {"admin@clinic.test"}, "password": {"correct horse battery"}}); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a right password during the lock = %d, want 429", r.StatusCode)
	}
	logs := e.Logs.String()
	if !strings.Contains(logs, "/signin") {
		t.Fatalf("the logs do not hold the run: %.300s", logs)
	}
	lines := strings.Count(logs, "\n")
	for name, s := range map[string]string{"Twilio token": twilioCanary, "SMPP password": smppCanary, "Kannel password": kannelCanary,
		"wrong password": wrongCanary, "admin password": "correct horse battery", "session cookie": session,
		"admin API key": e.AdminKey, "webhook secret": e.Workspace.WebhookSecret} {
		if s == "" {
			t.Errorf("%s is empty", name)
		} else if strings.Contains(logs, s) {
			t.Errorf("the %s is in the logs", name)
		}
	}
	msg := fmt.Sprintf("UI sign-in limited at wrong password %d; %d log lines scanned for 8 secrets set through the UI and API: none found", limited, lines)
	t.Log(msg)
	fmt.Println("access-test: " + msg)
}
