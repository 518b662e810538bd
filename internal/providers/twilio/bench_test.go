package twilio

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkVerifyDialAction is the Twilio webhook's own work: parse the
// form and check X-Twilio-Signature (HMAC-SHA1 over the URL and the sorted
// parameters) with the auth token.
func BenchmarkVerifyDialAction(b *testing.B) {
	const public, token = "https://textback.example.com", "0123456789abcdef0123456789abcdef"
	path := "/webhooks/twilio/ws_123/dial-status"
	form := url.Values{"CallSid": {"CA0123456789abcdef0123456789abcdef"}, "AccountSid": {"AC0123456789abcdef0123456789abcdef"},
		"From": {"+14155550123"}, "To": {"+14155550100"}, "CallStatus": {"completed"}, "Direction": {"inbound"},
		"DialCallStatus": {"no-answer"}, "DialCallDuration": {"0"}}
	body := form.Encode()
	sig := Sign(token, public+path, form)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(SignatureHeader, sig)
		if _, err := Verify(r, public, token); err != nil {
			b.Fatal(err)
		}
	}
}
