package smpp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/providers/smpp"
	"github.com/textback/textback/internal/providers/smpp/smpptest"
	"github.com/textback/textback/internal/sms"
)

// handler records what the binds hand over; found decides what Receipt answers.
type handler struct {
	mu       sync.Mutex
	receipts []smpp.Receipt
	incoming []smpp.Incoming
	found    func(r smpp.Receipt) bool
	inErr    error
	inPanic  bool
}

func (h *handler) Receipt(_ context.Context, key string, r smpp.Receipt) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.found != nil && !h.found(r) {
		return false, nil
	}
	h.receipts = append(h.receipts, r)
	return true, nil
}

func (h *handler) Incoming(_ context.Context, key string, in smpp.Incoming) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.incoming = append(h.incoming, in)
	if h.inPanic {
		panic("handler bug")
	}
	return h.inErr
}

func (h *handler) Receipts() []smpp.Receipt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]smpp.Receipt(nil), h.receipts...)
}

func (h *handler) Incomings() []smpp.Incoming {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]smpp.Incoming(nil), h.incoming...)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func fast() smpp.Options {
	return smpp.Options{BindWait: 5 * time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
		ResponseTimeout: 2 * time.Second, ReceiptRetries: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}}
}

func setup(t *testing.T, acct smpp.Account, opts smpp.Options) (*smpptest.Server, *handler, *smpp.Manager) {
	t.Helper()
	srv := smpptest.New(t)
	acct.Host, acct.Port = "127.0.0.1", srv.Port()
	if acct.SystemID == "" {
		acct.SystemID, acct.Password = "textback", "secret"
	}
	h := &handler{}
	m := smpp.NewManager(h, quiet, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	m.Configure("ws1", acct)
	return srv, h, m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func send(t *testing.T, m *smpp.Manager, id, body string) sms.SendResult {
	t.Helper()
	res, err := m.Provider("ws1").Send(context.Background(), sms.SendRequest{MessageID: id, From: "+18005550100", To: "+14155550123", Body: body})
	if err != nil {
		t.Fatalf("send %s: %v", id, err)
	}
	return res
}

func TestSegmentsAndEncoding(t *testing.T) {
	srv, _, m := setup(t, smpp.Account{}, fast())
	gsm160 := strings.Repeat("a", 159) + "@"
	gsm161 := strings.Repeat("b", 161)
	uni := "Привет, мы пропустили ваш звонок ✓"

	r1 := send(t, m, "msg1", gsm160)
	r2 := send(t, m, "msg2", gsm161)
	send(t, m, "msg3", uni)
	subs := srv.Submits()
	if len(subs) != 4 {
		t.Fatalf("the SMSC got %d submit_sm, want 1 + 2 + 1: %+v", len(subs), subs)
	}
	one := subs[0]
	if one.DataCoding != 0 || one.EsmClass&0x40 != 0 || one.UDH != nil || len(one.Data) != 160 || one.Data[159] != 0x00 {
		t.Errorf("160 GSM-7 characters: dcs=%d esm=%#x udh=% x len=%d, want dcs 0, one part of 160 septets ('@' = 0x00)", one.DataCoding, one.EsmClass, one.UDH, len(one.Data))
	}
	if one.From != "18005550100" || one.FromTON != 1 || one.To != "14155550123" || one.ToTON != 1 || one.RegisteredDelivery != 1 {
		t.Errorf("addresses or receipt request: %+v", one)
	}
	if r1.ProviderMessageID != one.ID || r1.Status != sms.StatusSent {
		t.Errorf("result %+v, want the SMSC's id %s", r1, one.ID)
	}
	p1, p2 := subs[1], subs[2]
	for i, p := range []smpptest.Submit{p1, p2} {
		if p.DataCoding != 0 || p.EsmClass&0x40 == 0 || len(p.UDH) != 6 || !bytes.Equal(p.UDH[:3], []byte{5, 0, 3}) || p.UDH[4] != 2 || p.UDH[5] != byte(i+1) {
			t.Errorf("part %d of 161 characters: dcs=%d esm=%#x udh=% x", i+1, p.DataCoding, p.EsmClass, p.UDH)
		}
	}
	if p1.UDH[3] != p2.UDH[3] || len(p1.Data) != 153 || len(p2.Data) != 8 || string(p1.Data)+string(p2.Data) != gsm161 {
		t.Errorf("parts: ref %d/%d, %d + %d septets", p1.UDH[3], p2.UDH[3], len(p1.Data), len(p2.Data))
	}
	if r2.ProviderMessageID != p1.ID {
		t.Errorf("a long message's provider id is %q, want its first part's %q", r2.ProviderMessageID, p1.ID)
	}
	u := subs[3]
	if u.DataCoding != 8 || sms.DecodeUCS2(u.Data) != uni || u.UDH != nil {
		t.Errorf("Unicode: dcs=%d data=% x", u.DataCoding, u.Data)
	}
}

func TestReceiptsOfLongMessagesAreAggregated(t *testing.T) {
	srv, h, m := setup(t, smpp.Account{}, fast())
	send(t, m, "short", "Hello")
	waitFor(t, "the receipt", func() bool { return len(h.Receipts()) == 1 })
	if r := h.Receipts()[0]; r.MessageID != "short" || r.Status != sms.StatusDelivered || r.ProviderMessageID != srv.Submits()[0].ID {
		t.Errorf("receipt %+v", r)
	}

	send(t, m, "long", strings.Repeat("c", 400)) // 3 parts, 3 receipts: one delivered report
	waitFor(t, "3 more deliver_sm_resp", func() bool { return len(srv.DeliverResps()) == 4 })
	time.Sleep(50 * time.Millisecond)
	rs := h.Receipts()
	if len(rs) != 2 || rs[1].MessageID != "long" || rs[1].Status != sms.StatusDelivered {
		t.Fatalf("receipts %+v, want one delivered report for the long message", rs)
	}

	send(t, m, "failing", strings.Repeat("d", 200)+" #fail")
	waitFor(t, "the undelivered report", func() bool { return len(h.Receipts()) == 3 })
	time.Sleep(50 * time.Millisecond)
	rs = h.Receipts()
	if len(rs) != 3 || rs[2].MessageID != "failing" || rs[2].Status != sms.StatusUndelivered || !strings.Contains(rs[2].Error, "stat:UNDELIV") {
		t.Errorf("receipts %+v, want one undelivered report", rs)
	}
	for _, st := range srv.DeliverResps() {
		if st != 0 {
			t.Errorf("deliver_sm_resp status %#x", st)
		}
	}
}

func TestReceiptForUnknownMessageIsRetriedThenMatchedByProviderID(t *testing.T) {
	srv, h, _ := setup(t, smpp.Account{}, fast())
	waitFor(t, "the bind", func() bool { return srv.Connections() == 1 })
	calls := 0
	h.mu.Lock()
	h.found = func(r smpp.Receipt) bool { calls++; return calls > 2 } // found on the third try
	h.mu.Unlock()
	srv.Deliver(smpptest.Receipt("elsewhere42", "DELIVRD", "14155550123", "18005550100")) // sent before a restart: not in memory
	waitFor(t, "the receipt", func() bool { return len(h.Receipts()) == 1 })
	if r := h.Receipts()[0]; r.MessageID != "" || r.ProviderMessageID != "elsewhere42" || r.Status != sms.StatusDelivered {
		t.Errorf("receipt %+v", r)
	}
}

func TestInboundSMS(t *testing.T) {
	srv, h, _ := setup(t, smpp.Account{}, fast())
	waitFor(t, "the bind", func() bool { return srv.Connections() == 1 })
	srv.Deliver(smpptest.MO("14155550123", "18005550100", "STOP"))
	waitFor(t, "the inbound SMS", func() bool { return len(h.Incomings()) == 1 })
	if in := h.Incomings()[0]; in.From != "+14155550123" || in.To != "+18005550100" || in.Text != "STOP" {
		t.Errorf("incoming %+v", in)
	}
	waitFor(t, "deliver_sm_resp", func() bool { return len(srv.DeliverResps()) == 1 })
	if st := srv.DeliverResps()[0]; st != 0 {
		t.Errorf("deliver_sm_resp status %#x, want 0", st)
	}

	// textback cannot store it: the SMSC is told to try again later.
	h.mu.Lock()
	h.inErr = errors.New("database is down")
	h.mu.Unlock()
	srv.Deliver(smpptest.MO("14155550123", "18005550100", "START"))
	waitFor(t, "deliver_sm_resp", func() bool { return len(srv.DeliverResps()) == 2 })
	if st := srv.DeliverResps()[1]; st != 0x64 {
		t.Errorf("deliver_sm_resp status %#x, want ESME_RX_T_APPN (0x64)", st)
	}

	// A bug that panics while handling it: the same answer, and the bind lives on.
	h.mu.Lock()
	h.inErr, h.inPanic = nil, true
	h.mu.Unlock()
	srv.Deliver(smpptest.MO("14155550123", "18005550100", "STOP"))
	waitFor(t, "deliver_sm_resp", func() bool { return len(srv.DeliverResps()) == 3 })
	if st := srv.DeliverResps()[2]; st != 0x64 || srv.Connections() != 1 {
		t.Errorf("after a panic: deliver_sm_resp status %#x, %d connections; want 0x64 on the same bind", st, srv.Connections())
	}
}

func TestRefusals(t *testing.T) {
	srv, _, m := setup(t, smpp.Account{}, fast())
	throttled := 0
	srv.Refuse(func(s smpptest.Submit) uint32 {
		switch {
		case s.To == "19999999999":
			return 0x0B // invalid destination
		case strings.Contains(string(s.Data), "busy") && throttled == 0:
			throttled++
			return 0x58
		}
		return 0
	})
	_, err := m.Provider("ws1").Send(context.Background(), sms.SendRequest{MessageID: "x", From: "+18005550100", To: "+19999999999", Body: "hi"})
	var se *sms.SendError
	if !errors.As(err, &se) || !se.Permanent || se.MaybeSent || se.Code != "0x0000000B" {
		t.Errorf("invalid destination: %#v, want a permanent error with code 0x0000000B", err)
	}
	start := time.Now()
	if _, err := m.Provider("ws1").Send(context.Background(), sms.SendRequest{MessageID: "y", From: "+18005550100", To: "+14155550123", Body: "busy"}); err != nil {
		t.Errorf("throttled once: %v, want a success after a pause", err)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("submitted again after %v, want a pause of a second after ESME_RTHROTTLED", time.Since(start))
	}
}

func TestThroughputLimit(t *testing.T) {
	srv, _, m := setup(t, smpp.Account{MaxPerSecond: 5}, fast())
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(t, m, "m"+string(rune('a'+i)), "Hello")
		}()
	}
	wg.Wait()
	subs := srv.Submits()
	if len(subs) != 6 {
		t.Fatalf("%d submits", len(subs))
	}
	// The limiter gives submit i the slot i×200ms after the first; arrival
	// at the SMSC may lag a little behind the slot, never run ahead of it.
	for i := 1; i < len(subs); i++ {
		if since := subs[i].At.Sub(subs[0].At); since < time.Duration(i)*200*time.Millisecond-60*time.Millisecond {
			t.Errorf("submit %d came %v after the first, want about %v at 5 per second", i, since, time.Duration(i)*200*time.Millisecond)
		}
	}
}

