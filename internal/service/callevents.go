package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/textback/textback/internal/autoresponder"
	"github.com/textback/textback/internal/calls"
	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/phone"
	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// CallResult is what became of a call event.
type CallResult struct {
	Call           *store.Call
	KnownNumber    bool
	Tracking       *store.TrackingNumber
	Decided        bool   // this event made the call missed and an autoreply decision was taken
	Reason         string // when Decided: "" if an SMS was queued, else why not
	MessageID      string // when an SMS was queued
	DuplicateEvent bool   // the event changed nothing
}

// RecordCallEvent stores what a provider reported about a call and, when the
// call has just become missed, decides its autoreply; all in one transaction,
// so that a call is stored once and decided once however often and in
// whatever order the provider's reports arrive.
func (s *Service) RecordCallEvent(ctx context.Context, ws *store.Workspace, ev calls.Event) (*CallResult, error) {
	res := &CallResult{}
	// Numbers are parsed before the transaction (libphonenumber is ~9 % of a
	// loaded server's CPU; on SQLite a transaction holds the one connection).
	to := ev.To
	if n, err := phone.Normalize(ev.To, ""); err == nil {
		to = n
	}
	withheld := ev.Withheld || phone.IsWithheldMarker(ev.From)
	var caller *string
	if !withheld {
		// The tracking number, when known, is the one called: `to`.
		if n, err := phone.Normalize(ev.From, to); err == nil {
			caller = &n
		}
	}
	ctx = withDispatch(ctx) // its autoreply is sent in-process after the commit (dispatch.go)
	// Committed with other webhooks' events when several arrive together
	// (group commit, store/group.go); the answer waits for the commit.
	err := s.DB.InGroupTx(ctx, func(ctx context.Context, tx *store.Tx) error {
		*res = CallResult{}
		tn, err := tx.TrackingNumberByNumber(ctx, ws.ID, to)
		switch {
		case errors.Is(err, store.ErrNotFound):
			tn = nil
		case err != nil:
			return fmt.Errorf("error loading tracking number: %w", err)
		}
		res.Tracking, res.KnownNumber = tn, tn != nil

		started := ev.OccurredAt
		if started.IsZero() {
			started = s.now()
		}
		st := calls.State{StartedAt: started.UTC()}
		becameMissed := calls.Merge(&st, ev)
		c := &store.Call{
			ID: ids.New("call"), WorkspaceID: ws.ID, TrackingNumber: to, Provider: ev.Provider,
			ProviderCallID: ev.ProviderCallID, Caller: caller, CallerRaw: ev.From,
			Outcome: st.Outcome, OutcomeDetail: optional(st.Detail), StartedAt: st.StartedAt, EndedAt: st.EndedAt, DurationSeconds: st.Duration,
		}
		if tn != nil {
			c.SiteID, c.TrackingNumberID = &tn.SiteID, &tn.ID
		}
		inserted, err := tx.InsertCallIfNew(ctx, c)
		if err != nil {
			return err
		}
		if !inserted {
			if c, becameMissed, err = s.mergeExisting(ctx, tx, ws.ID, ev, caller); err != nil {
				return err
			}
			res.DuplicateEvent = !becameMissed
		}
		res.Call = c
		if !becameMissed {
			return nil
		}
		res.Decided = true
		res.Reason, res.MessageID, err = s.decide(ctx, tx, ws, c, tn, withheld)
		return err
	})
	if err != nil {
		s.Metrics.CallEvents.WithLabelValues(ev.Provider, "error").Inc()
		return nil, err
	}
	s.Metrics.CallEvents.WithLabelValues(ev.Provider, "stored").Inc()
	s.dispatchCommitted(res.MessageID)
	if res.Decided {
		decision, reason := "sent", res.Reason
		if reason != "" {
			decision = "skipped"
		}
		s.Metrics.Autoreplies.WithLabelValues(decision, reason).Inc()
		s.Log.Info("missed call", "workspace", ws.ID, "call", res.Call.ID, "decision", decision, "reason", reason, "message", res.MessageID)
	}
	if !res.KnownNumber {
		s.Log.Warn("call to an unknown tracking number", "workspace", ws.ID, "provider", ev.Provider, "to", ev.To)
	}
	return res, nil
}

