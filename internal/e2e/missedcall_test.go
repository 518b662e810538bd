// Package e2e drives a whole textback through its webhooks and API: a real
// database (SQLite, or PostgreSQL with TEXTBACK_TEST_DB=postgres), real
// HTTP, River workers, and a fake Twilio API reached through the official
// SDK.
package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/twilio"
)

const (
	trackingNumber = "+14155550100"
	businessLine   = "+14155550199"
	caller         = "+14155550123"
	seedMessage    = "Hello, we missed your call. We will call you back within the hour."
)

func callForm(sid, from string, kv ...string) url.Values {
	return apptest.Form(append([]string{"CallSid", sid, "From", from, "To", trackingNumber, "AccountSid", apptest.TwilioSID}, kv...)...)
}

// ready returns an environment with a tracking number, the seed's message,
// the switch on and 100 credits.
func ready(t *testing.T) *apptest.Env {
	e := apptest.New(t)
	e.AddTrackingNumber(trackingNumber, businessLine)
	e.Configure(seedMessage, true, 100)
	return e
}

func TestMissedCallViaDialActionSendsOneSMS(t *testing.T) {
	e := ready(t)

	// The voice URL forwards the call to the business line with the ring timeout.
	r := e.TwilioPost(e.TwilioPath("voice"), callForm("CA100", caller, "CallStatus", "ringing"))
	if r.Status != 200 {
		t.Fatalf("voice webhook: %d %s", r.Status, r.Body)
	}
	twiml := string(r.Body)
	for _, want := range []string{"<Dial", `timeout="15"`, `action="` + apptest.PublicURL + e.TwilioPath("dial-status") + `"`, "<Number>" + businessLine + "</Number>"} {
		if !strings.Contains(twiml, want) {
			t.Errorf("TwiML lacks %s: %s", want, twiml)
		}
	}
	if n := len(e.Twilio.Messages()); n != 0 {
		t.Fatalf("an SMS was sent while the call was ringing: %d", n)
	}

	// Nobody picked up.
	r = e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA100", caller, "DialCallStatus", "no-answer", "CallStatus", "in-progress"))
	if r.Status != 200 || !strings.Contains(string(r.Body), "<Hangup/>") {
		t.Fatalf("dial action: %d %s", r.Status, r.Body)
	}
	e.Settle()
	msgs := e.Twilio.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d SMS, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != trackingNumber || m.To != caller || m.Body != seedMessage || m.AccountSID != apptest.TwilioSID {
		t.Errorf("SMS sent %+v", m)
	}
	call := e.CallByProviderID("CA100")
	ar := call["autoreply"].(map[string]any)
	if call["outcome"] != "missed" || call["outcome_detail"] != "no-answer" || ar["status"] != "sent" {
		t.Fatalf("call log shows %v", call)
	}
	if want := apptest.PublicURL + e.TwilioPath("message-status") + "?message_id=" + ar["message_id"].(string); m.StatusCallback != want {
		t.Errorf("status callback %q, want %q", m.StatusCallback, want)
	}
	if b := e.Balance(); b != 96 {
		t.Errorf("balance %d, want 96", b)
	}
	// The in-process dispatch sent it and deleted its backstop job with the
	// acceptance: nothing is left for the queue to run later.
	var jobs int
	if err := e.App.DB.SQL.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM river_job").Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 0 {
		t.Errorf("%d send jobs left after the SMS was sent, want 0", jobs)
	}

	// Twilio reports delivery; a late "sent" does not move it back.
	cb := e.TwilioPath("message-status") + "?message_id=" + ar["message_id"].(string)
	for _, st := range []string{"delivered", "sent"} {
		if r := e.TwilioPost(cb, apptest.Form("MessageSid", m.Sid, "MessageStatus", st)); r.Status != 204 {
			t.Fatalf("status callback: %d %s", r.Status, r.Body)
		}
	}
	if got := e.CallByProviderID("CA100")["autoreply"].(map[string]any)["status"]; got != "delivered" {
		t.Errorf("autoreply status %v after the delivery report, want delivered", got)
	}

	// The call's own status callback ends it without changing the outcome or sending again.
	if r := e.TwilioPost(e.TwilioPath("call-status"), callForm("CA100", caller, "CallStatus", "completed", "CallDuration", "21")); r.Status != 204 {
		t.Fatalf("call status: %d %s", r.Status, r.Body)
	}
	e.Settle()
	call = e.CallByProviderID("CA100")
	if call["outcome"] != "missed" || call["duration_seconds"] != float64(21) || call["ended_at"] == nil || len(e.Twilio.Messages()) != 1 {
		t.Errorf("after completion: %v, %d SMS", call, len(e.Twilio.Messages()))
	}
}

