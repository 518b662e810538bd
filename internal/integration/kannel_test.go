package integration

import (
	"testing"
	"time"
)

// TestMissedCallsThroughKamailioAndKannel: SIPp calls the tracking number
// through Kamailio, which reports to textback's generic webhook with the
// bearer token; each missed call (busy, caller hung up, no answer) gives
// exactly one autoreply, handed to Kannel and printed by the fake SMSC,
// whose delivery reports make it delivered; an answered call gives none. A
// STOP from the handset through the fake SMSC opts the caller out, and the
// next missed call is skipped opted_out.
func TestMissedCallsThroughKamailioAndKannel(t *testing.T) {
	k := requirePeers(t)
	t.Parallel()
	tb := startTextback(t)
	tb.setUp("kannel")
	eventsURL, bearer, moURL := tb.webhooks()

	kn := k.startKannelFake(t, moURL)
	tb.api("PUT", "/api/v1/providers/kannel", map[string]string{"sendsms_url": kn.sendsmsURL(), "username": "tester", "password": "foobar"}, 200)
	km := k.startKamailio(t, eventsURL, bearer, 5000)

	cases := []struct{ sip, caller, detail string }{
		{"busy", "+14155550101", "busy"},
		{"cancel", "+14155550102", "canceled"},
		{"noanswer", "+14155550103", "no-answer"},
		{"answered", "+14155550104", ""},
	}
	for _, c := range cases {
		km.call(t, c.sip, c.caller)
	}
	for _, c := range cases {
		calls := tb.callsFrom(c.caller)
		if len(calls) != 1 {
			t.Fatalf("%s: %d calls from %s in the call log, want 1", c.sip, len(calls), c.caller)
		}
		call := calls[0]
		if c.detail == "" {
			if call["outcome"] != "answered" || call["autoreply"] != nil {
				t.Errorf("answered call: %v, want answered without autoreply", call)
			}
			continue
		}
		if call["outcome"] != "missed" || call["outcome_detail"] != c.detail || call["tracking_number"] != trackingNumber {
			t.Errorf("%s: call %v, want missed (%s) on %s", c.sip, call, c.detail, trackingNumber)
		}
		waitFor(t, 15*time.Second, c.sip+" autoreply to be delivered", func() bool {
			ar := tb.autoreply(c.caller, 0)
			return ar != nil && ar["status"] == "delivered"
		})
	}

	// The fake SMSC got one SMS per missed call, from the tracking number; none for the answered call.
	perCaller := map[string]int{}
	for _, sms := range kn.received(t) {
		perCaller[sms.To]++
		if sms.From != trackingNumber || sms.Type != "text" || sms.Text != autoreplyText {
			t.Errorf("the fake SMSC got %+v, want the autoreply from %s", sms, trackingNumber)
		}
	}
	for _, c := range cases {
		want := 1
		if c.detail == "" {
			want = 0
		}
		if perCaller[c.caller] != want {
			t.Errorf("%s: the fake SMSC got %d SMS for %s, want %d (all: %v)", c.sip, perCaller[c.caller], c.caller, want, perCaller)
		}
	}
	m := tb.message(tb.autoreply("+14155550101", 0)["message_id"].(string))
	if m["provider"] != "kannel" || m["provider_message_id"] != m["id"] || m["segments"] != 1.0 || m["credits"] != 4.0 {
		t.Errorf("autoreply message %v", m)
	}

	// STOP from the handset, through the fake SMSC and Kannel's sms-service.
	stopper := "+14155550101"
	kn.mo(t, stopper, trackingNumber, "STOP")
	waitFor(t, 10*time.Second, "the STOP to opt the caller out", func() bool { return tb.optedOut(stopper) })
	km.call(t, "busy", stopper)
	if ar := tb.autoreply(stopper, 1); ar == nil || ar["status"] != "skipped" || ar["reason"] != "opted_out" {
		t.Errorf("missed call after STOP: autoreply %v, want skipped opted_out", ar)
	}
	time.Sleep(500 * time.Millisecond) // an SMS sent anyway would have reached the fake SMSC by now
	n := 0
	for _, sms := range kn.received(t) {
		if sms.To == stopper {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the fake SMSC got %d SMS for %s, want only the one before STOP", n, stopper)
	}
}
