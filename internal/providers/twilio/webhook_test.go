package twilio_test

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/textback/textback/internal/providers/twilio"
	"github.com/textback/textback/internal/sms"
)

const (
	hookToken  = "0123456789abcdef0123456789abcdef"
	publicBase = "https://tb.example.com"
	hookPath   = "/webhooks/twilio/status?ws=ws_1&m=msg%201"
)

func statusParams() url.Values {
	return url.Values{
		"MessageSid":    {"SM0123456789abcdef0123456789abcdef"},
		"MessageStatus": {"delivered"},
		"AccountSid":    {"AC0123456789abcdef0123456789abcdef"},
		"From":          {"+15005550006"},
		"To":            {"+14155550100"},
		"Body":          {"a & b = c, 100% ✓"},
	}
}

// newHookRequest builds the request as the app's server sees it: behind a
// proxy, on an internal host, unlike the public URL Twilio signed.
func newHookRequest(body string, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:8080"+hookPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		r.Header.Set("X-Twilio-Signature", sig)
	}
	return r
}

func TestSignMatchesTwilioVector(t *testing.T) {
	// The SDK's own test vector (client/request_validator_test.go).
	params := url.Values{
		"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"},
		"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
	if got := twilio.Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params); got != "vOEb5UThFn24KEfnOFLQY2AE5FY=" {
		t.Fatalf("Sign = %q, want vOEb5UThFn24KEfnOFLQY2AE5FY=", got)
	}
}

func TestSignPassesSDKValidator(t *testing.T) {
	params := statusParams()
	full := publicBase + hookPath
	sig := twilio.Sign(hookToken, full, params)
	flat := map[string]string{}
	for k, v := range params {
		flat[k] = v[0]
	}
	v := client.NewRequestValidator(hookToken)
	if !v.Validate(full, flat, sig) {
		t.Fatal("SDK validator rejects Sign's signature")
	}
	body := []byte(params.Encode())
	if !v.ValidateBody(full, body, sig) {
		t.Fatal("SDK ValidateBody rejects Sign's signature")
	}
}

func TestVerify(t *testing.T) {
	params := statusParams()
	body := params.Encode()
	goodSig := twilio.Sign(hookToken, publicBase+hookPath, params)

	tampered := statusParams()
	tampered.Set("MessageStatus", "failed")
	extra := statusParams()
	extra.Set("ErrorCode", "30003")
	multi := url.Values{"MediaUrl": {"https://b.example/2", "https://a.example/1"}, "MessageSid": {"SM1"}}

	tests := []struct {
		name      string
		req       func() *http.Request
		publicURL string
		token     string
		wantErr   error
		wantForm  url.Values
	}{
		{
			name:      "valid signature over the public URL",
			req:       func() *http.Request { return newHookRequest(body, goodSig) },
			publicURL: publicBase, token: hookToken, wantForm: params,
		},
		{
			name:      "public URL with trailing slash",
			req:       func() *http.Request { return newHookRequest(body, goodSig) },
			publicURL: publicBase + "/", token: hookToken, wantForm: params,
		},
		{
			name: "content type with charset",
			req: func() *http.Request {
				r := newHookRequest(body, goodSig)
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
				return r
			},
			publicURL: publicBase, token: hookToken, wantForm: params,
		},
		{
			name: "repeated parameter signed the Twilio way",
			req: func() *http.Request {
				return newHookRequest(multi.Encode(), twilio.Sign(hookToken, publicBase+hookPath, multi))
			},
			publicURL: publicBase, token: hookToken, wantForm: multi,
		},
		{
			name: "signed over the request's own host instead of the public URL",
			req: func() *http.Request {
				return newHookRequest(body, twilio.Sign(hookToken, "http://10.0.0.7:8080"+hookPath, params))
			},
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrBadSignature,
		},
		{
			name:      "other public URL configured",
			req:       func() *http.Request { return newHookRequest(body, goodSig) },
			publicURL: "https://other.example.com", token: hookToken, wantErr: twilio.ErrBadSignature,
		},
		{
			name:      "wrong token",
			req:       func() *http.Request { return newHookRequest(body, goodSig) },
			publicURL: publicBase, token: "fedcba9876543210fedcba9876543210", wantErr: twilio.ErrBadSignature,
		},
		{
			name:      "empty token",
			req:       func() *http.Request { return newHookRequest(body, twilio.Sign("", publicBase+hookPath, params)) },
			publicURL: publicBase, token: "", wantErr: twilio.ErrBadSignature,
		},
		{
			name:      "missing header",
			req:       func() *http.Request { return newHookRequest(body, "") },
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrBadSignature,
		},
		{
			name:      "garbage signature",
			req:       func() *http.Request { return newHookRequest(body, "not-a-signature") },
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrBadSignature,
		},
		{
			name:      "tampered parameter",
			req:       func() *http.Request { return newHookRequest(tampered.Encode(), goodSig) },
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrBadSignature,
		},
		{
			name:      "added parameter",
			req:       func() *http.Request { return newHookRequest(extra.Encode(), goodSig) },
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrBadSignature,
		},
		{
			name: "tampered query string",
			req: func() *http.Request {
				r := newHookRequest(body, goodSig)
				r.URL.RawQuery = "ws=ws_2&m=msg%201"
				return r
			},
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrBadSignature,
		},
		{
			name: "oversized body",
			req: func() *http.Request {
				big := statusParams()
				big.Set("Body", strings.Repeat("x", 64<<10))
				return newHookRequest(big.Encode(), twilio.Sign(hookToken, publicBase+hookPath, big))
			},
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrTooLarge,
		},
		{
			name: "oversized body without Content-Length",
			req: func() *http.Request {
				r := newHookRequest(strings.Repeat("a=b&", 20<<10), goodSig)
				r.ContentLength = -1
				r.Body = io.NopCloser(r.Body) // hide the length
				return r
			},
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrTooLarge,
		},
		{
			name:      "unparsable body",
			req:       func() *http.Request { return newHookRequest("MessageSid=%zz", goodSig) },
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrMalformed,
		},
		{
			name: "JSON content type",
			req: func() *http.Request {
				r := newHookRequest(`{"MessageSid":"SM1"}`, goodSig)
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			publicURL: publicBase, token: hookToken, wantErr: twilio.ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := twilio.Verify(tt.req(), tt.publicURL, tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(form, tt.wantForm) {
				t.Fatalf("form = %v, want %v", form, tt.wantForm)
			}
		})
	}
}

// Verify works inside a real HTTP handler and leaves the body readable.
func TestVerifyInHandler(t *testing.T) {
	params := statusParams()
	type result struct {
		form url.Values
		err  error
		body string
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, err := twilio.Verify(r, publicBase, hookToken)
		b, _ := io.ReadAll(r.Body)
		got <- result{form, err, string(b)}
	}))
	defer srv.Close()

	req, err := http.NewRequest(http.MethodPost, srv.URL+hookPath, strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilio.Sign(hookToken, publicBase+hookPath, params))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	res := <-got
	if res.err != nil {
		t.Fatalf("Verify: %v", res.err)
	}
	if !reflect.DeepEqual(res.form, params) {
		t.Fatalf("form = %v, want %v", res.form, params)
	}
	if res.body != params.Encode() {
		t.Fatalf("body after Verify = %q, want the original", res.body)
	}
}

