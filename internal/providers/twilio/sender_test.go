package twilio_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/providers/twilio"
	"github.com/textback/textback/internal/providers/twilio/twiliotest"
	"github.com/textback/textback/internal/sms"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "s3cr3tT0kenNeverShow1234567890ab"
)

func newFake(t *testing.T) *twiliotest.Server {
	t.Helper()
	f := twiliotest.New(t)
	f.SetCredentials(testSID, testToken)
	return f
}

func newSender(t *testing.T, apiURL string, timeout time.Duration) *twilio.Sender {
	t.Helper()
	s, err := twilio.NewSender(twilio.Config{AccountSID: testSID, AuthToken: testToken, APIURL: apiURL, Timeout: timeout})
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

func asSendError(t *testing.T, err error) *sms.SendError {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	var se *sms.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %T %q is not a *sms.SendError", err, err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Fatalf("error leaks the auth token: %q", err.Error())
	}
	return se
}

func TestName(t *testing.T) {
	if got := newSender(t, "", 0).Name(); got != "twilio" {
		t.Fatalf("Name() = %q, want twilio", got)
	}
}

func TestNewSenderValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     twilio.Config
		wantErr bool
	}{
		{"defaults", twilio.Config{AccountSID: testSID, AuthToken: testToken}, false},
		{"http url with port", twilio.Config{AccountSID: testSID, AuthToken: testToken, APIURL: "http://127.0.0.1:8080"}, false},
		{"https url with path ignored", twilio.Config{AccountSID: testSID, AuthToken: testToken, APIURL: "https://twilio.internal/ignored"}, false},
		{"empty sid", twilio.Config{AuthToken: testToken}, true},
		{"empty token", twilio.Config{AccountSID: testSID}, true},
		{"token with illegal chars", twilio.Config{AccountSID: testSID, AuthToken: "abc-def"}, true},
		{"url without scheme", twilio.Config{AccountSID: testSID, AuthToken: testToken, APIURL: "api.twilio.com"}, true},
		{"ftp url", twilio.Config{AccountSID: testSID, AuthToken: testToken, APIURL: "ftp://api.twilio.com"}, true},
		{"unparsable url", twilio.Config{AccountSID: testSID, AuthToken: testToken, APIURL: "http://[::1"}, true},
		{"negative timeout", twilio.Config{AccountSID: testSID, AuthToken: testToken, Timeout: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := twilio.NewSender(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewSender err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Fatalf("error leaks the auth token: %q", err)
			}
		})
	}
}

