package smpp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/textback/textback/internal/sms"
)

// throttleRetries is how often one part is submitted again, a second apart,
// when the SMSC answers "throttled" or "queue full".
const throttleRetries = 3

// Send submits req's body as one submit_sm per segment, requesting a
// delivery receipt, and returns the SMSC's id of the first part. Errors:
//   - the bind is down (waited up to BindWait): transient, not sent;
//   - the SMSC refused the (first) part with a permanent command status:
//     Permanent;
//   - no answer in time, or the bind dropped after the submit was written:
//     transient with MaybeSent;
//   - a later part failed after earlier ones were accepted: transient with
//     MaybeSent (a retry sends the whole message again).
func (b *bind) Send(ctx context.Context, req sms.SendRequest) (sms.SendResult, error) {
	pdus, err := b.build(req)
	if err != nil {
		return sms.SendResult{}, &sms.SendError{Permanent: true, Message: err.Error()}
	}
	msg := b.parts.start(req.MessageID, len(pdus))
	ids := make([]string, 0, len(pdus))
	for i, p := range pdus {
		id, err := b.submitPart(ctx, p, msg, i)
		if err != nil {
			se := sms.AsSendError(err)
			if i > 0 {
				se = &sms.SendError{MaybeSent: true, Code: se.Code, Err: se,
					Message: fmt.Sprintf("part %d of %d failed after the first %d were accepted: %s", i+1, len(pdus), i, se.Message)}
			}
			return sms.SendResult{}, se
		}
		ids = append(ids, id)
	}
	return sms.SendResult{ProviderMessageID: ids[0], Status: sms.StatusSent}, nil
}

// build makes the submit_sm PDUs of a message: textback's segments, encoded
// for data_coding 0 (GSM 03.38, unpacked) or 8 (UCS-2), with a
// concatenation UDH when there are several.
func (b *bind) build(req sms.SendRequest) ([]*pdu.SubmitSM, error) {
	enc, parts := sms.Parts(req.Body)
	switch {
	case len(parts) == 0:
		return nil, errors.New("smpp: empty message")
	case len(parts) > 255:
		return nil, errors.New("smpp: message too long")
	}
	from, err := address(req.From)
	if err != nil {
		return nil, fmt.Errorf("smpp: bad sender %q: %w", req.From, err)
	}
	to, err := address(req.To)
	if err != nil {
		return nil, fmt.Errorf("smpp: bad recipient %q: %w", req.To, err)
	}
	ref := b.nextRef()
	out := make([]*pdu.SubmitSM, 0, len(parts))
	for i, part := range parts {
		sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
		sm.SourceAddr, sm.DestAddr = from, to
		sm.RegisteredDelivery = data.SM_SMSC_RECEIPT_REQUESTED
		var payload []byte
		coding := data.GSM7BIT
		if enc == sms.EncodingUCS2 {
			payload, coding = sms.EncodeUCS2(part), data.UCS2
		} else if payload, _ = sms.EncodeGSM7(part); payload == nil {
			return nil, errors.New("smpp: the message is not GSM-7") // cannot happen: Parts said GSM-7
		}
		if err := sm.Message.SetMessageDataWithEncoding(payload, coding); err != nil {
			return nil, fmt.Errorf("smpp: %w", err)
		}
		if len(parts) > 1 {
			sm.Message.SetUDH(pdu.UDH{pdu.NewIEConcatMessage(byte(len(parts)), byte(i+1), ref)})
			sm.EsmClass |= data.SM_UDH_GSM
		}
		out = append(out, sm)
	}
	return out, nil
}

// nextRef is the next concatenation reference. It skips the bytes of line
// feed and carriage return, which would cut the UDH in two in the
// line-oriented logs SMSCs and simulators keep.
func (b *bind) nextRef() byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		b.ref++
		if b.ref != '\n' && b.ref != '\r' && b.ref != 0 {
			return b.ref
		}
	}
}

