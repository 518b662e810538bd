package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/internal/api"
	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/kannel"
	"github.com/textback/textback/internal/providers/twilio"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// accessFixture is the first workspace's resources the matrix names.
type accessFixture struct {
	e     *apptest.Env
	tnID  string // a tracking number of the first workspace
	keyID string // an API key of the first workspace's admin
	n     int    // a counter for unique values
}

func (f *accessFixture) next() int { f.n++; return f.n }

// accessCase says how to call one keyed route.
type accessCase struct {
	path func(f *accessFixture) string
	body func(f *accessFixture) any
	// foreign: the request names a resource of the first workspace (in the
	// path or the body), so another workspace's admin must get 404.
	foreign bool
	// ok is what the first workspace's admin gets (the control that the
	// body is valid, so refusals are for access reasons).
	ok int
}

func fixed(p string) func(*accessFixture) string { return func(*accessFixture) string { return p } }
func inSite(rest string) func(*accessFixture) string {
	return func(f *accessFixture) string { return "/api/v1/sites/" + f.e.SiteID + rest }
}

// accessCases must hold every Member and Admin route of the route table: a
// new route fails TestAccessMatrix until it is added here.
var accessCases = map[string]accessCase{
	"GET /api/v1/me":    {path: fixed("/api/v1/me"), ok: 200},
	"GET /api/v1/sites": {path: fixed("/api/v1/sites"), ok: 200},
	"POST /api/v1/sites": {path: fixed("/api/v1/sites"), ok: 201,
		body: func(f *accessFixture) any { return map[string]string{"name": "Annex"} }},
	"GET /api/v1/sites/{site_id}/tracking-numbers": {path: inSite("/tracking-numbers"), foreign: true, ok: 200},
	"POST /api/v1/sites/{site_id}/tracking-numbers": {path: inSite("/tracking-numbers"), foreign: true, ok: 201,
		body: func(f *accessFixture) any { return map[string]any{"number": tn(f.e, 77), "provider": "twilio"} }},
	"DELETE /api/v1/tracking-numbers/{id}": {foreign: true, ok: 204,
		path: func(f *accessFixture) string { return "/api/v1/tracking-numbers/" + f.tnID }},
	"GET /api/v1/sites/{site_id}/autoresponder": {path: inSite("/autoresponder"), foreign: true, ok: 200},
	"PUT /api/v1/sites/{site_id}/autoresponder/message": {path: inSite("/autoresponder/message"), foreign: true, ok: 200,
		body: func(f *accessFixture) any { return map[string]string{"message": "Changed by someone."} }},
	"PUT /api/v1/sites/{site_id}/autoresponder/enabled": {path: inSite("/autoresponder/enabled"), foreign: true, ok: 200,
		body: func(f *accessFixture) any { return map[string]bool{"enabled": true} }},
	"GET /api/v1/calls":    {path: fixed("/api/v1/calls"), ok: 200},
	"GET /api/v1/messages": {path: fixed("/api/v1/messages"), ok: 200},
	"POST /api/v1/messages": {path: fixed("/api/v1/messages"), foreign: true, ok: 202, // site_id in the body
		body: func(f *accessFixture) any {
			return map[string]string{"site_id": f.e.SiteID, "to": "+14155550150", "body": "Hello."}
		}},
	"GET /api/v1/credits":        {path: fixed("/api/v1/credits"), ok: 200},
	"GET /api/v1/credits/ledger": {path: fixed("/api/v1/credits/ledger"), ok: 200},
	"POST /api/v1/credits/top-ups": {path: fixed("/api/v1/credits/top-ups"), ok: 201,
		body: func(f *accessFixture) any {
			return map[string]any{"credits": 1000, "reference": fmt.Sprintf("matrix-%d", f.next())}
		}},
	"GET /api/v1/usage":     {path: fixed("/api/v1/usage"), ok: 200},
	"GET /api/v1/providers": {path: fixed("/api/v1/providers"), ok: 200},
	"PUT /api/v1/providers/twilio": {path: fixed("/api/v1/providers/twilio"), ok: 200,
		body: func(f *accessFixture) any {
			return map[string]string{"account_sid": apptest.TwilioSID, "auth_token": apptest.TwilioToken}
		}},
	"PUT /api/v1/providers/smpp": {path: fixed("/api/v1/providers/smpp"), ok: 200,
		body: func(f *accessFixture) any {
			return map[string]any{"host": "127.0.0.1", "port": 1, "system_id": "matrix", "password": "secret"}
		}},
	"PUT /api/v1/providers/kannel": {path: fixed("/api/v1/providers/kannel"), ok: 200,
		body: func(f *accessFixture) any {
			return map[string]string{"sendsms_url": "http://127.0.0.1:1/cgi-bin/sendsms", "username": "matrix", "password": "secret"}
		}},
	"GET /api/v1/webhooks": {path: fixed("/api/v1/webhooks"), ok: 200},
	"GET /api/v1/members":  {path: fixed("/api/v1/members"), ok: 200},
	"POST /api/v1/members": {path: fixed("/api/v1/members"), ok: 201,
		body: func(f *accessFixture) any {
			return map[string]string{"email": mail(f.e, "intruder"), "role": "admin", "password": "intruder password"}
		}},
	"GET /api/v1/api-keys": {path: fixed("/api/v1/api-keys"), ok: 200},
	"POST /api/v1/api-keys": {path: fixed("/api/v1/api-keys"), ok: 201,
		body: func(f *accessFixture) any { return map[string]string{"name": "matrix"} }},
	"DELETE /api/v1/api-keys/{id}": {foreign: true, ok: 204,
		path: func(f *accessFixture) string { return "/api/v1/api-keys/" + f.keyID }},
}

