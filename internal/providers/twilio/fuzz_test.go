package twilio

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzVerify posts arbitrary form bodies and query strings to Verify, the
// first reader of every Twilio webhook: it never panics, answers only its
// three errors, accepts a body it parsed when signed the way Twilio signs,
// and refuses it under another token or signature.
func FuzzVerify(f *testing.F) {
	const token, public = "5f3e0a1b2c3d4e5f60718293a4b5c6d7", "https://tb.example.test/"
	f.Add("CallSid=CA123&From=%2B14155550123&To=%2B14155550100&CallStatus=no-answer&DialCallStatus=busy", "m_1", "")
	f.Add("MessageSid=SM1&MessageStatus=delivered&ErrorCode=", "", "bad")
	f.Add("Body=STOP&From=%2B1415&Body=again", "x y", "")
	f.Add("a=%zz", "", "")
	f.Add(strings.Repeat("k=v&", 100), "q", "")
	f.Fuzz(func(t *testing.T, body, query, sig string) {
		path := "/webhooks/twilio/ws_1/message-status?" + url.Values{"message_id": {query}}.Encode()
		req := func(signature string) *http.Request {
			r := httptest.NewRequest("POST", path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(SignatureHeader, signature)
			return r
		}
		if sig != "" {
			_, err := Verify(req(sig), public, token)
			if err != nil && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Verify: unexpected error %v", err)
			}
		}
		form, err := url.ParseQuery(body)
		if err != nil || len(body) > MaxWebhookBody {
			return
		}
		good := Sign(token, strings.TrimSuffix(public, "/")+path, form)
		got, err := Verify(req(good), public, token)
		if err != nil {
			t.Fatalf("a body signed as Twilio signs it was refused: %v", err)
		}
		if got.Encode() != form.Encode() {
			t.Fatalf("Verify returned %v, want %v", got, form)
		}
		if _, err := Verify(req(good), public, token+"x"); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("another token's signature was not refused: %v", err)
		}
		if sig != good {
			if _, err := Verify(req(sig), public, token); err == nil && sig != "" {
				// Only the SDK's single-value form may also verify.
				if Sign(token, strings.TrimSuffix(public, "/")+path, firstValues(form)) != sig {
					t.Fatalf("signature %q verified, want %q", sig, good)
				}
			}
		}
	})
}

func firstValues(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = v[:1]
	}
	return out
}
