package generic

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkVerifyAndParse is the generic webhook's own work: the HMAC check
// of the signature header, then the JSON body into a call event.
func BenchmarkVerifyAndParse(b *testing.B) {
	body, _ := json.Marshal(Event{EventID: "evt_1", CallID: "pbx-123456", From: "+14155550123", To: "+14155550100",
		Status: "missed", Detail: "no-answer", OccurredAt: "2026-12-03T10:00:00Z"})
	now := time.Now()
	secret := "whsec_0123456789abcdef0123456789abcdef"
	sig := Sign(secret, now, body)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(sig, "", body, secret, "", now); err != nil {
			b.Fatal(err)
		}
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}