func TestReconnectAfterSMSCRestart(t *testing.T) {
	srv, _, m := setup(t, smpp.Account{}, fast())
	send(t, m, "before", "one")
	srv.Stop()
	waitFor(t, "the bind to drop", func() bool { _, bound, _ := m.Bound("ws1"); return !bound })

	done := make(chan error, 1)
	go func() {
		_, err := m.Provider("ws1").Send(context.Background(), sms.SendRequest{MessageID: "during", From: "+18005550100", To: "+14155550123", Body: "two"})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // the send waits for the bind
	srv.Restart()
	if err := <-done; err != nil {
		t.Fatalf("send while the SMSC restarted: %v", err)
	}
	subs := srv.Submits()
	if len(subs) != 2 || string(subs[1].Data) != "two" {
		t.Errorf("submits %+v, want each message once", subs)
	}
	if n := len(srv.Binds()); n != 2 {
		t.Errorf("%d binds, want 2 (the first and one after the restart)", n)
	}
}

func TestBindDownIsTransientAndNotSent(t *testing.T) {
	srv, _, m := setup(t, smpp.Account{}, smpp.Options{BindWait: 100 * time.Millisecond, ReconnectMin: 20 * time.Millisecond})
	srv.RequirePassword("other")
	srv.Drop() // in case the first bind got in before the password changed
	waitFor(t, "the bind to be refused", func() bool { _, bound, err := m.Bound("ws1"); return !bound && err != nil })
	_, err := m.Provider("ws1").Send(context.Background(), sms.SendRequest{MessageID: "x", From: "+18005550100", To: "+14155550123", Body: "hi"})
	var se *sms.SendError
	if !errors.As(err, &se) || se.Permanent || se.MaybeSent || !strings.Contains(se.Error(), "invalid password") {
		t.Errorf("send with the bind refused: %v, want a transient error that says why", err)
	}
	if _, bound, lastErr := m.Bound("ws1"); bound || lastErr == nil {
		t.Errorf("Bound = %v, %v", bound, lastErr)
	}
}

func TestRebindWhenSettingsChange(t *testing.T) {
	srv, _, m := setup(t, smpp.Account{SystemID: "first", Password: "pw1"}, fast())
	waitFor(t, "the first bind", func() bool { return len(srv.Binds()) == 1 })
	m.Configure("ws1", smpp.Account{Host: "127.0.0.1", Port: srv.Port(), SystemID: "first", Password: "pw1"}) // unchanged
	m.Configure("ws1", smpp.Account{Host: "127.0.0.1", Port: srv.Port(), SystemID: "second", Password: "pw2", SystemType: "VMA"})
	waitFor(t, "the second bind", func() bool { return len(srv.Binds()) == 2 })
	b := srv.Binds()[1]
	if b.SystemID != "second" || b.Password != "pw2" || b.SystemType != "VMA" {
		t.Errorf("rebind with %+v", b)
	}
	waitFor(t, "the first connection to close", func() bool { return srv.Connections() == 1 })
	send(t, m, "after", "hello")
}

func TestEnquireLink(t *testing.T) {
	o := fast()
	o.EnquireLink = 30 * time.Millisecond
	srv, _, _ := setup(t, smpp.Account{}, o)
	waitFor(t, "enquire_link", func() bool { return srv.EnquireLinks() >= 2 })
}

// TestPDUThatPanicsTheParserIsDropped: gosmpp v0.3.1's parser panics on a
// query_sm with optional parameters, in its read goroutine, which would stop
// the process. The bind drops such a PDU and keeps working.
func TestPDUThatPanicsTheParserIsDropped(t *testing.T) {
	srv, h, m := setup(t, smpp.Account{}, fast())
	waitFor(t, "the bind", func() bool { return srv.Connections() == 1 })
	// query_sm (0x00000003), a body of garbage, then a TLV: found by FuzzDeliverSM.
	poison := []byte("\x00\x00\x000\x00\x00\x00\x030000000000\x0000000000\x0000\xe800000000000000000")
	srv.WriteRaw(poison)
	srv.Deliver(smpptest.MO("14155550123", "18005550100", "STOP"))
	waitFor(t, "the inbound SMS after the bad PDU", func() bool { return len(h.Incomings()) == 1 })
	if _, bound, _ := m.Bound("ws1"); !bound || srv.Connections() != 1 || len(srv.Binds()) != 1 {
		t.Errorf("after the bad PDU: bound %v, %d connections, %d binds; want the first bind still up", bound, srv.Connections(), len(srv.Binds()))
	}
	send(t, m, "after", "still sending")
}