func TestAnsweredCallSendsNothing(t *testing.T) {
	e := ready(t)
	e.TwilioPost(e.TwilioPath("voice"), callForm("CA200", caller, "CallStatus", "ringing"))
	r := e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA200", caller, "DialCallStatus", "completed", "DialCallDuration", "95"))
	if r.Status != 200 {
		t.Fatalf("dial action: %d %s", r.Status, r.Body)
	}
	e.Settle()
	call := e.CallByProviderID("CA200")
	if call["outcome"] != "answered" || call["autoreply"] != nil || len(e.Twilio.Messages()) != 0 || e.Balance() != 100 {
		t.Fatalf("answered call: %v, %d SMS", call, len(e.Twilio.Messages()))
	}
}

func TestOutOfOrderReportsGiveOneSMS(t *testing.T) {
	e := ready(t)
	// The call status callback (busy) arrives before the voice webhook was even seen.
	e.TwilioPost(e.TwilioPath("call-status"), callForm("CA300", caller, "CallStatus", "busy"))
	e.TwilioPost(e.TwilioPath("voice"), callForm("CA300", caller, "CallStatus", "ringing"))
	e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA300", caller, "DialCallStatus", "no-answer"))
	e.Settle()
	if n := len(e.Twilio.Messages()); n != 1 {
		t.Fatalf("%d SMS, want 1", n)
	}
	if d := e.CallByProviderID("CA300")["outcome_detail"]; d != "busy" {
		t.Errorf("detail %v, want busy (the first report wins)", d)
	}
}