// publicRoutes are the routes that take no key and what they answer
// without one.
var publicRoutes = map[string]struct {
	body   func(f *accessFixture) any
	status int
}{
	"GET /healthz":             {nil, 200},
	"GET /readyz":              {nil, 200},
	"GET /metrics":             {nil, 200},
	"GET /api/v1/openapi.json": {nil, 200},
	"POST /api/v1/auth/token": {func(f *accessFixture) any {
		return map[string]string{"email": adminEmail(f.e), "password": "correct horse battery"}
	}, 201},
}

// worldState is what an attacker could change, read by the first admin.
func worldState(t *testing.T, e *apptest.Env) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/api/v1/sites", "/api/v1/members", "/api/v1/credits", "/api/v1/providers",
		"/api/v1/sites/" + e.SiteID + "/tracking-numbers", "/api/v1/sites/" + e.SiteID + "/autoresponder", "/api/v1/messages"} {
		r := e.API("GET", p, e.AdminKey, nil)
		must(t, r, 200, "GET "+p)
		fmt.Fprintf(&b, "%s: %s\n", p, r.Body)
	}
	return b.String()
}

// TestAccessMatrix walks the route table: every keyed route refuses a
// missing or bad key (401), a member on admin routes (403) and another
// workspace's admin on the first workspace's resources (404), and nothing
// changes on the way.
func TestAccessMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	f := &accessFixture{e: e}
	f.tnID = e.AddTrackingNumber(tn(e, 0), "")
	e.Configure("We missed your call.", false, 100)
	k := must(t, e.API("POST", "/api/v1/api-keys", e.AdminKey, map[string]string{"name": "admin script"}), 201, "admin key")
	f.keyID = k["id"].(string)
	adminScriptKey := k["key"].(string)
	member := e.AddMember(mail(e, "member"), "member")

	other, err := e.App.Svc.CreateWorkspace(ctx, service.NewWorkspace{Name: "Other Shop", TimeZone: "UTC",
		AdminEmail: mail(e, "boss"), AdminPassword: "other boss password"})
	if err != nil {
		t.Fatal(err)
	}
	otherKey := other.APIKey

	bogus := map[string]http.Header{
		"a key that does not exist": {"Authorization": {"Bearer tbk_" + strings.Repeat("a", 32)}},
		"garbage as key":            {"Authorization": {"Bearer not-a-key"}},
	}
	// Real keys sent the wrong way (once: how the header is read does not
	// depend on the route).
	for what, h := range map[string]http.Header{
		"a real key in the wrong scheme": {"Authorization": {"Basic " + e.AdminKey}},
		"a real key without a scheme":    {"Authorization": {e.AdminKey}},
		"a real key in another header":   {"X-Api-Key": {e.AdminKey}},
	} {
		wantError(t, e.Do("GET", "/api/v1/me", h, nil), 401, "unauthorized", "GET /api/v1/me with "+what)
	}

	before := worldState(t, e)
	routes := (&api.Server{}).Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		name := rt.Method + " " + rt.Pattern
		seen[name] = true
		switch rt.Access {
		case api.Public:
			pc, ok := publicRoutes[name]
			if !ok {
				t.Errorf("public route %s is not in publicRoutes: say what it answers without a key", name)
				continue
			}
			var body any
			if pc.body != nil {
				body = pc.body(f)
			}
			if r := e.API(rt.Method, rt.Pattern, "", body); r.Status != pc.status {
				t.Errorf("%s without a key = %d %.200s, want %d", name, r.Status, r.Body, pc.status)
			}
			continue
		case api.Webhook:
			if _, ok := webhookCases[name]; !ok {
				t.Errorf("webhook route %s is not in webhookCases (TestWebhooksRejectUnsigned)", name)
			}
			continue
		case api.Member, api.Admin:
		default:
			t.Errorf("route %s has an unknown access %v", name, rt.Access)
			continue
		}
		c, ok := accessCases[name]
		if !ok {
			t.Errorf("route %s (%s) is not in accessCases: add how to call it", name, rt.Access)
			continue
		}
		if strings.Contains(rt.Pattern, "{") && !c.foreign {
			t.Errorf("accessCases[%s] names a resource but is not marked foreign", name)
		}
		path := c.path(f)
		if strings.ContainsAny(path, "{}") {
			t.Fatalf("%s: the path %s still has a wildcard", name, path)
		}
		body := func() any {
			if c.body == nil {
				return nil
			}
			return c.body(f)
		}
		// (a) no key
		wantError(t, e.API(rt.Method, path, "", body()), 401, "unauthorized", name+" without a key")
		// (b) bad keys
		for what, h := range bogus {
			var raw []byte
			if b := body(); b != nil {
				raw, _ = json.Marshal(b)
				h = h.Clone()
				h.Set("Content-Type", "application/json")
			}
			wantError(t, e.Do(rt.Method, path, h, raw), 401, "unauthorized", name+" with "+what)
		}
		// (c) a member on admin routes; members may call member routes.
		r := e.API(rt.Method, path, member, body())
		if rt.Access == api.Admin {
			wantError(t, r, 403, "forbidden", name+" with a member's key")
		} else if r.Status == 401 || r.Status == 403 {
			t.Errorf("%s is open to members but a member's key gets %d %s", name, r.Status, r.Body)
		}
		// (d) another workspace's admin on this workspace's resources.
		if c.foreign {
			wantError(t, e.API(rt.Method, path, otherKey, body()), 404, "not_found", name+" with another workspace's admin key")
		}
	}
	for name := range accessCases {
		if !seen[name] {
			t.Errorf("accessCases has %s, which is not a route", name)
		}
	}
	for name := range publicRoutes {
		if !seen[name] {
			t.Errorf("publicRoutes has %s, which is not a route", name)
		}
	}

	// A member may not delete the admin's key either.
	wantError(t, e.API("DELETE", "/api/v1/api-keys/"+f.keyID, member, nil), 404, "not_found", "a member deleting the admin's key")

	// The members' allowed calls above changed the autoresponder and sent
	// an SMS; take them out of the comparison by comparing what the
	// refused calls could have touched.
	after := worldState(t, e)
	if diff := diffLines(before, after, "/autoresponder", "/api/v1/messages", "/api/v1/credits"); diff != "" {
		t.Errorf("refused calls changed the workspace:\n%s", diff)
	}
	if b := balance(t, e, e.AdminKey); b != 100-4 {
		t.Errorf("balance = %d, want 96: 100 less the member's one standard SMS", b)
	}
	var msgs struct {
		Messages []map[string]any `json:"messages"`
	}
	decodeAs(t, e.API("GET", "/api/v1/messages", e.AdminKey, nil), &msgs)
	if len(msgs.Messages) != 1 {
		t.Errorf("messages = %d, want the member's one", len(msgs.Messages))
	}
	must(t, e.API("GET", "/api/v1/me", adminScriptKey, nil), 200, "the admin's key after refused deletes")
	var tns struct {
		TrackingNumbers []struct{ ID string } `json:"tracking_numbers"`
	}
	decodeAs(t, e.API("GET", "/api/v1/sites/"+e.SiteID+"/tracking-numbers", e.AdminKey, nil), &tns)
	if len(tns.TrackingNumbers) != 1 || tns.TrackingNumbers[0].ID != f.tnID {
		t.Errorf("tracking numbers after refused calls = %+v, want only %s", tns.TrackingNumbers, f.tnID)
	}
	// The other workspace saw none of it: its own site list is its own.
	var sites struct {
		Sites []struct{ ID string } `json:"sites"`
	}
	decodeAs(t, e.API("GET", "/api/v1/sites", otherKey, nil), &sites)
	if len(sites.Sites) != 1 || sites.Sites[0].ID != other.Site.ID {
		t.Errorf("the other workspace's sites = %+v, want only %s", sites.Sites, other.Site.ID)
	}

	// Control: the first workspace's admin gets through with the same
	// requests, so the refusals above were about access. Deletes go last.
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].Method != "DELETE" && routes[j].Method == "DELETE" })
	for _, rt := range routes {
		c, ok := accessCases[rt.Method+" "+rt.Pattern]
		if !ok {
			continue
		}
		var body any
		if c.body != nil {
			body = c.body(f)
		}
		if r := e.API(rt.Method, c.path(f), e.AdminKey, body); r.Status != c.ok {
			t.Errorf("control: %s %s as the admin = %d %s, want %d", rt.Method, rt.Pattern, r.Status, r.Body, c.ok)
		}
	}
}

