package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/smpp/smpptest"
)

// carrierReady is an environment with a generic (PBX) tracking number whose
// autoreplies go out through smsProvider, the seed's message, the switch on
// and 100 credits.
func carrierReady(t *testing.T, smsProvider string) *apptest.Env {
	e := apptest.New(t)
	r := e.API("POST", "/api/v1/sites/"+e.SiteID+"/tracking-numbers", e.AdminKey, map[string]any{
		"number": trackingNumber, "provider": "generic", "sms_provider": smsProvider})
	if r.Status != 201 {
		t.Fatalf("adding tracking number: %d %s", r.Status, r.Body)
	}
	e.Configure(seedMessage, true, 100)
	return e
}

func missedCall(t *testing.T, e *apptest.Env, callID, from string) {
	t.Helper()
	r := e.GenericPost(generic.Event{EventID: callID + "-missed", CallID: callID, From: from, To: trackingNumber, Status: "missed", Detail: "busy",
		OccurredAt: time.Now().UTC().Format(time.RFC3339)})
	if r.Status != 202 {
		t.Fatalf("call event: %d %s", r.Status, r.Body)
	}
}

// autoreply is the call's autoreply as the call log shows it.
func autoreply(e *apptest.Env, callID string) map[string]any {
	e.T.Helper()
	ar, _ := e.CallByProviderID(callID)["autoreply"].(map[string]any)
	return ar
}

func message(e *apptest.Env, id string) map[string]any {
	e.T.Helper()
	r := e.API("GET", "/api/v1/messages?limit=100", e.AdminKey, nil)
	for _, m := range r.JSON(e.T)["messages"].([]any) {
		if mm := m.(map[string]any); mm["id"] == id {
			return mm
		}
	}
	e.T.Fatalf("message %s not listed", id)
	return nil
}

func TestSMPPAutoreplyReceiptAndStop(t *testing.T) {
	e := carrierReady(t, "smpp")
	smsc := smpptest.New(t)
	r := e.API("PUT", "/api/v1/providers/smpp", e.AdminKey, map[string]any{"host": "127.0.0.1", "port": smsc.Port(), "system_id": "textback", "password": "pw"})
	if r.Status != 200 {
		t.Fatalf("PUT /providers/smpp: %d %s", r.Status, r.Body)
	}
	e.WaitFor("the bind", func() bool { return smsc.Connections() == 1 })

	missedCall(t, e, "pbx-1", caller)
	e.WaitFor("the receipt", func() bool { ar := autoreply(e, "pbx-1"); return ar != nil && ar["status"] == "delivered" })
	subs := smsc.Submits()
	if len(subs) != 1 || subs[0].From != strings.TrimPrefix(trackingNumber, "+") || subs[0].To != strings.TrimPrefix(caller, "+") || string(subs[0].Data) != seedMessage {
		t.Fatalf("the SMSC got %+v", subs)
	}
	m := message(e, autoreply(e, "pbx-1")["message_id"].(string))
	if m["provider"] != "smpp" || m["provider_message_id"] != subs[0].ID || m["status"] != "delivered" {
		t.Errorf("message %v, want the SMSC's id %s", m, subs[0].ID)
	}

	// The caller texts STOP: the next missed call is skipped.
	smsc.Deliver(smpptest.MO(strings.TrimPrefix(caller, "+"), strings.TrimPrefix(trackingNumber, "+"), "Stop"))
	e.WaitFor("the opt-out", func() bool {
		out, err := e.App.DB.Q().IsOptedOut(context.Background(), e.Workspace.ID, caller)
		return err == nil && out
	})
	missedCall(t, e, "pbx-2", caller)
	if ar := autoreply(e, "pbx-2"); ar == nil || ar["status"] != "skipped" || ar["reason"] != "opted_out" {
		t.Errorf("autoreply after STOP: %v, want skipped opted_out", ar)
	}
	e.Settle()
	if n := len(smsc.Submits()); n != 1 {
		t.Errorf("the SMSC got %d messages, want 1", n)
	}
	if b := e.Balance(); b != 96 {
		t.Errorf("balance %d, want 96", b)
	}
}

// fakeKannel accepts sendsms POSTs and reports back to textback like
// Kannel does: the dlr-url with %d set to 8 (SMSC ack) then dlrType.
type fakeKannel struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []http.Header
	bodies  []string
	dlrType string
}

