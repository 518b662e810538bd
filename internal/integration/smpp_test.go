package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/internal/sms"
)

// TestMissedCallsThroughKamailioAndSMPP: a missed call placed by SIPp
// through Kamailio gives one autoreply that reaches the kit's SMPP
// simulator over textback's own bind, and its receipt makes it delivered;
// an answered call gives none; a "#fail" message ends undelivered; the
// simulator's log shows the segments (160 GSM-7 characters in one
// submit_sm, 161 in two concatenated parts, Unicode in UCS-2); a STOP
// sent by the simulator opts the caller out; and the bind survives the
// simulator's restart: what was queued meanwhile is sent once after the
// reconnection.
func TestMissedCallsThroughKamailioAndSMPP(t *testing.T) {
	k := requirePeers(t)
	t.Parallel()
	tb := startTextback(t)
	tb.setUp("smpp")
	eventsURL, bearer, _ := tb.webhooks()

	sim := k.newSMPPSim(t)
	sim.start(t)
	tb.api("PUT", "/api/v1/providers/smpp", map[string]any{"host": "127.0.0.1", "port": sim.port, "system_id": "textback", "password": "secret",
		"max_per_second": 50}, 200)
	waitBound(t, tb, true)
	if !bytes.Contains(sim.logBytes(t), []byte("BIND transceiver system_id=textback password=secret")) {
		t.Fatalf("the simulator logged no transceiver bind")
	}
	km := k.startKamailio(t, eventsURL, bearer, 5000)

	// A missed call and an answered one.
	const caller, answerer = "+14155550111", "+14155550112"
	km.call(t, "busy", caller)
	km.call(t, "answered", answerer)
	waitFor(t, 15*time.Second, "the autoreply to be delivered", func() bool {
		ar := tb.autoreply(caller, 0)
		return ar != nil && ar["status"] == "delivered"
	})
	if cs := tb.callsFrom(answerer); len(cs) != 1 || cs[0]["outcome"] != "answered" || cs[0]["autoreply"] != nil {
		t.Errorf("answered call: %v", cs)
	}
	subs := sim.to(t, caller)
	if len(subs) != 1 || subs[0].From != strings.TrimPrefix(trackingNumber, "+") || subs[0].DCS != 0 || string(subs[0].Text) != autoreplyText {
		t.Fatalf("the simulator got %+v for the missed call, want one submit_sm of the autoreply", subs)
	}
	if m := tb.message(tb.autoreply(caller, 0)["message_id"].(string)); m["provider"] != "smpp" || m["provider_message_id"] != subs[0].ID {
		t.Errorf("autoreply message %v, want provider smpp and the submit_sm_resp id %s", m, subs[0].ID)
	}
	if n := len(sim.to(t, answerer)); n != 0 {
		t.Errorf("the simulator got %d submit_sm for the answered call", n)
	}

	// "#fail": the simulator accepts it and its receipt says UNDELIV.
	failing := tb.send("+14155550113", "Testing a failure #fail")
	m := tb.waitStatus(failing, "undelivered", 10*time.Second)
	if e, _ := m["error"].(string); !strings.Contains(e, "stat:UNDELIV") {
		t.Errorf("undelivered message error %q, want the receipt's stat", e)
	}

	// Segments, proven from the simulator's log.
	gsm160 := strings.Repeat("0123456789", 16)
	gsm161 := gsm160 + "!"
	unicode := "Désolé, appel manqué ✆ — nous vous rappelons dans l’heure."
	ids := map[string]string{}
	for to, body := range map[string]string{"+14155550121": gsm160, "+14155550122": gsm161, "+14155550123": unicode} {
		ids[to] = tb.send(to, body)
	}
	for to, id := range ids {
		tb.waitStatus(id, "delivered", 10*time.Second)
		m := tb.message(id)
		info := sms.Count(m["body"].(string))
		if m["segments"] != float64(info.Segments) || m["encoding"] != string(info.Encoding) {
			t.Errorf("%s: message says %v segments of %v", to, m["segments"], m["encoding"])
		}
	}
	if s := sim.to(t, "+14155550121"); len(s) != 1 || s[0].DCS != 0 || string(s[0].Text) != gsm160 {
		t.Errorf("160 GSM-7 characters: %d submit_sm %+v, want one with dcs=0 and the 160 characters", len(s), s)
	}
	parts := sim.to(t, "+14155550122")
	if len(parts) != 2 {
		t.Fatalf("161 GSM-7 characters: %d submit_sm, want 2 concatenated parts", len(parts))
	}
	for i, p := range parts {
		udh := p.Text[:min(6, len(p.Text))]
		if p.DCS != 0 || len(udh) != 6 || !bytes.Equal(udh[:3], []byte{0x05, 0x00, 0x03}) || udh[3] != parts[0].Text[3] || udh[4] != 2 || udh[5] != byte(i+1) {
			t.Errorf("part %d: dcs=%d UDH % x, want dcs 0 and 05 00 03 <ref> 02 %02x", i+1, p.DCS, udh, i+1)
		}
	}
	if got := string(parts[0].Text[6:]) + string(parts[1].Text[6:]); len(parts[0].Text)-6 != 153 || got != gsm161 {
		t.Errorf("parts carry %d + %d characters %q, want 153 + 8 making the message", len(parts[0].Text)-6, len(parts[1].Text)-6, got)
	}
	if s := sim.to(t, "+14155550123"); len(s) != 1 || s[0].DCS != 8 || !bytes.Equal(s[0].Text, sms.EncodeUCS2(unicode)) {
		t.Errorf("Unicode: %+v, want one submit_sm with dcs=8 and the text in UCS-2", s)
	}

	// STOP from the handset, sent by the simulator as a deliver_sm.
	sim.mo(t, caller, trackingNumber, "STOP")
	waitFor(t, 10*time.Second, "the STOP to opt the caller out", func() bool { return tb.optedOut(caller) })
	km.call(t, "busy", caller)
	if ar := tb.autoreply(caller, 1); ar == nil || ar["status"] != "skipped" || ar["reason"] != "opted_out" {
		t.Errorf("missed call after STOP: autoreply %v, want skipped opted_out", ar)
	}

	// The simulator restarts; what is queued while it is down goes out once after the reconnection.
	sim.stop(t)
	waitBound(t, tb, false)
	during := []string{tb.send("+14155550131", "Queued while the SMSC restarts (1)"), tb.send("+14155550132", "Queued while the SMSC restarts (2)")}
	const lateCaller = "+14155550133"
	km.call(t, "busy", lateCaller)
	time.Sleep(1500 * time.Millisecond)
	for _, id := range during {
		if st := tb.message(id)["status"]; st != "queued" && st != "sending" {
			t.Errorf("message %s is %v while the SMSC is down", id, st)
		}
	}
	sim.start(t)
	for _, id := range during {
		tb.waitStatus(id, "delivered", 20*time.Second)
	}
	waitFor(t, 20*time.Second, "the late caller's autoreply to be delivered", func() bool {
		ar := tb.autoreply(lateCaller, 0)
		return ar != nil && ar["status"] == "delivered"
	})
	if n := bytes.Count(sim.logBytes(t), []byte("BIND transceiver")); n != 2 {
		t.Errorf("%d binds in the simulator's log, want 2 (before and after the restart)", n)
	}
	// Nothing went twice: every number got exactly the submit_sm its message needs.
	want := map[string]int{caller: 1, "+14155550113": 1, "+14155550121": 1, "+14155550122": 2, "+14155550123": 1,
		"+14155550131": 1, "+14155550132": 1, lateCaller: 1}
	got := map[string]int{}
	for _, s := range sim.submits(t) {
		got["+"+s.To]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("submit_sm per number: %v, want %v", got, want)
	}
}

// waitBound waits until GET /api/v1/providers says the SMPP bind is up (or down).
func waitBound(t *testing.T, tb *textback, up bool) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("the SMPP bind to be up=%v", up), func() bool {
		return tb.api("GET", "/api/v1/providers", nil, 200)["smpp"].(map[string]any)["bound"] == up
	})
}
