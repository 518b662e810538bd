package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/internal/api"
	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/kannel"
	"github.com/textback/textback/internal/providers/twilio"
)

// bodyRoutes are the API routes that read a JSON body, from the route
// table. PUT /api/v1/providers/smpp is left out: a body it accepts makes
// textback bind to the host it names, and fuzzed host names would leave
// the machine.
func bodyRoutes() []api.Route {
	var out []api.Route
	for _, rt := range (&api.Server{}).Routes() {
		if (rt.Method == "POST" || rt.Method == "PUT") && rt.Access != api.Webhook && rt.Pattern != "/api/v1/providers/smpp" {
			out = append(out, rt)
		}
	}
	return out
}

// do sends a request without failing the fuzz target's F (whose methods
// may not be called from inside the fuzz function).
func do(t *testing.T, e *apptest.Env, method, path string, h http.Header, body []byte) (int, []byte) {
	req, err := http.NewRequest(method, e.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// FuzzAPIBodies sends arbitrary bodies, as an admin or a member, to every
// API route that reads one, through the real handler on a real database:
// no input may cause a 5xx or a panic, and errors are JSON.
func FuzzAPIBodies(f *testing.F) {
	e := apptest.New(f)
	e.AddTrackingNumber("+14155550100", "+14155550199")
	e.Configure("We missed your call.", true, 1000)
	member := e.AddMember("member@fuzz.test", "member")
	routes := bodyRoutes()
	seeds := map[string]any{
		"POST /api/v1/auth/token":                           map[string]string{"email": "admin@clinic.test", "password": "wrong"},
		"POST /api/v1/sites":                                map[string]string{"name": "Annex", "time_zone": "Europe/Paris"},
		"POST /api/v1/sites/{site_id}/tracking-numbers":     map[string]any{"number": "+14155559876", "provider": "twilio", "forward_to": "+14155550199", "ring_timeout_seconds": 20},
		"PUT /api/v1/sites/{site_id}/autoresponder/message": map[string]string{"message": "Back at 9 — “promise” 😀"},
		"PUT /api/v1/sites/{site_id}/autoresponder/enabled": map[string]bool{"enabled": true},
		"POST /api/v1/messages":                             map[string]string{"site_id": e.SiteID, "to": "+14155550150", "body": "Hello."},
		"POST /api/v1/credits/top-ups":                      map[string]any{"credits": 1 << 62, "reference": "x"},
		"PUT /api/v1/providers/twilio":                      map[string]string{"account_sid": apptest.TwilioSID, "auth_token": apptest.TwilioToken},
		"PUT /api/v1/providers/kannel":                      map[string]string{"sendsms_url": "http://127.0.0.1:1/cgi-bin/sendsms", "username": "u", "password": "p"},
		"POST /api/v1/members":                              map[string]string{"email": "new@fuzz.test", "role": "owner", "password": "short"},
		"POST /api/v1/api-keys":                             map[string]string{"name": strings.Repeat("k", 300)},
	}
	for i, rt := range routes {
		if s, ok := seeds[rt.Method+" "+rt.Pattern]; ok {
			b, _ := json.Marshal(s)
			f.Add(uint8(i), false, b)
			f.Add(uint8(i), true, b)
		}
		for _, raw := range []string{"", "null", "[]", `{"a":`, `{"credits":-4}`, `{"message":null}`, "\xff\xfe", `{"enabled":"yes"}`, `{"number":1e400}`} {
			f.Add(uint8(i), false, []byte(raw))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, asMember bool, body []byte) {
		rt := routes[int(route)%len(routes)]
		path := strings.NewReplacer("{site_id}", e.SiteID, "{id}", "x").Replace(rt.Pattern)
		key := e.AdminKey
		if asMember {
			key = member
		}
		h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}
		status, answer := do(t, e, rt.Method, path, h, body)
		if status >= 500 {
			t.Fatalf("%s %s with %q answered %d: %s", rt.Method, rt.Pattern, body, status, answer)
		}
		if status >= 400 && !json.Valid(answer) {
			t.Fatalf("%s %s with %q answered %d without a JSON error: %q", rt.Method, rt.Pattern, body, status, answer)
		}
	})
}

// FuzzWebhooks sends arbitrary forms, JSON and query strings, correctly
// signed, to every webhook route (Twilio's forms, the generic JSON event,
// Kannel's reports and inbound SMS) through the real handler: no input may
// cause a 5xx or a panic.
func FuzzWebhooks(f *testing.F) {
	e := apptest.New(f)
	e.AddTrackingNumber("+14155550100", "+14155550199")
	e.Configure("We missed your call.", true, 1000)
	var hooks []api.Route
	for _, rt := range (&api.Server{}).Routes() {
		if rt.Access == api.Webhook {
			hooks = append(hooks, rt)
		}
	}
	kannelToken := kannel.Token(e.Workspace.WebhookSecret, e.Workspace.ID)
	for i := range hooks {
		for _, s := range []string{
			"CallSid=CA1&From=%2B14155550123&To=%2B14155550100&CallStatus=no-answer&DialCallStatus=busy&Direction=inbound",
			"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003",
			"From=%2B14155550123&To=%2B14155550100&Body=STOP",
			`{"event_id":"e1","call_id":"c1","from":"+14155550123","to":"+14155550100","status":"missed","detail":"busy","occurred_at":"2026-12-03T12:00:00Z"}`,
			`{"call_id":"","status":"weird","duration_seconds":-1}`,
			"type=1&message_id=msg_x&answer=ACK", "from=14155550123&to=14155550100&text=STOP", "%zz", "",
		} {
			f.Add(uint8(i), s, "message_id=msg_1")
		}
	}
	f.Fuzz(func(t *testing.T, hook uint8, body, query string) {
		rt := hooks[int(hook)%len(hooks)]
		path := strings.Replace(rt.Pattern, "{workspace_id}", e.Workspace.ID, 1)
		var status int
		var answer []byte
		switch {
		case strings.HasPrefix(rt.Pattern, "/webhooks/kannel/"):
			q, _ := url.ParseQuery(body)
			if q == nil {
				q = url.Values{}
			}
			q.Set("token", kannelToken)
			status, answer = do(t, e, rt.Method, path+"?"+q.Encode(), nil, nil)
		case strings.HasPrefix(rt.Pattern, "/webhooks/generic/"):
			status, answer = do(t, e, "POST", path, http.Header{"Content-Type": {"application/json"},
				generic.SignatureHeader: {generic.Sign(e.Workspace.WebhookSecret, time.Now(), []byte(body))}}, []byte(body))
		default: // Twilio: signed over the public URL and the form, as Twilio signs
			full := path + "?" + url.Values{"q": {query}}.Encode()
			form, _ := url.ParseQuery(body)
			status, answer = do(t, e, "POST", full, http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
				twilio.SignatureHeader: {twilio.Sign(apptest.TwilioToken, apptest.PublicURL+full, form)}}, []byte(body))
		}
		if status >= 500 {
			t.Fatalf("%s %s with %q answered %d: %s", rt.Method, rt.Pattern, body, status, answer)
		}
	})
}