func TestIsWithheld(t *testing.T) {
	tests := []struct {
		from string
		want bool
	}{
		{"", true},
		{"   ", true},
		{"anonymous", true},
		{"Anonymous", true},
		{"ANONYMOUS", true},
		{" restricted ", true},
		{"unknown", true},
		{"private", true},
		{"Unavailable", true},
		{"blocked", true},
		{"+266696687", true},
		{"266696687", true},
		{"+7378742833", true},
		{"7378742833", true},
		{"+86282452253", true},
		{"86282452253", true},
		{"+2562533", true},
		{"2562533", true},
		{"+14155550100", false},
		{"+442071838750", false},
		{"client:alice", false},
		{"+2665696687", false},
	}
	for _, tt := range tests {
		if got := twilio.IsWithheld(tt.from); got != tt.want {
			t.Errorf("IsWithheld(%q) = %v, want %v", tt.from, got, tt.want)
		}
	}
}

func TestMessageStatus(t *testing.T) {
	tests := []struct {
		in     string
		want   sms.Status
		wantOK bool
	}{
		{"accepted", sms.StatusSending, true},
		{"queued", sms.StatusSending, true},
		{"scheduled", sms.StatusSending, true},
		{"sending", sms.StatusSending, true},
		{"sent", sms.StatusSent, true},
		{"delivered", sms.StatusDelivered, true},
		{"read", sms.StatusDelivered, true},
		{"undelivered", sms.StatusUndelivered, true},
		{"failed", sms.StatusFailed, true},
		{"canceled", sms.StatusFailed, true},
		{"Delivered", sms.StatusDelivered, true},
		{"receiving", "", false},
		{"received", "", false},
		{"partially_delivered", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := twilio.MessageStatus(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("MessageStatus(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestTwiML(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{
			name: "dial with escaped action",
			got:  twilio.DialTwiML("+14155550100", 20, "https://tb.example.com/webhooks/twilio/dial?call=c1&ws=w1"),
			want: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<Response><Dial timeout="20" action="https://tb.example.com/webhooks/twilio/dial?call=c1&amp;ws=w1" method="POST"><Number>+14155550100</Number></Dial></Response>`,
		},
		{
			name: "dial escapes markup in values",
			got:  twilio.DialTwiML(`+1<415>&"`, 5, `https://x/?a="b"&c=<d>`),
			want: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<Response><Dial timeout="5" action="https://x/?a=&#34;b&#34;&amp;c=&lt;d&gt;" method="POST"><Number>+1&lt;415&gt;&amp;&#34;</Number></Dial></Response>`,
		},
		{
			name: "dial without timeout or action",
			got:  twilio.DialTwiML("+14155550100", 0, ""),
			want: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<Response><Dial><Number>+14155550100</Number></Dial></Response>`,
		},
		{
			name: "hangup",
			got:  twilio.HangupTwiML(),
			want: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Response><Hangup/></Response>`,
		},
		{
			name: "empty",
			got:  twilio.EmptyTwiML(),
			want: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Response></Response>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", tt.got, tt.want)
			}
			// And it parses back to the same values.
			var v struct {
				Dial *struct {
					Action string `xml:"action,attr"`
					Number string `xml:"Number"`
				} `xml:"Dial"`
			}
			if err := xml.Unmarshal(tt.got, &v); err != nil {
				t.Fatalf("output is not XML: %v", err)
			}
		})
	}
	// Round trip of the escaped action URL.
	var v struct {
		Dial struct {
			Action string `xml:"action,attr"`
		} `xml:"Dial"`
	}
	action := "https://tb.example.com/webhooks/twilio/dial?call=c1&ws=w1"
	if err := xml.Unmarshal(twilio.DialTwiML("+14155550100", 20, action), &v); err != nil || v.Dial.Action != action {
		t.Fatalf("action parsed back as %q (err %v), want %q", v.Dial.Action, err, action)
	}
}
