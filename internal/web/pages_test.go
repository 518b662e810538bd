package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/web"
)

const (
	adminEmail    = "admin@clinic.test"
	adminPassword = "correct horse battery"
	// apptest.Env.AddMember gives members this password.
	memberPassword = "member password"
)

// browser is a signed-in member: a cookie jar, same-origin form posts, and
// redirects not followed so that each answer can be checked.
type browser struct {
	t      *testing.T
	e      *apptest.Env
	client *http.Client
	origin string // the Origin header of posts
}

type answer struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

func newBrowser(t *testing.T, e *apptest.Env) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: e, origin: e.Server.URL, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func signIn(t *testing.T, e *apptest.Env, email, password string) *browser {
	t.Helper()
	b := newBrowser(t, e)
	a := b.post("/signin", url.Values{"email": {email}, "password": {password}})
	if a.Status != http.StatusSeeOther {
		t.Fatalf("signing in %s: %d %s", email, a.Status, a.Body)
	}
	return b
}

func (b *browser) do(req *http.Request) answer {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return answer{Status: resp.StatusCode, Body: string(body), Header: resp.Header, Location: resp.Header.Get("Location")}
}

func (b *browser) get(path string) answer {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.e.Server.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) answer {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.e.Server.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	return b.do(req)
}

// page GETs a page that must answer 200.
func (b *browser) page(path string) string {
	b.t.Helper()
	a := b.get(path)
	if a.Status != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, a.Status, a.Body)
	}
	return a.Body
}

func wantStatus(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.Status != status {
		t.Fatalf("%s: got %d, want %d\n%s", what, a.Status, status, a.Body)
	}
}

// mustContain checks the HTML, or its text once entities are decoded
// (html/template writes + as &#43;).
func mustContain(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	text := html.UnescapeString(body)
	for _, s := range subs {
		if !strings.Contains(body, s) && !strings.Contains(text, s) {
			t.Errorf("%s does not contain %q", what, s)
		}
	}
}

// mustNotContain checks the HTML and its decoded text.
func mustNotContain(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	text := html.UnescapeString(body)
	for _, s := range subs {
		if strings.Contains(body, s) || strings.Contains(text, s) {
			t.Errorf("%s contains %q", what, s)
		}
	}
}

// elementText is the text of the element with the id (no nested tags).
func elementText(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no element #%s in the page", id)
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// inputValue is the value attribute of the input with the id.
func inputValue(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<input id="` + regexp.QuoteMeta(id) + `"[^>]*?value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no input #%s with a value in the page", id)
	}
	return html.UnescapeString(m[1])
}

func numbers(t *testing.T, e *apptest.Env) []store.TrackingNumber {
	t.Helper()
	tns, err := e.App.DB.Q().ListTrackingNumbers(context.Background(), e.SiteID)
	if err != nil {
		t.Fatal(err)
	}
	return tns
}

