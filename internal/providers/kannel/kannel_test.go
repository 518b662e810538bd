package kannel_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/internal/providers/kannel"
	"github.com/textback/textback/internal/sms"
)

// got is one sendsms request as Kannel receives it.
type got struct {
	method, path string
	header       http.Header
	body         string
}

func fakeKannel(t *testing.T, status int, answer string) (*httptest.Server, chan got) {
	ch := make(chan got, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.Method, r.URL.Path, r.Header.Clone(), string(b)}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func sender(t *testing.T, url string) *kannel.Sender {
	s, err := kannel.NewSender(kannel.Config{SendSMSURL: url + "/cgi-bin/sendsms", Username: "tester", Password: "s3cret-pw",
		DLRURL: func(id string) string {
			return kannel.DLRURL("https://tb.example/webhooks/kannel/ws_1", kannel.Token("whsec_x", "ws_1"), id)
		}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func req(body string) sms.SendRequest {
	return sms.SendRequest{MessageID: "msg_1", WorkspaceID: "ws_1", From: "+18005550100", To: "+14155550123", Body: body}
}

func TestSendsTheRequestKannelExpects(t *testing.T) {
	srv, ch := fakeKannel(t, 202, "0: Accepted for delivery")
	s := sender(t, srv.URL)
	res, err := s.Send(context.Background(), req("Sorry we missed your call"))
	if err != nil || res.ProviderMessageID != "msg_1" || res.Status != sms.StatusSent {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	g := <-ch
	want := map[string]string{
		"Content-Type": "text/plain; charset=utf-8", "X-Kannel-Username": "tester", "X-Kannel-Password": "s3cret-pw",
		"X-Kannel-From": "+18005550100", "X-Kannel-To": "+14155550123", "X-Kannel-Dlr-Mask": "31", "X-Kannel-Coding": "",
		"X-Kannel-Dlr-Url": "https://tb.example/webhooks/kannel/ws_1/dlr?token=" + kannel.Token("whsec_x", "ws_1") + "&message_id=msg_1&type=%d&answer=%A",
	}
	if g.method != "POST" || g.path != "/cgi-bin/sendsms" || g.body != "Sorry we missed your call" {
		t.Errorf("request %s %s %q", g.method, g.path, g.body)
	}
	for k, v := range want {
		if g.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, g.header.Get(k), v)
		}
	}

	if _, err := s.Send(context.Background(), req("Café “quoted” ✓")); err != nil {
		t.Fatal(err)
	}
	if g := <-ch; g.header.Get("X-Kannel-Coding") != "2" || g.body != "Café “quoted” ✓" {
		t.Errorf("a UCS-2 message: coding %q body %q, want coding 2 and the UTF-8 text", g.header.Get("X-Kannel-Coding"), g.body)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		status          int
		answer          string
		permanent, sent bool
	}{
		{403, "Authorization failed for sendsms", true, false},
		{400, "Missing receiver(s) number(s), rejected", true, false},
		{503, "Sending failed.", false, false},
	} {
		srv, _ := fakeKannel(t, c.status, c.answer)
		_, err := sender(t, srv.URL).Send(context.Background(), req("hi"))
		var se *sms.SendError
		if !errors.As(err, &se) || se.Permanent != c.permanent || se.MaybeSent || !strings.Contains(se.Message, c.answer) {
			t.Errorf("HTTP %d: %#v", c.status, err)
		}
	}

	// Nothing listens: certainly not sent.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := sender(t, "http://"+addr).Send(context.Background(), req("hi"))
	var se *sms.SendError
	if !errors.As(err, &se) || se.Permanent || se.MaybeSent {
		t.Errorf("connection refused: %#v", err)
	}

	// Kannel takes the request and never answers: it may have queued it.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Second) }))
	defer hang.Close()
	_, err = sender(t, hang.URL).Send(context.Background(), req("hi"))
	if !errors.As(err, &se) || se.Permanent || !se.MaybeSent || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("timeout: %#v", err)
	}
}

func TestDLRStatus(t *testing.T) {
	for code, want := range map[int]sms.Status{1: sms.StatusDelivered, 2: sms.StatusUndelivered, 4: sms.StatusSent, 8: sms.StatusSent, 16: sms.StatusFailed} {
		if r, ok := kannel.DLRStatus(code); !ok || r.Status != want {
			t.Errorf("DLR %d = %+v, want %s", code, r, want)
		}
	}
	if _, ok := kannel.DLRStatus(3); ok {
		t.Error("DLR 3 is not a report type")
	}
}

func TestToken(t *testing.T) {
	tok := kannel.Token("whsec_a", "ws_1")
	switch {
	case !kannel.CheckToken(tok, "whsec_a", "ws_1"):
		t.Error("the token is refused")
	case kannel.CheckToken(tok, "whsec_a", "ws_2"), kannel.CheckToken(tok, "whsec_b", "ws_1"), kannel.CheckToken("", "whsec_a", "ws_1"),
		kannel.CheckToken(tok, "", "ws_1"):
		t.Error("a token is accepted for another workspace or secret")
	case strings.Contains(tok, "whsec_a"):
		t.Error("the token shows the secret")
	}
}

func TestValidateURL(t *testing.T) {
	for _, u := range []string{"", "ftp://k/cgi-bin/sendsms", "http:///x", "http://user:pw@k:13013/cgi-bin/sendsms", "::"} {
		if kannel.ValidateURL(u) == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if err := kannel.ValidateURL("http://127.0.0.1:13013/cgi-bin/sendsms"); err != nil {
		t.Error(err)
	}
}
