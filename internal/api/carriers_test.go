package api_test

import (
	"strings"
	"testing"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/kannel"
)

func TestPutSMPPValidationAndRedaction(t *testing.T) {
	e := newEnv(t)
	put := func(body map[string]any) *apptest.Response {
		return e.API("PUT", "/api/v1/providers/smpp", e.AdminKey, body)
	}
	valid := func() map[string]any {
		return map[string]any{"host": "127.0.0.1", "port": 1, "system_id": "tb", "password": "pw-SMPP-secret", "system_type": "VMA", "max_per_second": 25}
	}
	for what, change := range map[string]func(m map[string]any){
		"a host with a port":     func(m map[string]any) { m["host"] = "smsc.example:2775" },
		"a URL as host":          func(m map[string]any) { m["host"] = "smpp://smsc.example" },
		"port 0":                 func(m map[string]any) { m["port"] = 0 },
		"port 70000":             func(m map[string]any) { m["port"] = 70000 },
		"no system_id":           func(m map[string]any) { m["system_id"] = " " },
		"no password at first":   func(m map[string]any) { m["password"] = "" },
		"a long system_type":     func(m map[string]any) { m["system_type"] = "thirteen-char" },
		"5000 messages a second": func(m map[string]any) { m["max_per_second"] = 5000 },
	} {
		m := valid()
		change(m)
		wantError(t, put(m), 422, "validation_failed", what)
	}
	wantError(t, put(map[string]any{"host": "h", "port": 1, "system_id": "x", "password": "y", "tls": true}), 400, "invalid_json", "an unknown field")

	r := put(valid())
	got := must(t, r, 200, "PUT /providers/smpp")
	if strings.Contains(string(r.Body), "pw-SMPP-secret") {
		t.Errorf("PUT /providers/smpp returns the password: %s", r.Body)
	}
	if got["configured"] != true || got["host"] != "127.0.0.1" || got["port"] != 1.0 || got["system_id"] != "tb" ||
		got["system_type"] != "VMA" || got["max_per_second"] != 25.0 || got["password_set"] != true {
		t.Errorf("PUT /providers/smpp = %v", got)
	}

	// The password is write-only: leaving it out keeps it.
	m := valid()
	delete(m, "password")
	m["system_id"] = "tb2"
	must(t, put(m), 200, "PUT /providers/smpp without the password")
	r = e.API("GET", "/api/v1/providers", e.AdminKey, nil)
	var p struct {
		SMPP map[string]any `json:"smpp"`
	}
	decodeAs(t, must2(t, r), &p)
	if strings.Contains(string(r.Body), "pw-SMPP-secret") || p.SMPP["password_set"] != true || p.SMPP["system_id"] != "tb2" {
		t.Errorf("GET /providers smpp = %v (body %s)", p.SMPP, r.Body)
	}
	if p.SMPP["bound"] != false {
		t.Errorf("bound = %v with nothing listening on port 1", p.SMPP["bound"])
	}
}

func must2(t *testing.T, r *apptest.Response) *apptest.Response {
	t.Helper()
	mustStatus(t, r, 200, "GET")
	return r
}