func workspace(t *testing.T, e *apptest.Env) *store.Workspace {
	t.Helper()
	ws, err := e.App.DB.Q().GetWorkspace(context.Background(), e.Workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// adminState is everything an admin-only form can change.
func adminState(t *testing.T, e *apptest.Env) string {
	t.Helper()
	ctx := context.Background()
	ws := workspace(t, e)
	ms, err := e.App.DB.Q().ListMembers(ctx, e.Workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := e.App.Svc.TwilioSettings(ctx, e.Workspace.ID)
	if err != nil {
		t.Fatal(err)
	}
	var tns []string
	for _, tn := range numbers(t, e) {
		tns = append(tns, tn.ID+":"+tn.Number)
	}
	smpp, _ := e.App.Svc.SMPPSettings(ctx, e.Workspace.ID)
	kannel, _ := e.App.Svc.KannelSettings(ctx, e.Workspace.ID)
	return fmt.Sprintf("numbers=%v balance=%d secret=%s token=%s members=%d twilio=%s/%s smpp=%+v kannel=%+v",
		tns, ws.Balance, ws.WebhookSecret, ws.WebhookToken, len(ms), ts.AccountSID, ts.AuthToken, smpp, kannel)
}

// adminPost is a filled-in form for each admin POST route.
func adminPost(t *testing.T, e *apptest.Env, pattern, numberID string) (string, url.Values) {
	site := url.Values{"site": {e.SiteID}}
	switch pattern {
	case "/calls/settings/numbers":
		return pattern, url.Values{"site": {e.SiteID}, "number": {"+14155550177"}, "provider": {"twilio"}, "sms_provider": {"simulated"}}
	case "/calls/settings/numbers/{id}/delete":
		return strings.Replace(pattern, "{id}", numberID, 1), site
	case "/calls/settings/twilio":
		return pattern, url.Values{"account_sid": {"AC" + strings.Repeat("f", 32)}, "auth_token": {strings.Repeat("a", 32)}}
	case "/calls/settings/webhook-secret":
		return pattern, site
	case "/calls/settings/smpp":
		return pattern, url.Values{"host": {"127.0.0.1"}, "port": {"1"}, "system_id": {"intruder"}, "password": {"intruder"}}
	case "/calls/settings/kannel":
		return pattern, url.Values{"sendsms_url": {"http://127.0.0.1:1/cgi-bin/sendsms"}, "username": {"intruder"}, "password": {"intruder"}}
	case "/billing/top-ups":
		return pattern, url.Values{"credits": {"500"}, "reference": {"member attempt"}}
	case "/members":
		return pattern, url.Values{"email": {"intruder@clinic.test"}, "role": {"admin"}, "password": {"intruder password"}}
	}
	t.Fatalf("admin route %s has no form in adminPost: add one", pattern)
	return "", nil
}

func TestMemberIsRefusedAdminPages(t *testing.T) {
	e := apptest.New(t)
	numberID := e.AddTrackingNumber("+14155550100", "+14155550199")
	e.AddMember("member@clinic.test", "member")
	m := signIn(t, e, "member@clinic.test", memberPassword)

	calls := m.page("/calls")
	mustNotContain(t, "a member's call log", calls, `id="tab-settings"`, `href="/calls/settings`)
	mustNotContain(t, "a member's sidebar", calls, `id="nav-members"`)
	for _, path := range []string{"/calls/settings", "/calls/settings?site=" + e.SiteID, "/members"} {
		a := m.get(path)
		wantStatus(t, "member GET "+path, a, http.StatusForbidden)
		mustNotContain(t, "the 403 page", a.Body, e.Workspace.WebhookSecret, `id="tn-number"`)
	}
	mustNotContain(t, "a member's billing page", m.page("/billing"), `id="topup-form"`)

	before := adminState(t, e)
	n := 0
	for _, rt := range (&web.UI{}).Routes() {
		if rt.Access != web.Admin || rt.Method != "POST" {
			continue
		}
		n++
		path, form := adminPost(t, e, rt.Pattern, numberID)
		wantStatus(t, "member POST "+path, m.post(path, form), http.StatusForbidden)
	}
	if n < 6 {
		t.Errorf("only %d admin POST routes were tried", n)
	}
	if after := adminState(t, e); after != before {
		t.Errorf("refused posts changed the workspace:\nbefore: %s\nafter:  %s", before, after)
	}

	// Control: the same forms, sent by an admin, change it.
	a := signIn(t, e, adminEmail, adminPassword)
	for _, rt := range (&web.UI{}).Routes() {
		if rt.Access == web.Admin && rt.Method == "POST" {
			path, form := adminPost(t, e, rt.Pattern, numberID)
			wantStatus(t, "admin POST "+path, a.post(path, form), http.StatusSeeOther)
		}
	}
	if after := adminState(t, e); after == before {
		t.Errorf("control: the admin's posts changed nothing either, so the check above proves nothing")
	}
}

func TestAdminManagesTrackingNumbers(t *testing.T) {
	e := apptest.New(t)
	a := signIn(t, e, adminEmail, adminPassword)

	p := a.page("/calls/settings")
	mustContain(t, "the settings page", p, `id="tn-number"`, `id="tn-label"`, `id="tn-forward-to"`, `id="tn-provider"`,
		`id="tn-sms-provider"`, `id="add-number"`, `id="no-numbers"`, `name="site" value="`+e.SiteID+`"`)
	if v := inputValue(t, p, "tn-ring-timeout"); v != "20" {
		t.Errorf("the ring timeout defaults to %q, want 20", v)
	}

	add := url.Values{"site": {e.SiteID}, "number": {"+1 415 555 0111"}, "label": {"Flyer <spring>"}, "forward_to": {"+14155550199"},
		"ring_timeout_seconds": {"25"}, "provider": {"twilio"}, "sms_provider": {"simulated"}}
	r := a.post("/calls/settings/numbers", add)
	wantStatus(t, "adding a number", r, http.StatusSeeOther)
	if !strings.HasPrefix(r.Location, "/calls/settings?") || !strings.Contains(r.Location, "saved=number") || !strings.Contains(r.Location, "site="+e.SiteID) {
		t.Errorf("after adding, redirected to %q", r.Location)
	}
	tns := numbers(t, e)
	if len(tns) != 1 || tns[0].Number != "+14155550111" || tns[0].Label != "Flyer <spring>" || tns[0].RingTimeoutSeconds != 25 ||
		tns[0].SMSProvider != "simulated" || tns[0].ForwardTo == nil || *tns[0].ForwardTo != "+14155550199" {
		t.Fatalf("stored numbers: %+v", tns)
	}
	p = a.page(r.Location)
	mustNotContain(t, "the settings page", strings.ReplaceAll(p, "&lt;spring&gt;", ""), "<spring>")
	mustContain(t, "the settings page after adding", p, "Tracking number added.", "+14155550111", "Flyer &lt;spring&gt;", "+14155550199", "25 s",
		`action="/calls/settings/numbers/`+tns[0].ID+`/delete"`)

	// A bad number: the message names it, the form keeps what was typed, nothing is added.
	bad := url.Values{"site": {e.SiteID}, "number": {"12"}, "label": {"Radio ad"}, "forward_to": {"+14155550199"},
		"ring_timeout_seconds": {"30"}, "provider": {"generic"}, "sms_provider": {"simulated"}}
	r = a.post("/calls/settings/numbers", bad)
	wantStatus(t, "adding a bad number", r, http.StatusUnprocessableEntity)
	mustContain(t, "the refused form", r.Body, "“12” is not a valid phone number: write it in international format, e.g. +14155550123",
		`aria-invalid="true"`, `<option value="generic" selected>`)
	for id, want := range map[string]string{"tn-number": "12", "tn-label": "Radio ad", "tn-forward-to": "+14155550199", "tn-ring-timeout": "30"} {
		if got := inputValue(t, r.Body, id); got != want {
			t.Errorf("after the refusal #%s holds %q, want %q", id, got, want)
		}
	}
	bad.Set("number", "+14155550122")
	bad.Set("forward_to", "not a number")
	r = a.post("/calls/settings/numbers", bad)
	wantStatus(t, "a bad forward-to number", r, http.StatusUnprocessableEntity)
	mustContain(t, "the refused form", r.Body, "The forward-to number “not a number” is not a valid phone number")
	bad.Set("forward_to", "")
	bad.Set("ring_timeout_seconds", "soon")
	r = a.post("/calls/settings/numbers", bad)
	wantStatus(t, "a bad ring timeout", r, http.StatusUnprocessableEntity)
	mustContain(t, "the refused form", r.Body, "The ring timeout is 5 to 120 seconds.")
	if n := len(numbers(t, e)); n != 1 {
		t.Fatalf("refused forms added numbers: %d", n)
	}

	// A number that is already a tracking number.
	add.Set("number", "+14155550111")
	r = a.post("/calls/settings/numbers", add)
	wantStatus(t, "adding a taken number", r, http.StatusConflict)
	mustContain(t, "the refused form", r.Body, "This number is already a tracking number.")

	// Another workspace's number cannot be removed from this one.
	other, err := e.App.Svc.CreateWorkspace(context.Background(), service.NewWorkspace{Name: "Other", AdminEmail: "other@example.test", AdminPassword: "other password"})
	if err != nil {
		t.Fatal(err)
	}
	otherTN, err := e.App.Svc.AddTrackingNumber(context.Background(), other.Workspace.ID, other.Site.ID, service.NewTrackingNumber{Number: "+14155550188", Provider: "generic"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "removing another workspace's number", a.post("/calls/settings/numbers/"+otherTN.ID+"/delete", url.Values{"site": {e.SiteID}}), http.StatusNotFound)
	if _, err := e.App.DB.Q().TrackingNumberByNumber(context.Background(), other.Workspace.ID, "+14155550188"); err != nil {
		t.Errorf("the other workspace's number: %v", err)
	}
	mustNotContain(t, "the settings page", a.page("/calls/settings"), "+14155550188", other.Workspace.WebhookSecret)

	// Remove.
	r = a.post("/calls/settings/numbers/"+tns[0].ID+"/delete", url.Values{"site": {e.SiteID}})
	wantStatus(t, "removing the number", r, http.StatusSeeOther)
	if n := len(numbers(t, e)); n != 0 {
		t.Fatalf("%d numbers left after removing", n)
	}
	p = a.page(r.Location)
	mustContain(t, "the settings page after removing", p, "Tracking number removed.", `id="no-numbers"`)
	wantStatus(t, "removing it again", a.post("/calls/settings/numbers/"+tns[0].ID+"/delete", url.Values{"site": {e.SiteID}}), http.StatusNotFound)
}

func TestWebhookSettings(t *testing.T) {
	e := apptest.New(t)
	a := signIn(t, e, adminEmail, adminPassword)
	p := a.page("/calls/settings")
	urls := e.App.Svc.TwilioURLs(e.Workspace.ID)
	for id, want := range map[string]string{
		"url-twilio-voice": urls.Voice, "url-twilio-dial-status": urls.DialStatus, "url-twilio-call-status": urls.CallStatus,
		"url-twilio-message-status": urls.MessageStatus, "url-twilio-incoming-message": urls.IncomingMessage,
		"generic-url": e.App.Svc.GenericCallEventsURL(e.Workspace.ID), "generic-secret": e.Workspace.WebhookSecret, "generic-token": e.Workspace.WebhookToken,
	} {
		if got := inputValue(t, p, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
		mustContain(t, "the settings page", p, `data-copy="`+id+`"`)
	}
	mustContain(t, "the settings page", p, `id="regenerate-secret"`, `data-confirm="Regenerate`)

	r := a.post("/calls/settings/webhook-secret", url.Values{"site": {e.SiteID}})
	wantStatus(t, "regenerating", r, http.StatusSeeOther)
	ws := workspace(t, e)
	if ws.WebhookSecret == e.Workspace.WebhookSecret || ws.WebhookToken == e.Workspace.WebhookToken ||
		!strings.HasPrefix(ws.WebhookSecret, "whsec_") || !strings.HasPrefix(ws.WebhookToken, "whtok_") {
		t.Fatalf("after regenerating: secret %q token %q", ws.WebhookSecret, ws.WebhookToken)
	}
	p = a.page(r.Location)
	mustContain(t, "the settings page after regenerating", p, "New signing secret and bearer token generated")
	if got := inputValue(t, p, "generic-secret"); got != ws.WebhookSecret {
		t.Errorf("the page shows the secret %q, want the new %q", got, ws.WebhookSecret)
	}
	// The old secret no longer signs events; e.GenericPost signs with e.Workspace's (old) one.
	if r := e.GenericPost(generic.Event{EventID: "evt-1", CallID: "c-1", From: "+14155550123", To: "+14155550100", Status: "missed"}); r.Status != http.StatusForbidden {
		t.Errorf("an event signed with the old secret: %d %s", r.Status, r.Body)
	}
}

func TestTwilioTokenIsWriteOnly(t *testing.T) {
	e := apptest.New(t)
	a := signIn(t, e, adminEmail, adminPassword)
	sid, token := "AC"+strings.Repeat("0123456789abcdef", 2), "TokenTokenToken0123456789abcdef"
	pages := []string{"/calls", "/calls/autoresponder", "/calls/settings", "/billing", "/usage", "/members", "/account/keys", "/billing/ledger.csv"}
	check := func(what string) {
		t.Helper()
		for _, path := range pages {
			mustNotContain(t, what+": "+path, a.page(path), token, apptest.TwilioToken)
		}
	}

	p := a.page("/calls/settings")
	mustContain(t, "the settings page", p, `id="twilio-token"`, "A token is saved", apptest.TwilioSID)
	check("before saving")

	r := a.post("/calls/settings/twilio", url.Values{"account_sid": {sid}, "auth_token": {token}})
	wantStatus(t, "saving Twilio", r, http.StatusSeeOther)
	mustContain(t, "the redirect", r.Location, "saved=twilio")
	ts, err := e.App.Svc.TwilioSettings(context.Background(), e.Workspace.ID)
	if err != nil || ts.AccountSID != sid || ts.AuthToken != token {
		t.Fatalf("stored Twilio settings: %+v %v", ts, err)
	}
	mustContain(t, "the settings page after saving", a.page(r.Location), "Twilio account saved.", sid)
	check("after saving")

	// A refused form does not send the typed token back.
	r = a.post("/calls/settings/twilio", url.Values{"account_sid": {"AC12"}, "auth_token": {token + "X"}})
	wantStatus(t, "a bad account SID", r, http.StatusUnprocessableEntity)
	mustContain(t, "the refused form", r.Body, "The account SID is AC followed by 32 hexadecimal characters.", `value="AC12"`)
	mustNotContain(t, "the refused form", r.Body, token)

	// An empty token keeps the saved one.
	sid2 := "AC" + strings.Repeat("fedcba9876543210", 2)
	wantStatus(t, "saving the SID alone", a.post("/calls/settings/twilio", url.Values{"account_sid": {sid2}, "auth_token": {""}}), http.StatusSeeOther)
	if ts, err := e.App.Svc.TwilioSettings(context.Background(), e.Workspace.ID); err != nil || ts.AccountSID != sid2 || ts.AuthToken != token {
		t.Fatalf("after saving the SID alone: %+v %v", ts, err)
	}
	check("after saving the SID alone")
}

func TestLedgerCSV(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	for _, ref := range []string{`=HYPERLINK("x")`, "invoice 7, paid", "@SUM(A1)"} {
		if _, err := e.App.Svc.TopUp(ctx, e.Workspace.ID, 100, ref); err != nil {
			t.Fatal(err)
		}
	}
	e.AddMember("member@clinic.test", "member")
	m := signIn(t, e, "member@clinic.test", memberPassword)

	mustContain(t, "the billing page", m.page("/billing"), `href="/billing/ledger.csv"`, "Download CSV")
	r := m.get("/billing/ledger.csv")
	wantStatus(t, "the CSV", r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	mustContain(t, "the Content-Disposition", r.Header.Get("Content-Disposition"), "attachment", ".csv")
	mustContain(t, "the raw CSV", r.Body, `"'=HYPERLINK(""x"")"`, `"invoice 7, paid"`)
	rows, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, r.Body)
	}
	want := [][]string{
		{"date", "change", "reason", "reference", "call_id", "message_id", "balance_after"},
		{"", "100", "Top-up", "'@SUM(A1)", "", "", "300"},
		{"", "100", "Top-up", "invoice 7, paid", "", "", "200"},
		{"", "100", "Top-up", `'=HYPERLINK("x")`, "", "", "100"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), r.Body)
	}
	for i := range want {
		if i > 0 {
			if _, err := time.Parse(time.RFC3339, rows[i][0]); err != nil || !strings.HasSuffix(rows[i][0], "+01:00") && !strings.HasSuffix(rows[i][0], "+02:00") {
				t.Errorf("row %d: date %q is not RFC 3339 in Paris time", i, rows[i][0])
			}
			rows[i][0] = ""
		}
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
		}
	}
}

func TestBillingAndTopUp(t *testing.T) {
	e := apptest.New(t)
	a := signIn(t, e, adminEmail, adminPassword)

	p := a.page("/billing")
	if b := elementText(t, p, "balance"); b != "0" {
		t.Errorf("balance %q, want 0", b)
	}
	mustContain(t, "the billing page at 0 credits", p, `id="low-balance"`, "autoreplies stop", `id="topup-credits"`, `id="topup-reference"`, `id="topup"`)

	r := a.post("/billing/top-ups", url.Values{"credits": {"100"}, "reference": {"INV-2026-001"}})
	wantStatus(t, "topping up", r, http.StatusSeeOther)
	if e.Balance() != 100 {
		t.Fatalf("balance %d after a top-up of 100", e.Balance())
	}
	p = a.page(r.Location)
	if b := elementText(t, p, "balance"); b != "100" {
		t.Errorf("balance %q, want 100", b)
	}
	mustContain(t, "the billing page after the top-up", p, "Credits added.", `id="ledger"`, "+100", "Top-up", "INV-2026-001")
	mustNotContain(t, "the billing page with 100 credits", p, `id="low-balance"`)

	r = a.post("/billing/top-ups", url.Values{"credits": {"50"}, "reference": {"INV-2026-001"}})
	wantStatus(t, "a duplicate reference", r, http.StatusConflict)
	mustContain(t, "the refused form", r.Body, "A top-up with this reference was already recorded.")
	if got := inputValue(t, r.Body, "topup-credits"); got != "50" {
		t.Errorf("the refused form holds %q credits, want 50", got)
	}
	for _, credits := range []string{"", "abc", "0", "-5", "2.5"} {
		r = a.post("/billing/top-ups", url.Values{"credits": {credits}, "reference": {"INV-bad " + credits}})
		wantStatus(t, "top-up of "+credits, r, http.StatusUnprocessableEntity)
		mustContain(t, "the refused form", r.Body, "Credits must be a whole number")
	}
	wantStatus(t, "a top-up with no reference", a.post("/billing/top-ups", url.Values{"credits": {"5"}}), http.StatusUnprocessableEntity)
	if e.Balance() != 100 {
		t.Fatalf("refused top-ups changed the balance: %d", e.Balance())
	}

	// An autoreply debit shows as −4 with a link to its call.
	e.AddTrackingNumber("+14155550100", "+14155550199")
	e.Configure("Sorry we missed you.", true, 0)
	if r := e.GenericPost(generic.Event{EventID: "evt-1", CallID: "c-1", From: "+14155550123", To: "+14155550100", Status: "missed", Detail: "no-answer"}); r.Status != http.StatusAccepted {
		t.Fatalf("missed call: %d %s", r.Status, r.Body)
	}
	e.Settle()
	p = a.page("/billing")
	mustContain(t, "the billing page after an autoreply", p, "−4", "Autoreply", `href="/calls#call-`)
	if b := elementText(t, p, "balance"); b != "96" {
		t.Errorf("balance %q, want 96", b)
	}

	// A member sees the balance but cannot top up.
	e.AddMember("member@clinic.test", "member")
	m := signIn(t, e, "member@clinic.test", memberPassword)
	p = m.page("/billing")
	mustNotContain(t, "a member's billing page", p, `id="topup-form"`)
	if b := elementText(t, p, "balance"); b != "96" {
		t.Errorf("the member sees balance %q, want 96", b)
	}
	wantStatus(t, "a member's top-up", m.post("/billing/top-ups", url.Values{"credits": {"1000"}, "reference": {"free money"}}), http.StatusForbidden)
	if e.Balance() != 96 {
		t.Fatalf("a member's top-up changed the balance: %d", e.Balance())
	}
}

func TestUsage(t *testing.T) {
	e := apptest.New(t)
	e.AddTrackingNumber("+14155550100", "+14155550199")
	e.Configure("Sorry we missed you.", true, 100)
	for i := range 2 {
		ev := generic.Event{EventID: fmt.Sprintf("evt-%d", i), CallID: fmt.Sprintf("c-%d", i), From: fmt.Sprintf("+1415555012%d", i),
			To: "+14155550100", Status: "missed", Detail: "no-answer"}
		if r := e.GenericPost(ev); r.Status != http.StatusAccepted {
			t.Fatalf("missed call: %d %s", r.Status, r.Body)
		}
	}
	if r := e.API("POST", "/api/v1/messages", e.AdminKey, map[string]string{"site_id": e.SiteID, "to": "+14155550130", "body": "Your order is ready."}); r.Status != http.StatusAccepted {
		t.Fatalf("standard SMS: %d %s", r.Status, r.Body)
	}
	e.Settle()

	e.AddMember("member@clinic.test", "member")
	m := signIn(t, e, "member@clinic.test", memberPassword)
	p := m.page("/usage")
	month := time.Now().In(workspace(t, e).Location()).Format("January 2006")
	mustContain(t, "the usage page", p, month, `<progress id="standard-usage" max="200" value="1">`, "do not count towards the monthly SMS limit")
	mustNotContain(t, "the usage page", p, "style=")
	for id, want := range map[string]string{"autoreply-count": "2", "credits-used": "12", "standard-sent": "1", "standard-limit": "200"} {
		if got := elementText(t, p, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
}

func TestMembersPage(t *testing.T) {
	e := apptest.New(t)
	a := signIn(t, e, adminEmail, adminPassword)
	p := a.page("/members")
	mustContain(t, "the members page", p, adminEmail, `id="member-email"`, `id="member-role"`, `id="member-password"`, `id="add-member"`)

	form := url.Values{"email": {"Nurse@Clinic.test"}, "role": {"member"}, "password": {"nurse password"}}
	r := a.post("/members", form)
	wantStatus(t, "adding a member", r, http.StatusSeeOther)
	mustContain(t, "the members page after adding", a.page(r.Location), "Member added.", "nurse@clinic.test")
	// The new member can sign in, as a member.
	n := signIn(t, e, "nurse@clinic.test", "nurse password")
	wantStatus(t, "the new member opens Members", n.get("/members"), http.StatusForbidden)

	r = a.post("/members", form)
	wantStatus(t, "adding the member twice", r, http.StatusConflict)
	mustContain(t, "the refused form", r.Body, "is already a member of this workspace.")
	mustNotContain(t, "the refused form", r.Body, "nurse password")

	r = a.post("/members", url.Values{"email": {"not-an-email"}, "role": {"admin"}, "password": {"long enough"}})
	wantStatus(t, "a bad e-mail", r, http.StatusUnprocessableEntity)
	mustContain(t, "the refused form", r.Body, "Give a valid e-mail address.", `value="not-an-email"`, `<option value="admin" selected>`)
	wantStatus(t, "a short password", a.post("/members", url.Values{"email": {"x@clinic.test"}, "role": {"member"}, "password": {"short"}}), http.StatusUnprocessableEntity)
	wantStatus(t, "a bad role", a.post("/members", url.Values{"email": {"y@clinic.test"}, "role": {"owner"}, "password": {"long enough"}}), http.StatusUnprocessableEntity)
	ms, err := e.App.DB.Q().ListMembers(context.Background(), e.Workspace.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("members: %v %v", ms, err)
	}
}

func TestAPIKeys(t *testing.T) {
	e := apptest.New(t)
	e.AddMember("member@clinic.test", "member")
	m := signIn(t, e, "member@clinic.test", memberPassword)
	mustContain(t, "the keys page", m.page("/account/keys"), `id="key-name"`, `id="create-key"`)

	r := m.post("/account/keys", url.Values{"name": {"CRM <sync>"}})
	wantStatus(t, "creating a key", r, http.StatusCreated)
	key := inputValue(t, r.Body, "new-key")
	if !strings.HasPrefix(key, "tbk_") {
		t.Fatalf("the new key is %q", key)
	}
	mustContain(t, "the answer", r.Body, `data-copy="new-key"`, "will not be shown again", "CRM &lt;sync&gt;")
	mustContain(t, "the Cache-Control", r.Header.Get("Cache-Control"), "no-store")
	if got := e.API("GET", "/api/v1/me", key, nil); got.Status != http.StatusOK {
		t.Fatalf("the new key does not work: %d %s", got.Status, got.Body)
	}

	p := m.page("/account/keys")
	mustNotContain(t, "the keys page", p, key, `id="new-key"`)
	mustContain(t, "the keys page", p, "CRM &lt;sync&gt;", key[:10]+"…")
	ks, err := e.App.DB.Q().ListAPIKeys(context.Background(), e.Workspace.ID, memberUserID(t, e, "member@clinic.test"))
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, k := range ks {
		if k.Name == "CRM <sync>" {
			id = k.ID
		}
	}
	if id == "" {
		t.Fatalf("the key is not stored: %+v", ks)
	}

	// The admin's own page does not list it, and the admin cannot revoke it.
	a := signIn(t, e, adminEmail, adminPassword)
	mustNotContain(t, "the admin's keys page", a.page("/account/keys"), "CRM &lt;sync&gt;")
	wantStatus(t, "revoking another member's key", a.post("/account/keys/"+id+"/delete", nil), http.StatusNotFound)

	wantStatus(t, "a key with no name", m.post("/account/keys", url.Values{"name": {"  "}}), http.StatusUnprocessableEntity)

	r = m.post("/account/keys/"+id+"/delete", nil)
	wantStatus(t, "revoking", r, http.StatusSeeOther)
	mustContain(t, "the keys page after revoking", m.page(r.Location), "API key revoked")
	if got := e.API("GET", "/api/v1/me", key, nil); got.Status != http.StatusUnauthorized {
		t.Errorf("a revoked key: %d %s", got.Status, got.Body)
	}
}

func memberUserID(t *testing.T, e *apptest.Env, email string) string {
	t.Helper()
	u, err := e.App.DB.Q().GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	e := apptest.New(t)
	numberID := e.AddTrackingNumber("+14155550100", "+14155550199")
	a := signIn(t, e, adminEmail, adminPassword)
	a.origin = "https://evil.example"

	r := a.post("/billing/top-ups", url.Values{"credits": {"1000"}, "reference": {"cross-site"}})
	wantStatus(t, "a cross-site top-up", r, http.StatusForbidden)
	if e.Balance() != 0 {
		t.Fatalf("a cross-site top-up changed the balance: %d", e.Balance())
	}
	before := adminState(t, e)
	for _, rt := range (&web.UI{}).Routes() {
		if rt.Method != "POST" {
			continue
		}
		path := strings.Replace(rt.Pattern, "{id}", numberID, 1)
		form := url.Values{"site": {e.SiteID}}
		if rt.Access == web.Admin {
			path, form = adminPost(t, e, rt.Pattern, numberID)
		}
		wantStatus(t, "cross-site POST "+path, a.post(path, form), http.StatusForbidden)
	}
	if after := adminState(t, e); after != before {
		t.Errorf("cross-site posts changed the workspace:\nbefore: %s\nafter:  %s", before, after)
	}
	// The session survived (sign-out was refused too).
	a.origin = e.Server.URL
	a.page("/billing")
}

// TestPagesHaveNoInlineStyle checks what keeps the pages usable on a phone
// and under the CSP: tables that fold into cards, no inline style or
// script, and ids that are unique (tests and labels find elements by them).
func TestPagesHaveNoInlineStyle(t *testing.T) {
	e := apptest.New(t)
	e.AddTrackingNumber("+14155550100", "+14155550199")
	a := signIn(t, e, adminEmail, adminPassword)
	for _, path := range []string{"/calls/settings", "/billing", "/usage", "/members", "/account/keys"} {
		p := a.page(path)
		mustNotContain(t, path, p, "style=", "<script>", "<style", "onclick=", "onsubmit=")
		if bytes.Count([]byte(p), []byte(`<table`)) != bytes.Count([]byte(p), []byte(`<table class="responsive"`)) {
			t.Errorf("%s has a table that does not fold at phone width", path)
		}
		seen := map[string]bool{}
		for _, m := range regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(p, -1) {
			if seen[m[1]] {
				t.Errorf("%s has two elements with id %q", path, m[1])
			}
			seen[m[1]] = true
		}
	}
}