// address turns an E.164 number into an international (TON 1, NPI 1)
// address; a sender name with letters becomes alphanumeric (TON 5).
func address(n string) (pdu.Address, error) {
	n = strings.TrimSpace(n)
	switch {
	case strings.HasPrefix(n, "+"):
		return pdu.NewAddressWithTonNpiAddr(data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164, n[1:])
	case strings.IndexFunc(n, unicode.IsLetter) >= 0:
		return pdu.NewAddressWithTonNpiAddr(data.GSM_TON_ALPHANUMERIC, data.GSM_NPI_UNKNOWN, n)
	}
	return pdu.NewAddressWithTonNpiAddr(data.GSM_TON_UNKNOWN, data.GSM_NPI_E164, n)
}

// submitPart submits one part within the throughput limit and returns the
// SMSC's message id; it submits again, a second later, while the SMSC says
// it is throttled or full.
func (b *bind) submitPart(ctx context.Context, sm *pdu.SubmitSM, msg *sentMessage, part int) (string, error) {
	for attempt := 0; ; attempt++ {
		if err := b.lim.wait(ctx); err != nil {
			return "", &sms.SendError{Message: "cancelled while waiting for the throughput limit", Err: err}
		}
		s, err := b.waitUp(ctx)
		if err != nil {
			return "", &sms.SendError{Message: err.Error(), Err: err}
		}
		resp, err := b.submit(ctx, s, sm, waiter{ch: make(chan result, 1), msg: msg, part: part})
		if err != nil {
			return "", err
		}
		status := uint32(resp.GetHeader().CommandStatus)
		if r, ok := resp.(*pdu.SubmitSMResp); ok && status == 0 {
			if r.MessageID == "" {
				return "", &sms.SendError{MaybeSent: true, Message: "the SMSC accepted the message without giving its id"}
			}
			return r.MessageID, nil
		}
		cse := &commandStatusError{op: "submit_sm", status: status}
		if (status == 0x58 || status == 0x14) && attempt < throttleRetries {
			b.log.Warn("smpp submit throttled, trying again", "err", cse)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return "", &sms.SendError{Message: cse.Error(), Err: ctx.Err()}
			}
			sm.AssignSequenceNumber()
			continue
		}
		if status == 0 { // a generic_nack with status 0: nonsense, outcome unknown
			return "", &sms.SendError{MaybeSent: true, Message: "the SMSC answered submit_sm with generic_nack"}
		}
		return "", &sms.SendError{Permanent: !transientStatus(status), Code: fmt.Sprintf("0x%08X", status), Message: cse.Error(), Err: cse}
	}
}

// submit writes one submit_sm and waits for its answer.
func (b *bind) submit(ctx context.Context, s *session, sm *pdu.SubmitSM, w waiter) (pdu.PDU, error) {
	seq := sm.GetSequenceNumber()
	b.mu.Lock()
	b.pending[seq] = w
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, seq)
		b.mu.Unlock()
	}()
	if err := s.s.Transceiver().Submit(sm); err != nil {
		return nil, &sms.SendError{Message: "the bind to the SMSC closed before the submit", Err: err}
	}
	timer := time.NewTimer(b.opts.ResponseTimeout)
	defer timer.Stop()
	select {
	case r := <-w.ch:
		if r.err != nil {
			return nil, &sms.SendError{MaybeSent: true, Message: "writing submit_sm failed", Err: r.err}
		}
		return r.p, nil
	case <-s.closed:
		return nil, &sms.SendError{MaybeSent: true, Message: "the bind dropped before the SMSC answered submit_sm"}
	case <-timer.C:
		return nil, &sms.SendError{MaybeSent: true, Message: fmt.Sprintf("no submit_sm_resp within %v", b.opts.ResponseTimeout)}
	case <-ctx.Done():
		return nil, &sms.SendError{MaybeSent: true, Message: "cancelled while waiting for submit_sm_resp", Err: ctx.Err()}
	}
}