// diffLines returns the lines of a and b that differ, skipping lines that
// start with one of the skip prefixes' paths.
func diffLines(a, b string, skip ...string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x == y {
			continue
		}
		skipped := false
		for _, s := range skip {
			if p, _, _ := strings.Cut(x, ": "); strings.Contains(p, s) {
				skipped = true
			}
		}
		if !skipped {
			fmt.Fprintf(&out, "- %s\n+ %s\n", x, y)
		}
	}
	return out.String()
}

// ---- webhooks ----

// webhookCase is a request to one webhook route that would change
// something if it were accepted.
type webhookCase struct {
	twilio bool
	form   func(w *webhookFixture) url.Values // Twilio
	event  func(w *webhookFixture) []byte     // generic
	query  func(w *webhookFixture) url.Values // Kannel: a GET whose token goes in the query
}

type webhookFixture struct {
	to         string // the workspace's tracking number
	messageSID string // the provider id of an autoreply sent through Twilio
	kannelID   string // a message sent through Kannel
	n          int
}

func (w *webhookFixture) callSID() string { w.n++; return fmt.Sprintf("CAattack%d", w.n) }

const attackCaller = "+14155550166"

// webhookCases must hold every Webhook route of the route table.
var webhookCases = map[string]webhookCase{
	"POST /webhooks/twilio/{workspace_id}/voice": {twilio: true, form: func(w *webhookFixture) url.Values {
		return apptest.Form("CallSid", w.callSID(), "From", attackCaller, "To", w.to, "CallStatus", "ringing")
	}},
	"POST /webhooks/twilio/{workspace_id}/dial-status": {twilio: true, form: func(w *webhookFixture) url.Values {
		return apptest.Form("CallSid", w.callSID(), "From", attackCaller, "To", w.to, "DialCallStatus", "no-answer")
	}},
	"POST /webhooks/twilio/{workspace_id}/call-status": {twilio: true, form: func(w *webhookFixture) url.Values {
		return apptest.Form("CallSid", w.callSID(), "From", attackCaller, "To", w.to, "CallStatus", "no-answer")
	}},
	"POST /webhooks/twilio/{workspace_id}/message-status": {twilio: true, form: func(w *webhookFixture) url.Values {
		return apptest.Form("MessageSid", w.messageSID, "MessageStatus", "undelivered", "ErrorCode", "30003")
	}},
	"POST /webhooks/twilio/{workspace_id}/incoming-message": {twilio: true, form: func(w *webhookFixture) url.Values {
		return apptest.Form("MessageSid", "SMattack", "From", attackCaller, "To", w.to, "Body", "STOP")
	}},
	"POST /webhooks/generic/{workspace_id}/call-events": {event: func(w *webhookFixture) []byte {
		b, _ := json.Marshal(generic.Event{EventID: fmt.Sprintf("ev%d", w.n), CallID: w.callSID(), From: attackCaller, To: w.to,
			Status: "missed", OccurredAt: time.Now().UTC().Format(time.RFC3339)})
		return b
	}},
	"GET /webhooks/kannel/{workspace_id}/dlr": {query: func(w *webhookFixture) url.Values {
		return url.Values{"message_id": {w.kannelID}, "type": {"2"}, "answer": {"attack"}}
	}},
	"GET /webhooks/kannel/{workspace_id}/mo": {query: func(w *webhookFixture) url.Values {
		return url.Values{"from": {strings.TrimPrefix(attackCaller, "+")}, "to": {w.to}, "text": {"STOP"}}
	}},
}

