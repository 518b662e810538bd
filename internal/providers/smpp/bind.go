package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/textback/textback/internal/sms"
)

// bind is one account's transceiver bind: it connects, keeps the link
// alive, reconnects with backoff when it drops, and routes what arrives.
type bind struct {
	key   string
	acct  Account
	opts  *Options
	h     Handler
	log   *slog.Logger
	lim   *limiter
	parts *sentParts

	mu      sync.Mutex
	sess    *session      // nil while down
	up      chan struct{} // closed when a session comes up; replaced when it goes down
	lastErr error
	pending map[int32]waiter // submit_sm sequence number → its waiter
	ref     byte             // concatenation reference of the last long message
	closed  bool

	stop chan struct{}
	done chan struct{}
	wg   sync.WaitGroup // receipt retries
}

// session is one TCP connection and bind; closed is closed when it ends.
type session struct {
	s      *gosmpp.Session
	closed chan struct{}
	once   sync.Once
}

func (s *session) end() { s.once.Do(func() { close(s.closed) }) }

// result is what answers a submit_sm: the response PDU, or the error that
// kept it from being written.
type result struct {
	p   pdu.PDU
	err error
}

func newBind(key string, acct Account, opts *Options, h Handler, log *slog.Logger) *bind {
	return &bind{
		key: key, acct: acct, opts: opts, h: h,
		log:     log.With("smpp", acct.Addr(), "system_id", acct.SystemID),
		lim:     newLimiter(acct.rate()),
		parts:   newSentParts(100_000),
		up:      make(chan struct{}),
		pending: map[int32]waiter{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// run keeps the bind up until close.
func (b *bind) run() {
	defer close(b.done)
	delay := b.opts.ReconnectMin
	for {
		s, err := b.connect()
		if err != nil {
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
			b.log.Warn("smpp bind failed, will retry", "err", err, "retry_in", delay)
			select {
			case <-b.stop:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, b.opts.ReconnectMax)
			continue
		}
		delay = b.opts.ReconnectMin
		b.mu.Lock()
		b.sess, b.lastErr = s, nil
		close(b.up)
		b.mu.Unlock()
		b.log.Info("smpp bound (transceiver)")

		select {
		case <-s.closed:
			b.log.Warn("smpp bind lost, reconnecting")
			b.down(s, errors.New("the connection to the SMSC was lost"))
		case <-b.stop:
			b.down(s, ErrClosed)
			return
		}
	}
}

// down forgets a session that ended (or is being closed) and closes it.
func (b *bind) down(s *session, why error) {
	b.mu.Lock()
	if b.sess == s {
		b.sess, b.lastErr = nil, why
		b.up = make(chan struct{})
	}
	b.mu.Unlock()
	_ = s.s.Close() // unbinds if the connection is still there
	s.end()
}

func (b *bind) connect() (*session, error) {
	s := &session{closed: make(chan struct{})}
	settings := gosmpp.Settings{
		EnquireLink:  b.opts.EnquireLink,
		ReadTimeout:  2*b.opts.EnquireLink + b.opts.ResponseTimeout,
		WriteTimeout: b.opts.ResponseTimeout,
		OnAllPDU:     func(p pdu.PDU) (pdu.PDU, bool) { return b.onPDU(p) },
		OnSubmitError: func(p pdu.PDU, err error) {
			b.answer(p.GetSequenceNumber(), result{err: err})
		},
		OnReceivingError: func(err error) { b.log.Debug("smpp read error", "err", err) },
		OnClosed:         func(gosmpp.State) { s.end() },
	}
	auth := gosmpp.Auth{SMSC: b.acct.Addr(), SystemID: b.acct.SystemID, Password: b.acct.Password, SystemType: b.acct.SystemType}
	gs, err := gosmpp.NewSession(gosmpp.TRXConnector(b.dial, auth), settings, 0) // 0: reconnection is run's job
	if err != nil {
		var be gosmpp.BindError
		if errors.As(err, &be) {
			return nil, &commandStatusError{op: "bind_transceiver", status: uint32(be.CommandStatus)}
		}
		return nil, err
	}
	s.s = gs
	return s, nil
}

// dial connects with a timeout, and bounds the bind exchange too (gosmpp
// waits for bind_resp without one); the session's own read and write
// timeouts replace the deadline afterwards. What the SMSC sends goes
// through guardConn.
func (b *bind) dial(addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: b.opts.DialTimeout}).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(b.opts.DialTimeout))
	return &guardConn{Conn: c, log: b.log}, nil
}

// close unbinds and stops reconnecting; it waits for the bind's goroutines.
func (b *bind) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	b.wg.Wait()
}

// bound reports whether the bind is up, and the last error when it is not.
func (b *bind) bound() (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sess != nil, b.lastErr
}

// waitUp returns the live session, waiting up to BindWait for one.
func (b *bind) waitUp(ctx context.Context) (*session, error) {
	timer := time.NewTimer(b.opts.BindWait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		s, up, closed := b.sess, b.up, b.closed
		b.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case s != nil:
			return s, nil
		}
		select {
		case <-up:
		case <-timer.C:
			if _, lastErr := b.bound(); lastErr != nil {
				return nil, fmt.Errorf("%w (%s): %v", ErrNotBound, b.acct.Addr(), lastErr)
			}
			return nil, fmt.Errorf("%w (%s)", ErrNotBound, b.acct.Addr())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.stop:
			return nil, ErrClosed
		}
	}
}