// mergeExisting folds an event into a call stored earlier, under a row lock.
func (s *Service) mergeExisting(ctx context.Context, tx *store.Tx, workspaceID string, ev calls.Event, caller *string) (*store.Call, bool, error) {
	c, err := tx.LockCall(ctx, workspaceID, ev.Provider, ev.ProviderCallID)
	if err != nil {
		return nil, false, fmt.Errorf("error loading call: %w", err)
	}
	st := calls.State{Outcome: c.Outcome, StartedAt: c.StartedAt, EndedAt: c.EndedAt, Duration: c.DurationSeconds}
	if c.OutcomeDetail != nil {
		st.Detail = *c.OutcomeDetail
	}
	before := fmt.Sprint(st.Outcome, st.Detail, st.StartedAt, deref(st.EndedAt), derefInt(st.Duration))
	becameMissed := calls.Merge(&st, ev)
	changed := before != fmt.Sprint(st.Outcome, st.Detail, st.StartedAt, deref(st.EndedAt), derefInt(st.Duration))
	if c.Caller == nil && caller != nil {
		c.Caller, changed = caller, true
	}
	if !changed {
		return c, false, nil
	}
	c.Outcome, c.OutcomeDetail, c.StartedAt, c.EndedAt, c.DurationSeconds = st.Outcome, optional(st.Detail), st.StartedAt, st.EndedAt, st.Duration
	if err := tx.UpdateCallState(ctx, c); err != nil {
		return nil, false, fmt.Errorf("error updating call: %w", err)
	}
	return c, becameMissed, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func derefInt(i *int) int {
	if i == nil {
		return -1
	}
	return *i
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// decide runs the checks for a call that has just become missed and records
// the outcome: a skip with its reason, or the debit, the message and its send
// job. It returns the skip reason ("" when sent) and the message id.
func (s *Service) decide(ctx context.Context, tx *store.Tx, ws *store.Workspace, c *store.Call, tn *store.TrackingNumber, withheld bool) (string, string, error) {
	in := &autoresponder.Input{WorkspaceID: ws.ID, Tracking: tn, CallerWithheld: withheld, Lookup: tx}
	if c.Caller != nil {
		in.Caller = *c.Caller
	}
	if tn != nil {
		ar, err := tx.GetAutoresponder(ctx, tn.SiteID)
		if err != nil {
			return "", "", fmt.Errorf("error loading autoresponder: %w", err)
		}
		in.Autoresponder = ar
	}
	reason, err := autoresponder.Decide(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("error deciding autoreply: %w", err)
	}
	if reason == "" {
		msgID := ids.New("msg")
		err := s.queueMessage(ctx, tx, ws, &store.Message{
			ID: msgID, WorkspaceID: ws.ID, SiteID: &tn.SiteID, CallID: &c.ID, Kind: string(sms.KindAutoreply),
			To: in.Caller, From: tn.Number, Body: in.Autoresponder.Message, Provider: tn.SMSProvider,
		}, store.ReasonAutoreply, "autoreply:"+c.ID)
		switch {
		case errors.Is(err, store.ErrInsufficientCredits):
			reason = autoresponder.ReasonInsufficientCredits // another debit won the race
		case err != nil:
			return "", "", err
		default:
			_, err := tx.InsertAutoreply(ctx, &store.Autoreply{CallID: c.ID, WorkspaceID: ws.ID, Decision: "sent", MessageID: &msgID})
			return "", msgID, err
		}
	}
	_, err = tx.InsertAutoreply(ctx, &store.Autoreply{CallID: c.ID, WorkspaceID: ws.ID, Decision: "skipped", Reason: &reason})
	return reason, "", err
}

// queueMessage charges the message's credits, stores it queued and enqueues
// its send, in the caller's transaction.
func (s *Service) queueMessage(ctx context.Context, tx *store.Tx, ws *store.Workspace, m *store.Message, ledgerReason, key string) error {
	info := sms.Count(m.Body)
	m.Encoding, m.Segments, m.Credits, m.Status = string(info.Encoding), info.Segments, sms.CreditsPerSMS, string(sms.StatusQueued)
	e := &store.LedgerEntry{ID: ids.New("led"), WorkspaceID: ws.ID, Delta: -sms.CreditsPerSMS, Reason: ledgerReason,
		Reference: m.ID, CallID: m.CallID, MessageID: &m.ID, IdempotencyKey: key}
	if err := tx.ApplyLedger(ctx, e); err != nil {
		return err
	}
	if err := tx.InsertMessage(ctx, m); err != nil {
		return err
	}
	if err := s.Queue.EnqueueSend(ctx, tx, m.ID); err != nil {
		return fmt.Errorf("error enqueueing send: %w", err)
	}
	return nil
}