// kannelGet calls a Kannel callback with a token ("" for none).
func kannelGet(e *apptest.Env, path string, q url.Values, token string) *apptest.Response {
	v := url.Values{}
	for k, x := range q {
		v[k] = x
	}
	if token != "" {
		v.Set("token", token)
	}
	return e.Do("GET", path+"?"+v.Encode(), nil, nil)
}

// webhookState is what an accepted webhook would change: calls, message
// statuses, the attacker's opt-out and the balance.
func webhookState(t *testing.T, e *apptest.Env) string {
	t.Helper()
	ctx := context.Background()
	q := e.App.DB.Q()
	cs, err := q.ListCalls(ctx, e.Workspace.ID, store.CallFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := q.ListMessages(ctx, e.Workspace.ID, store.MessageFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out, err := q.IsOptedOut(ctx, e.Workspace.ID, attackCaller)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "calls=%d opted_out=%v balance=%d\n", len(cs), out, e.Balance())
	for _, m := range ms {
		fmt.Fprintf(&b, "message %s %s\n", m.ID, m.Status)
	}
	return b.String()
}

// TestWebhooksRejectUnsigned posts to every webhook without a signature,
// with wrong ones and to an unknown workspace: 403 and nothing stored.
// The same requests, rightly signed, are then accepted.
func TestWebhooksRejectUnsigned(t *testing.T) {
	e := newEnv(t)
	w := &webhookFixture{to: tn(e, 0)}
	e.AddTrackingNumber(w.to, "")
	e.Configure("Sorry we missed you.", true, 100)
	sentToTwilio := func() int {
		n := 0
		for _, m := range e.Twilio.Messages() {
			if m.From == w.to {
				n++
			}
		}
		return n
	}

	// A first autoreply through Twilio, for the message-status case.
	must(t, e.TwilioPost(e.TwilioPath("call-status"), apptest.Form("CallSid", "CAfirst", "From", "+14155550155", "To", w.to, "CallStatus", "no-answer")), 204, "first missed call")
	e.Settle()
	if ms := sentToTwilio(); ms != 1 {
		t.Fatalf("Twilio got %d messages, want the first autoreply", ms)
	}
	msgs, err := e.App.DB.Q().ListMessages(context.Background(), e.Workspace.ID, store.MessageFilter{Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].ProviderMessageID == nil {
		t.Fatalf("the first autoreply is not stored with its Twilio id: %+v %v", msgs, err)
	}
	w.messageSID = *msgs[0].ProviderMessageID
	kannelMsg := store.Message{ID: "msg_kannel_fixture", WorkspaceID: e.Workspace.ID, Kind: "standard", To: "+14155550155", From: w.to,
		Body: "sent through Kannel", Encoding: "GSM-7", Segments: 1, Provider: service.ProviderKannel, Status: "sent"}
	if err := e.App.DB.Q().InsertMessage(context.Background(), &kannelMsg); err != nil {
		t.Fatal(err)
	}
	w.kannelID = kannelMsg.ID

	var secret string
	{
		var wh struct {
			Generic map[string]string `json:"generic"`
		}
		decodeAs(t, e.API("GET", "/api/v1/webhooks", e.AdminKey, nil), &wh)
		secret = wh.Generic["signing_secret"]
	}

	before := webhookState(t, e)
	seen := map[string]bool{}
	for _, rt := range (&api.Server{}).Routes() {
		if rt.Access != api.Webhook {
			continue
		}
		name := rt.Method + " " + rt.Pattern
		seen[name] = true
		c, ok := webhookCases[name]
		if !ok {
			t.Errorf("webhook route %s is not in webhookCases: add a request that would change something", name)
			continue
		}
		path := strings.Replace(rt.Pattern, "{workspace_id}", e.Workspace.ID, 1)
		foreignPath := strings.Replace(rt.Pattern, "{workspace_id}", "ws_nope", 1)
		if c.query != nil {
			q := c.query(w)
			token := kannel.Token(secret, e.Workspace.ID)
			wantError(t, kannelGet(e, path, q, ""), 403, "", name+" without a token")
			wantError(t, kannelGet(e, path, q, "0123456789abcdef0123456789abcdef01234567"), 403, "", name+" with a garbage token")
			wantError(t, kannelGet(e, path, q, kannel.Token("whsec_wrong", e.Workspace.ID)), 403, "", name+" with another secret's token")
			wantError(t, kannelGet(e, path, q, e.Workspace.WebhookToken), 403, "", name+" with the generic bearer token")
			wantError(t, kannelGet(e, foreignPath, q, token), 403, "", name+" for an unknown workspace")
			wantError(t, kannelGet(e, foreignPath, q, kannel.Token(secret, "ws_nope")), 403, "", name+" for an unknown workspace, with its token")
		} else if c.twilio {
			form := c.form(w)
			wantError(t, e.TwilioPostSigned(path, form, ""), 403, "", name+" without signature")
			wantError(t, e.TwilioPostSigned(path, form, "bm90IGEgc2lnbmF0dXJl"), 403, "", name+" with a garbage signature")
			wantError(t, e.TwilioPostSigned(path, form, twilio.Sign("ffffffffffffffffffffffffffffffff", apptest.PublicURL+path, form)), 403, "", name+" signed with another token")
			wantError(t, e.TwilioPostSigned(path, form, twilio.Sign(apptest.TwilioToken, e.Server.URL+path, form)), 403, "", name+" signed over another URL")
			tampered := url.Values{}
			for k, v := range form {
				tampered[k] = v
			}
			tampered.Set("From", "+14155550167")
			wantError(t, e.TwilioPostSigned(path, tampered, twilio.Sign(apptest.TwilioToken, apptest.PublicURL+path, form)), 403, "", name+" with a tampered body")
			wantError(t, e.TwilioPostSigned(foreignPath, form, twilio.Sign(apptest.TwilioToken, apptest.PublicURL+foreignPath, form)), 403, "", name+" for an unknown workspace")
		} else {
			body := c.event(w)
			post := func(h http.Header, p string) *apptest.Response {
				h.Set("Content-Type", "application/json")
				return e.Do("POST", p, h, body)
			}
			wantError(t, post(http.Header{}, path), 403, "", name+" without signature")
			wantError(t, post(http.Header{generic.SignatureHeader: {"t=1,v1=00"}}, path), 403, "", name+" with a garbage signature")
			wantError(t, post(http.Header{generic.SignatureHeader: {generic.Sign("whsec_wrong", time.Now(), body)}}, path), 403, "", name+" signed with another secret")
			wantError(t, post(http.Header{generic.SignatureHeader: {generic.Sign(secret, time.Now().Add(-6*time.Minute), body)}}, path), 403, "", name+" signed 6 minutes ago")
			wantError(t, post(http.Header{generic.SignatureHeader: {generic.Sign(secret, time.Now(), append([]byte(" "), body...))}}, path), 403, "", name+" signed over another body")
			wantError(t, post(http.Header{"Authorization": {"Bearer whtok_wrong"}}, path), 403, "", name+" with a wrong bearer token")
			wantError(t, post(http.Header{"Authorization": {"Bearer " + e.AdminKey}}, path), 403, "", name+" with an API key as bearer token")
			wantError(t, post(http.Header{generic.SignatureHeader: {generic.Sign(secret, time.Now(), body)}}, foreignPath), 403, "", name+" for an unknown workspace")
		}
	}
	for name := range webhookCases {
		if !seen[name] {
			t.Errorf("webhookCases has %s, which is not a webhook route", name)
		}
	}
	if after := webhookState(t, e); after != before {
		t.Errorf("refused webhooks changed state:\nbefore: %s\nafter:  %s", before, after)
	}
	if n := sentToTwilio(); n != 1 {
		t.Errorf("refused webhooks made textback send %d more SMS", n-1)
	}

	// Control: the same requests rightly signed are taken.
	for name, c := range webhookCases {
		_, pattern, _ := strings.Cut(name, " ")
		path := strings.Replace(pattern, "{workspace_id}", e.Workspace.ID, 1)
		var r *apptest.Response
		if c.query != nil {
			r = kannelGet(e, path, c.query(w), kannel.Token(secret, e.Workspace.ID))
		} else if c.twilio {
			r = e.TwilioPost(path, c.form(w))
		} else {
			b := c.event(w)
			r = e.Do("POST", path, http.Header{"Content-Type": {"application/json"}, generic.SignatureHeader: {generic.Sign(secret, time.Now(), b)}}, b)
		}
		if r.Status/100 != 2 {
			t.Errorf("control: %s rightly signed = %d %s, want 2xx", name, r.Status, r.Body)
		}
	}
	e.Settle()
	if after := webhookState(t, e); after == before {
		t.Errorf("control: rightly signed webhooks changed nothing, so the check above proves nothing")
	}
	if out, _ := e.App.DB.Q().IsOptedOut(context.Background(), e.Workspace.ID, attackCaller); !out {
		t.Errorf("control: a signed STOP did not opt the caller out")
	}
}