// waiter is a submit waiting for its answer: the part part of msg.
type waiter struct {
	ch   chan result // buffered
	msg  *sentMessage
	part int
}

// answer hands a response (or a write error) to the submit waiting for it.
// It runs on the bind's reader, so an accepted part's id is remembered
// before any receipt for it can be read.
func (b *bind) answer(seq int32, r result) {
	b.mu.Lock()
	w, ok := b.pending[seq]
	delete(b.pending, seq)
	b.mu.Unlock()
	if !ok {
		return
	}
	if resp, isResp := r.p.(*pdu.SubmitSMResp); isResp && resp.CommandStatus == data.ESME_ROK && resp.MessageID != "" && w.msg != nil {
		b.parts.setPart(w.msg, w.part, resp.MessageID)
	}
	w.ch <- r
}

// onPDU handles every PDU the SMSC sends; the PDU it returns is written back.
// It runs on gosmpp's read goroutine, where a panic would stop the process:
// a panic while handling a deliver_sm answers it with a temporary error.
func (b *bind) onPDU(p pdu.PDU) (resp pdu.PDU, closeBind bool) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("smpp: handling a PDU from the SMSC panicked", "panic", fmt.Sprint(r))
			resp, closeBind = nil, false
			if d, ok := p.(*pdu.DeliverSM); ok {
				if dr, ok := d.GetResponse().(*pdu.DeliverSMResp); ok {
					dr.CommandStatus = data.ESME_RX_T_APPN
					resp = dr
				}
			}
		}
	}()
	switch p := p.(type) {
	case *pdu.SubmitSMResp, *pdu.GenericNack:
		b.answer(p.GetSequenceNumber(), result{p: p})
		return nil, false
	case *pdu.DeliverSM:
		return b.onDeliver(p), false
	case *pdu.EnquireLink:
		return p.GetResponse(), false
	case *pdu.Unbind:
		b.log.Info("the SMSC unbound")
		return p.GetResponse(), true
	case *pdu.EnquireLinkResp, *pdu.UnbindResp, *pdu.DeliverSMResp:
		return nil, false
	}
	if p.CanResponse() {
		b.log.Info("smpp: unexpected PDU from the SMSC", "command_id", p.GetHeader().CommandID.String())
		nack := pdu.NewGenericNack()
		nack.SetSequenceNumber(p.GetSequenceNumber())
		if gn, ok := nack.(*pdu.GenericNack); ok {
			gn.CommandStatus = data.ESME_RINVCMDID
		}
		return nack, false
	}
	return nil, false
}

// onDeliver takes a deliver_sm: a receipt or a handset's SMS.
func (b *bind) onDeliver(d *pdu.DeliverSM) pdu.PDU {
	resp := d.GetResponse()
	tempError := func() {
		if r, ok := resp.(*pdu.DeliverSMResp); ok {
			r.CommandStatus = data.ESME_RX_T_APPN
		}
	}
	switch {
	case isReceipt(d.EsmClass):
		r, ok := parseReceipt(d)
		if !ok {
			b.log.Warn("smpp receipt without a message id", "text", string(rawText(d)))
			return resp
		}
		if err := b.receipt(r); err != nil {
			b.log.Error("smpp receipt not applied", "err", err)
			tempError()
		}
	case isMO(d.EsmClass):
		in := Incoming{From: moNumber(d.SourceAddr), To: moNumber(d.DestAddr), Text: moText(d)}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.h.Incoming(ctx, b.key, in); err != nil {
			b.log.Error("smpp inbound SMS not handled, the SMSC will retry", "err", err)
			tempError()
		}
	}
	return resp
}

// receipt applies a parsed receipt: at once when its message is known, else
// again a little later in the background (the receipt may have overtaken
// the recording of the submit's acceptance).
func (b *bind) receipt(pr parsedReceipt) error {
	if pr.Status == "" || pr.Status.Rank() < 3 {
		return nil // enroute, accepted, unknown: the message is already "sent"
	}
	r := Receipt{Status: pr.Status}
	if pr.Status != sms.StatusDelivered {
		r.Error = "stat:" + pr.Stat
		if pr.Err != "" {
			r.Error += " err:" + pr.Err
		}
	}
	ids := pr.IDs
	if m, st, errText, complete, known := b.parts.record(pr.IDs, pr.Status, r.Error); known {
		if !complete {
			return nil // other parts of this message have not reported yet
		}
		r.MessageID, r.Status, r.Error, ids = m.messageID, st, errText, []string{m.ids[0]}
	}
	found, err := b.tryReceipt(r, ids)
	if err != nil || found {
		return err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for _, d := range b.opts.ReceiptRetries {
			select {
			case <-b.stop:
				return
			case <-time.After(d):
			}
			if found, err := b.tryReceipt(r, ids); found || err != nil {
				if err != nil {
					b.log.Error("smpp receipt not applied", "err", err)
				}
				return
			}
		}
		b.log.Warn("smpp receipt for an unknown message", "provider_message_id", ids[0], "status", r.Status)
	}()
	return nil
}

func (b *bind) tryReceipt(r Receipt, ids []string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range ids {
		r.ProviderMessageID = id
		found, err := b.h.Receipt(ctx, b.key, r)
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}