func TestPutKannelValidationAndRedaction(t *testing.T) {
	e := newEnv(t)
	put := func(body map[string]any) *apptest.Response {
		return e.API("PUT", "/api/v1/providers/kannel", e.AdminKey, body)
	}
	wantError(t, put(map[string]any{"sendsms_url": "kannel:13013", "username": "u", "password": "p"}), 422, "validation_failed", "no scheme")
	wantError(t, put(map[string]any{"sendsms_url": "http://u:p@kannel:13013/cgi-bin/sendsms", "username": "u", "password": "p"}), 422, "validation_failed", "credentials in the URL")
	wantError(t, put(map[string]any{"sendsms_url": "http://kannel:13013/cgi-bin/sendsms", "username": "", "password": "p"}), 422, "validation_failed", "no username")
	wantError(t, put(map[string]any{"sendsms_url": "http://kannel:13013/cgi-bin/sendsms", "username": "u", "password": ""}), 422, "validation_failed", "no password at first")

	r := put(map[string]any{"sendsms_url": "http://kannel:13013/cgi-bin/sendsms", "username": "tester", "password": "kannel-PW-secret"})
	got := must(t, r, 200, "PUT /providers/kannel")
	if strings.Contains(string(r.Body), "kannel-PW-secret") || got["password_set"] != true || got["username"] != "tester" ||
		got["sendsms_url"] != "http://kannel:13013/cgi-bin/sendsms" {
		t.Errorf("PUT /providers/kannel = %s", r.Body)
	}
	must(t, put(map[string]any{"sendsms_url": "http://kannel2:13013/cgi-bin/sendsms", "username": "tester"}), 200, "PUT without the password")
	r = e.API("GET", "/api/v1/providers", e.AdminKey, nil)
	mustStatus(t, r, 200, "GET /providers")
	if strings.Contains(string(r.Body), "kannel-PW-secret") || !strings.Contains(string(r.Body), `"password_set":true`) || !strings.Contains(string(r.Body), "kannel2") {
		t.Errorf("GET /providers = %s", r.Body)
	}
}

func TestKannelWebhookURLs(t *testing.T) {
	e := newEnv(t)
	var wh struct {
		Generic struct {
			SigningSecret string `json:"signing_secret"`
		} `json:"generic"`
		Kannel struct {
			DLR string `json:"dlr_url"`
			MO  string `json:"mo_url"`
		} `json:"kannel"`
	}
	decodeAs(t, must2(t, e.API("GET", "/api/v1/webhooks", e.AdminKey, nil)), &wh)
	base := apptest.PublicURL + "/webhooks/kannel/" + e.Workspace.ID
	token := kannel.Token(wh.Generic.SigningSecret, e.Workspace.ID)
	if wh.Kannel.DLR != base+"/dlr?token="+token {
		t.Errorf("dlr_url = %q", wh.Kannel.DLR)
	}
	if wh.Kannel.MO != base+"/mo?token="+token+"&from=%p&to=%P&text=%a" {
		t.Errorf("mo_url = %q, want it ready to paste as Kannel's get-url", wh.Kannel.MO)
	}
	// The URLs work as given (Kannel fills in the escapes).
	mo := strings.NewReplacer("%p", "14155550177", "%P", tn(e, 1), "%a", "STOP").Replace(strings.TrimPrefix(wh.Kannel.MO, apptest.PublicURL))
	mustStatus(t, e.Do("GET", mo, nil, nil), 204, "GET the MO URL")
	if out, err := e.App.DB.Q().IsOptedOut(t.Context(), e.Workspace.ID, "+14155550177"); err != nil || !out {
		t.Errorf("a STOP through the MO URL did not opt the sender out: %v %v", out, err)
	}
	mustStatus(t, e.Do("GET", strings.TrimPrefix(wh.Kannel.DLR, apptest.PublicURL)+"&message_id=msg_unknown&type=1", nil, nil), 204, "a report for an unknown message")
	wantError(t, e.Do("GET", strings.TrimPrefix(wh.Kannel.DLR, apptest.PublicURL)+"&message_id=msg_x&type=3", nil, nil), 400, "malformed", "report type 3")
}

func TestTrackingNumberSMSProviders(t *testing.T) {
	e := newEnv(t)
	for i, p := range []string{"smpp", "kannel", "twilio", "simulated"} {
		r := e.API("POST", "/api/v1/sites/"+e.SiteID+"/tracking-numbers", e.AdminKey, map[string]any{"number": tn(e, 10+i), "provider": "generic", "sms_provider": p})
		if got := must(t, r, 201, "sms_provider "+p); got["sms_provider"] != p {
			t.Errorf("sms_provider %s stored as %v", p, got["sms_provider"])
		}
	}
	wantError(t, e.API("POST", "/api/v1/sites/"+e.SiteID+"/tracking-numbers", e.AdminKey, map[string]any{"number": tn(e, 20), "provider": "generic", "sms_provider": "telnyx"}),
		422, "validation_failed", "an unknown SMS provider")
}