func TestRepeatedWebhooksGiveOneSMSAndOneDebit(t *testing.T) {
	e := ready(t)
	form := callForm("CA400", caller, "DialCallStatus", "no-answer")
	for i := 0; i < 3; i++ {
		if r := e.TwilioPost(e.TwilioPath("dial-status"), form); r.Status != 200 {
			t.Fatalf("delivery %d: %d %s", i, r.Status, r.Body)
		}
	}
	var wg sync.WaitGroup
	form2 := callForm("CA401", "+14155550124", "DialCallStatus", "busy")
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.TwilioPost(e.TwilioPath("dial-status"), form2); r.Status != 200 {
				t.Errorf("concurrent delivery: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	e.Settle()
	if n := len(e.Twilio.Messages()); n != 2 {
		t.Fatalf("%d SMS for 2 missed calls, want 2", n)
	}
	if b := e.Balance(); b != 92 {
		t.Fatalf("balance %d, want 92 (two debits of 4)", b)
	}
	entries, err := e.App.DB.Q().ListLedger(context.Background(), e.Workspace.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	debits := 0
	for _, en := range entries {
		if en.Reason == "autoreply" {
			debits++
		}
	}
	if debits != 2 || len(e.Calls()) != 2 {
		t.Fatalf("%d autoreply debits and %d calls, want 2 and 2", debits, len(e.Calls()))
	}
}

func TestEverySkipReasonIsRecordedWithoutSMSOrDebit(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(e *apptest.Env)
		from   string
		to     string
		reason string
	}{
		{"switch off", func(e *apptest.Env) { e.Configure("", false, 0) }, caller, trackingNumber, "autoresponder_off"},
		{"caller withheld", nil, "anonymous", trackingNumber, "caller_withheld"},
		{"Twilio's anonymous marker", nil, "+266696687", trackingNumber, "caller_withheld"},
		{"invalid caller", nil, "+1555", trackingNumber, "invalid_caller"},
		{"opted out", func(e *apptest.Env) {
			r := e.TwilioPost(e.TwilioPath("incoming-message"), apptest.Form("From", caller, "To", trackingNumber, "Body", "stop"))
			if r.Status != 200 {
				t.Fatalf("incoming STOP: %d %s", r.Status, r.Body)
			}
		}, caller, trackingNumber, "opted_out"},
		{"unknown tracking number", nil, caller, "+14155550177", "unknown_tracking_number"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := ready(t)
			if c.setup != nil {
				c.setup(e)
			}
			before := e.Balance()
			sid := fmt.Sprintf("CA5%02d", i)
			r := e.TwilioPost(e.TwilioPath("dial-status"), apptest.Form("CallSid", sid, "From", c.from, "To", c.to, "DialCallStatus", "no-answer"))
			if r.Status != 200 {
				t.Fatalf("dial action: %d %s", r.Status, r.Body)
			}
			e.Settle()
			call := e.CallByProviderID(sid)
			ar, _ := call["autoreply"].(map[string]any)
			if ar == nil || ar["status"] != "skipped" || ar["reason"] != c.reason || ar["message_id"] != nil {
				t.Fatalf("autoreply %v, want skipped %s", call["autoreply"], c.reason)
			}
			if n := len(e.Twilio.Messages()); n != 0 {
				t.Errorf("%d SMS sent", n)
			}
			if b := e.Balance(); b != before {
				t.Errorf("balance moved from %d to %d", before, b)
			}
		})
	}
}

func TestNoMessageAndNoCreditsAreSkipped(t *testing.T) {
	t.Run("no message saved", func(t *testing.T) {
		e := apptest.New(t)
		e.AddTrackingNumber(trackingNumber, businessLine)
		e.Configure("", true, 100)
		e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA600", caller, "DialCallStatus", "no-answer"))
		e.Settle()
		ar := e.CallByProviderID("CA600")["autoreply"].(map[string]any)
		if ar["reason"] != "no_message" || len(e.Twilio.Messages()) != 0 || e.Balance() != 100 {
			t.Fatalf("autoreply %v, %d SMS, balance %d", ar, len(e.Twilio.Messages()), e.Balance())
		}
	})
	t.Run("3 credits", func(t *testing.T) {
		e := apptest.New(t)
		e.AddTrackingNumber(trackingNumber, businessLine)
		e.Configure(seedMessage, true, 3)
		e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA601", caller, "DialCallStatus", "no-answer"))
		e.Settle()
		ar := e.CallByProviderID("CA601")["autoreply"].(map[string]any)
		if ar["reason"] != "insufficient_credits" || len(e.Twilio.Messages()) != 0 || e.Balance() != 3 {
			t.Fatalf("autoreply %v, %d SMS, balance %d", ar, len(e.Twilio.Messages()), e.Balance())
		}
	})
}

func TestProviderErrorsRetryOrRefund(t *testing.T) {
	t.Run("5xx is retried and sent once", func(t *testing.T) {
		e := ready(t)
		e.Twilio.FailNext(2, 500, 20500, "Internal Server Error")
		e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA700", caller, "DialCallStatus", "no-answer"))
		e.Settle()
		msgs := e.Twilio.Messages()
		if len(msgs) != 1 || e.Twilio.Requests() != 3 {
			t.Fatalf("%d SMS after %d requests, want 1 after 3", len(msgs), e.Twilio.Requests())
		}
		r := e.API("GET", "/api/v1/messages", e.AdminKey, nil).JSON(t)
		m := r["messages"].([]any)[0].(map[string]any)
		if m["status"] != "sent" || m["attempts"] != float64(3) || m["credits"] != float64(4) || m["provider_message_id"] != msgs[0].Sid {
			t.Errorf("message %v", m)
		}
		if b := e.Balance(); b != 96 {
			t.Errorf("balance %d, want 96", b)
		}
	})
	t.Run("rejection refunds", func(t *testing.T) {
		e := ready(t)
		e.Twilio.FailNext(1, 400, 21211, "The 'To' number is not a valid phone number.")
		e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA701", caller, "DialCallStatus", "no-answer"))
		e.Settle()
		if n := e.Twilio.Requests(); n != 1 {
			t.Fatalf("a rejected message was retried: %d requests", n)
		}
		ar := e.CallByProviderID("CA701")["autoreply"].(map[string]any)
		if ar["status"] != "failed" || !strings.Contains(fmt.Sprint(ar["error"]), "21211") {
			t.Fatalf("autoreply %v", ar)
		}
		if b := e.Balance(); b != 100 {
			t.Errorf("balance %d after the refund, want 100", b)
		}
		entries, _ := e.App.DB.Q().ListLedger(context.Background(), e.Workspace.ID, 10)
		if entries[0].Reason != "refund" || entries[0].Delta != 4 {
			t.Errorf("newest ledger entry %+v, want a refund of 4", entries[0])
		}
	})
	t.Run("undelivered after acceptance is not refunded", func(t *testing.T) {
		e := ready(t)
		e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA702", caller, "DialCallStatus", "no-answer"))
		e.Settle()
		m := e.Twilio.Messages()[0]
		e.TwilioPost(e.TwilioPath("message-status"), apptest.Form("MessageSid", m.Sid, "MessageStatus", "undelivered", "ErrorCode", "30003", "ErrorMessage", "Unreachable"))
		ar := e.CallByProviderID("CA702")["autoreply"].(map[string]any)
		if ar["status"] != "failed" || !strings.Contains(fmt.Sprint(ar["error"]), "30003") || e.Balance() != 96 {
			t.Fatalf("autoreply %v, balance %d", ar, e.Balance())
		}
	})
}

func TestBadSignaturesAndMalformedBodiesStoreNothing(t *testing.T) {
	e := ready(t)
	path := e.TwilioPath("dial-status")
	form := callForm("CA800", caller, "DialCallStatus", "no-answer")
	if r := e.TwilioPostSigned(path, form, ""); r.Status != 403 {
		t.Errorf("no signature: %d", r.Status)
	}
	if r := e.TwilioPostSigned(path, form, twilio.Sign("wrong-token-0123456789", apptest.PublicURL+path, form)); r.Status != 403 {
		t.Errorf("wrong token: %d", r.Status)
	}
	// Signed over the address the request really arrived at, not the public URL.
	if r := e.TwilioPostSigned(path, form, twilio.Sign(apptest.TwilioToken, e.Server.URL+path, form)); r.Status != 403 {
		t.Errorf("signature over the wrong URL: %d", r.Status)
	}
	if r := e.TwilioPost("/webhooks/twilio/ws_nope/dial-status", form); r.Status != 403 {
		t.Errorf("unknown workspace: %d", r.Status)
	}
	if r := e.TwilioPost(path, apptest.Form("From", caller, "DialCallStatus", "no-answer")); r.Status != 400 {
		t.Errorf("no CallSid: %d", r.Status)
	}
	if r := e.TwilioPost(path, callForm("CA801", caller, "DialCallStatus", "exploded")); r.Status != 400 {
		t.Errorf("unknown status: %d", r.Status)
	}
	big := callForm("CA802", caller, "DialCallStatus", "no-answer", "Junk", strings.Repeat("x", 70<<10))
	if r := e.TwilioPost(path, big); r.Status != 413 {
		t.Errorf("oversize body: %d", r.Status)
	}
	e.Settle()
	if n := len(e.Calls()); n != 0 {
		t.Fatalf("%d calls stored from refused requests", n)
	}
	if n := len(e.Twilio.Messages()); n != 0 || e.Balance() != 100 {
		t.Fatalf("%d SMS, balance %d", n, e.Balance())
	}
}

func TestIncomingStartOptsBackIn(t *testing.T) {
	e := ready(t)
	for _, body := range []string{"STOP", "Start"} {
		if r := e.TwilioPost(e.TwilioPath("incoming-message"), apptest.Form("From", caller, "To", trackingNumber, "Body", body)); r.Status != 200 {
			t.Fatalf("%s: %d", body, r.Status)
		}
	}
	// A message that merely contains the word is not a keyword.
	e.TwilioPost(e.TwilioPath("incoming-message"), apptest.Form("From", caller, "To", trackingNumber, "Body", "please don't stop"))
	e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA900", caller, "DialCallStatus", "no-answer"))
	e.Settle()
	if ar := e.CallByProviderID("CA900")["autoreply"].(map[string]any); ar["status"] != "sent" {
		t.Fatalf("after START the autoreply was %v", ar)
	}
}

// On SQLite the hot path's transactions go through the group commit, and
// /metrics says how many shared each commit.
func TestGroupCommitMetrics(t *testing.T) {
	e := ready(t)
	if e.App.DB.Dialect.Name != "sqlite" {
		t.Skip("group commit is SQLite's; PostgreSQL commits each transaction on its own connection")
	}
	for i := range 3 {
		sid := fmt.Sprintf("CAmetrics%d", i)
		if r := e.TwilioPost(e.TwilioPath("dial-status"), callForm(sid, fmt.Sprintf("+1415555020%d", i), "DialCallStatus", "busy")); r.Status != 200 {
			t.Fatalf("dial action: %d %s", r.Status, r.Body)
		}
	}
	e.Settle()
	body := string(e.Do("GET", "/metrics", nil, nil).Body)
	metric := func(name string) float64 {
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				var f float64
				fmt.Sscan(v, &f)
				return f
			}
		}
		t.Fatalf("/metrics has no %s", name)
		return 0
	}
	commits, txs := metric("textback_db_group_commits_total"), metric("textback_db_group_transactions_total")
	// Each call: its event and its SMS's acceptance (and, sent by the
	// in-process dispatch, its claim).
	if txs < 6 || commits < 1 || commits > txs {
		t.Errorf("group commit: %v transactions in %v commits, want at least 6 in 1..%v", txs, commits, txs)
	}
}