func newFakeKannel(t *testing.T, e *apptest.Env) *fakeKannel {
	k := &fakeKannel{dlrType: "1"}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Kannel-Username") != "tester" || r.Header.Get("X-Kannel-Password") != "foobar" {
			w.WriteHeader(403)
			io.WriteString(w, "Authorization failed for sendsms")
			return
		}
		b, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		k.got = append(k.got, r.Header.Clone())
		k.bodies = append(k.bodies, string(b))
		typ := k.dlrType
		k.mu.Unlock()
		w.WriteHeader(202)
		io.WriteString(w, "0: Accepted for delivery")
		dlr := strings.TrimPrefix(r.Header.Get("X-Kannel-DLR-Url"), apptest.PublicURL)
		go func() {
			for _, d := range []string{"8", typ} {
				u := strings.NewReplacer("%d", d, "%A", url.QueryEscape("ACK/")).Replace(dlr)
				if resp := e.Do("GET", u, nil, nil); resp.Status != 204 {
					t.Errorf("DLR %s: %d %s", d, resp.Status, resp.Body)
				}
			}
		}()
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func TestKannelAutoreplyReportsAndStop(t *testing.T) {
	e := carrierReady(t, "kannel")
	k := newFakeKannel(t, e)
	r := e.API("PUT", "/api/v1/providers/kannel", e.AdminKey, map[string]any{"sendsms_url": k.srv.URL + "/cgi-bin/sendsms", "username": "tester", "password": "foobar"})
	if r.Status != 200 {
		t.Fatalf("PUT /providers/kannel: %d %s", r.Status, r.Body)
	}

	missedCall(t, e, "pbx-1", caller)
	e.WaitFor("the delivery report", func() bool { ar := autoreply(e, "pbx-1"); return ar != nil && ar["status"] == "delivered" })
	k.mu.Lock()
	h, body := k.got[0], k.bodies[0]
	k.mu.Unlock()
	if h.Get("X-Kannel-From") != trackingNumber || h.Get("X-Kannel-To") != caller || body != seedMessage || h.Get("X-Kannel-DLR-Mask") != "31" {
		t.Errorf("Kannel got %v %q", h, body)
	}

	// Rejected by the SMSC after Kannel took it: failed, and not refunded.
	k.mu.Lock()
	k.dlrType = "16"
	k.mu.Unlock()
	missedCall(t, e, "pbx-2", "+14155550124")
	e.WaitFor("the rejection", func() bool { ar := autoreply(e, "pbx-2"); return ar != nil && ar["status"] == "failed" })
	if m := message(e, autoreply(e, "pbx-2")["message_id"].(string)); !strings.Contains(m["error"].(string), "DLR 16") || m["credits"] != 4.0 {
		t.Errorf("rejected message %v", m)
	}
	if b := e.Balance(); b != 92 {
		t.Errorf("balance %d, want 92: a message Kannel accepted is not refunded", b)
	}

	// STOP through the sms-service's get-url.
	var wh struct {
		Kannel struct {
			MO string `json:"mo_url"`
		} `json:"kannel"`
	}
	if err := json.Unmarshal(e.API("GET", "/api/v1/webhooks", e.AdminKey, nil).Body, &wh); err != nil {
		t.Fatal(err)
	}
	mo := strings.NewReplacer("%p", strings.TrimPrefix(caller, "+"), "%P", strings.TrimPrefix(trackingNumber, "+"), "%a", "STOP").Replace(strings.TrimPrefix(wh.Kannel.MO, apptest.PublicURL))
	if r := e.Do("GET", mo, nil, nil); r.Status != 204 {
		t.Fatalf("MO: %d %s", r.Status, r.Body)
	}
	missedCall(t, e, "pbx-3", caller)
	if ar := autoreply(e, "pbx-3"); ar == nil || ar["reason"] != "opted_out" {
		t.Errorf("autoreply after STOP: %v, want skipped opted_out", ar)
	}
}

// TestKannelReportBeforeAnswer: Kannel's report can reach textback before
// its answer to sendsms does, or instead of it (the answer lost). The report
// proves Kannel took the message: it is recorded as accepted, and the send's
// retry does not hand it to Kannel again.
func TestKannelReportBeforeAnswer(t *testing.T) {
	e := carrierReady(t, "kannel")
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		first := requests == 1
		mu.Unlock()
		dlr := strings.TrimPrefix(r.Header.Get("X-Kannel-DLR-Url"), apptest.PublicURL)
		for _, d := range []string{"8", "1"} {
			if resp := e.Do("GET", strings.NewReplacer("%d", d, "%A", "").Replace(dlr), nil, nil); resp.Status != 204 {
				t.Errorf("DLR %s: %d %s", d, resp.Status, resp.Body)
			}
		}
		if first { // the answer never arrives: the send times out, outcome unknown
			hj, _ := w.(http.Hijacker)
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
			return
		}
		w.WriteHeader(202)
		io.WriteString(w, "0: Accepted for delivery")
	}))
	t.Cleanup(srv.Close)
	if r := e.API("PUT", "/api/v1/providers/kannel", e.AdminKey, map[string]any{"sendsms_url": srv.URL + "/cgi-bin/sendsms", "username": "tester", "password": "foobar"}); r.Status != 200 {
		t.Fatalf("PUT /providers/kannel: %d %s", r.Status, r.Body)
	}
	missedCall(t, e, "pbx-1", caller)
	e.Settle()
	time.Sleep(200 * time.Millisecond) // a retry of the send would have reached Kannel by now
	ar := autoreply(e, "pbx-1")
	m := message(e, ar["message_id"].(string))
	if m["status"] != "delivered" || m["provider_message_id"] != m["id"] {
		t.Errorf("message %v, want delivered with its own id as Kannel's", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 1 {
		t.Errorf("Kannel got %d sendsms requests, want 1: the report showed it had the message", requests)
	}
}