var sidPattern = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func TestSendPostsMessage(t *testing.T) {
	tests := []struct {
		name     string
		req      sms.SendRequest
		wantForm url.Values
	}{
		{
			name: "with status callback",
			req: sms.SendRequest{
				MessageID: "msg_1", WorkspaceID: "ws_1",
				From: "+15005550006", To: "+14155550100",
				Body:           "Sorry we missed your call & we'll call back: 50% off! ✓",
				StatusCallback: "https://tb.example.com/webhooks/twilio/status?m=msg_1&w=ws_1",
			},
			wantForm: url.Values{
				"From":           {"+15005550006"},
				"To":             {"+14155550100"},
				"Body":           {"Sorry we missed your call & we'll call back: 50% off! ✓"},
				"StatusCallback": {"https://tb.example.com/webhooks/twilio/status?m=msg_1&w=ws_1"},
			},
		},
		{
			name: "without status callback",
			req:  sms.SendRequest{From: "+15005550006", To: "+447700900123", Body: "Hi"},
			wantForm: url.Values{
				"From": {"+15005550006"},
				"To":   {"+447700900123"},
				"Body": {"Hi"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			s := newSender(t, fake.URL, 0)
			res, err := s.Send(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := fake.Messages()
			if len(msgs) != 1 {
				t.Fatalf("fake got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if !reflect.DeepEqual(m.Form, tt.wantForm) {
				t.Errorf("posted form = %v, want exactly %v", m.Form, tt.wantForm)
			}
			if m.AccountSID != testSID {
				t.Errorf("path account SID = %q, want %q", m.AccountSID, testSID)
			}
			if m.From != tt.req.From || m.To != tt.req.To || m.Body != tt.req.Body || m.StatusCallback != tt.req.StatusCallback {
				t.Errorf("message = %+v, want fields of %+v", m, tt.req)
			}
			if !sidPattern.MatchString(m.Sid) {
				t.Errorf("fake sid %q does not look like SM+32 hex", m.Sid)
			}
			want := sms.SendResult{ProviderMessageID: m.Sid, Status: sms.StatusSent}
			if res != want {
				t.Errorf("result = %+v, want %+v", res, want)
			}
			if n := fake.Requests(); n != 1 {
				t.Errorf("fake saw %d requests, want 1", n)
			}
		})
	}
}

func TestSendBasicAuth(t *testing.T) {
	fake := newFake(t)
	fake.SetCredentials(testSID, "someOtherToken123")
	_, err := newSender(t, fake.URL, 0).Send(context.Background(), sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
	se := asSendError(t, err)
	if !se.Permanent || se.MaybeSent || se.Code != "20003" {
		t.Fatalf("wrong token: got %+v, want Permanent with code 20003", se)
	}
	if len(fake.Messages()) != 0 || fake.Requests() != 1 {
		t.Fatalf("fake accepted %d messages from %d requests, want 0 from 1", len(fake.Messages()), fake.Requests())
	}

}

func TestSendTwilioErrors(t *testing.T) {
	tests := []struct {
		name          string
		status, code  int
		message       string
		wantPermanent bool
		wantCode      string
		wantMessage   string
	}{
		{"invalid To", 400, 21211, "Invalid 'To' Phone Number: +1555", true, "21211", "Invalid 'To' Phone Number: +1555"},
		{"unauthorized", 401, 20003, "Authenticate", true, "20003", "Authenticate"},
		{"forbidden", 403, 21610, "Attempt to send to unsubscribed recipient", true, "21610", "Attempt to send to unsubscribed recipient"},
		{"not found", 404, 20404, "The requested resource was not found", true, "20404", "The requested resource was not found"},
		{"too many requests", 429, 20429, "Too Many Requests", false, "20429", "Too Many Requests"},
		{"internal error", 500, 20500, "Internal Server Error", false, "20500", "Internal Server Error"},
		{"unavailable", 503, 20503, "Service Unavailable", false, "20503", "Service Unavailable"},
		{"error echoing the token is redacted", 400, 20003, "bad token " + testToken, true, "20003", "bad token [REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			fake.FailNext(1, tt.status, tt.code, tt.message)
			s := newSender(t, fake.URL, 0)
			req := sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "hello"}
			_, err := s.Send(context.Background(), req)
			se := asSendError(t, err)
			if se.Permanent != tt.wantPermanent || se.MaybeSent {
				t.Errorf("Permanent=%v MaybeSent=%v, want Permanent=%v MaybeSent=false", se.Permanent, se.MaybeSent, tt.wantPermanent)
			}
			if se.Code != tt.wantCode || se.Message != tt.wantMessage {
				t.Errorf("Code=%q Message=%q, want %q %q", se.Code, se.Message, tt.wantCode, tt.wantMessage)
			}
			if len(fake.Messages()) != 0 {
				t.Errorf("fake accepted a message despite the fault")
			}
			// The fault is consumed: the next send goes through.
			res, err := s.Send(context.Background(), req)
			if err != nil {
				t.Fatalf("second Send: %v", err)
			}
			if msgs := fake.Messages(); len(msgs) != 1 || msgs[0].Sid != res.ProviderMessageID {
				t.Fatalf("second Send: result %+v, fake messages %+v", res, msgs)
			}
		})
	}
}

// Error answers that are not Twilio's JSON (a proxy's HTML page, an empty
// body) are still classified by their HTTP status.
func TestSendNonJSONErrors(t *testing.T) {
	tests := []struct {
		status        int
		body          string
		wantPermanent bool
	}{
		{http.StatusBadGateway, "<html><body>502 Bad Gateway</body></html>", false},
		{http.StatusServiceUnavailable, "", false},
		{http.StatusTooManyRequests, "slow down", false},
		{http.StatusBadRequest, "<html>bad</html>", true},
		{http.StatusRequestEntityTooLarge, "", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			_, err := newSender(t, srv.URL, 0).Send(context.Background(), sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
			se := asSendError(t, err)
			if se.Permanent != tt.wantPermanent || se.MaybeSent {
				t.Errorf("got %+v, want Permanent=%v MaybeSent=false", se, tt.wantPermanent)
			}
			if want := fmt.Sprintf("HTTP %d %s", tt.status, http.StatusText(tt.status)); se.Message != want {
				t.Errorf("Message = %q, want %q", se.Message, want)
			}
		})
	}
}

// A server that accepts the request and never answers: the outcome is unknown.
func TestSendTimeoutIsMaybeSent(t *testing.T) {
	release := make(chan struct{})
	var got sync.WaitGroup
	got.Add(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Done()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	s := newSender(t, srv.URL, 200*time.Millisecond)
	start := time.Now()
	_, err := s.Send(context.Background(), sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
	elapsed := time.Since(start)
	se := asSendError(t, err)
	if !se.MaybeSent || se.Permanent {
		t.Fatalf("got %+v, want MaybeSent and not Permanent", se)
	}
	if elapsed > 3*time.Second {
		t.Fatalf("Send took %v with a 200ms timeout", elapsed)
	}
	got.Wait() // the request did reach the server
}

// Cancelling ctx aborts an in-flight request; the outcome is unknown.
func TestSendContextCancelledInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newSender(t, srv.URL, 10*time.Second).Send(ctx, sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
	se := asSendError(t, err)
	if !se.MaybeSent || se.Permanent {
		t.Fatalf("got %+v, want MaybeSent and not Permanent", se)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("Send took %v, ctx deadline was 150ms", elapsed)
	}
}

func TestSendContextDoneBeforeCall(t *testing.T) {
	fake := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newSender(t, fake.URL, 0).Send(ctx, sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
	se := asSendError(t, err)
	if se.Permanent || se.MaybeSent {
		t.Fatalf("got %+v, want transient and certainly not sent", se)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if n := fake.Requests(); n != 0 {
		t.Fatalf("fake saw %d requests, want none", n)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	_, err = newSender(t, "http://"+addr, time.Second).Send(context.Background(), sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
	se := asSendError(t, err)
	if se.Permanent || se.MaybeSent {
		t.Fatalf("got %+v, want transient and certainly not sent", se)
	}
}

func TestSendDNSError(t *testing.T) {
	// .invalid never resolves (RFC 2606).
	_, err := newSender(t, "http://api.twilio.invalid", 2*time.Second).Send(context.Background(), sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
	se := asSendError(t, err)
	if se.Permanent || se.MaybeSent {
		t.Fatalf("got %+v, want transient and certainly not sent", se)
	}
}

// A success answer that cannot be read: Twilio probably has the message.
func TestSendUnreadableSuccessIsMaybeSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"sid": "SM`)
	}))
	defer srv.Close()
	_, err := newSender(t, srv.URL, 0).Send(context.Background(), sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
	se := asSendError(t, err)
	if !se.MaybeSent || se.Permanent {
		t.Fatalf("got %+v, want MaybeSent", se)
	}
}

func TestSendResultStatusFromTwilio(t *testing.T) {
	tests := []struct {
		twilioStatus string
		want         sms.Status
	}{
		{"queued", sms.StatusSent},
		{"accepted", sms.StatusSent},
		{"sending", sms.StatusSent},
		{"", sms.StatusSent},
		{"sent", sms.StatusSent},
		{"delivered", sms.StatusDelivered},
		{"failed", sms.StatusFailed},
		{"undelivered", sms.StatusUndelivered},
	}
	for _, tt := range tests {
		t.Run(tt.twilioStatus, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				fmt.Fprintf(w, `{"sid":"SM0123456789abcdef0123456789abcdef","status":%q}`, tt.twilioStatus)
			}))
			defer srv.Close()
			res, err := newSender(t, srv.URL, 0).Send(context.Background(), sms.SendRequest{From: "+15005550006", To: "+14155550100", Body: "x"})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			want := sms.SendResult{ProviderMessageID: "SM0123456789abcdef0123456789abcdef", Status: tt.want}
			if res != want {
				t.Fatalf("result = %+v, want %+v", res, want)
			}
		})
	}
}

func TestSendConcurrent(t *testing.T) {
	fake := newFake(t)
	var hooked sync.Map
	fake.OnMessage(func(m twiliotest.Message) { hooked.Store(m.Sid, m.ReceivedAt) })
	s := newSender(t, fake.URL, 0)
	const n = 40
	sids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Send(context.Background(), sms.SendRequest{From: "+15005550006", To: fmt.Sprintf("+1415555%04d", i), Body: fmt.Sprint("msg ", i)})
			if err != nil {
				t.Errorf("Send %d: %v", i, err)
				return
			}
			sids[i] = res.ProviderMessageID
		}()
	}
	wg.Wait()
	msgs := fake.Messages()
	if len(msgs) != n || fake.Requests() != n {
		t.Fatalf("fake has %d messages from %d requests, want %d", len(msgs), fake.Requests(), n)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.Sid] {
			t.Fatalf("duplicate sid %s", m.Sid)
		}
		seen[m.Sid] = true
		if _, ok := hooked.Load(m.Sid); !ok {
			t.Errorf("OnMessage not called for %s", m.Sid)
		}
	}
	for i, sid := range sids {
		if !seen[sid] {
			t.Errorf("Send %d returned sid %q the fake does not know", i, sid)
		}
	}
}
