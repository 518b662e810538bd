package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/textback/textback/internal/autoresponder"
	"github.com/textback/textback/internal/credits"
	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/phone"
	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// TwilioURLs are the webhook addresses to paste into the Twilio console.
type TwilioURLs struct {
	Voice, DialStatus, CallStatus, MessageStatus, IncomingMessage string
}

// TwilioURLs builds a workspace's Twilio webhook URLs on the public URL.
func (s *Service) TwilioURLs(workspaceID string) TwilioURLs {
	base := s.PublicURL + "/webhooks/twilio/" + workspaceID
	return TwilioURLs{base + "/voice", base + "/dial-status", base + "/call-status", base + "/message-status", base + "/incoming-message"}
}

// GenericCallEventsURL is where a PBX posts call events.
func (s *Service) GenericCallEventsURL(workspaceID string) string {
	return s.PublicURL + "/webhooks/generic/" + workspaceID + "/call-events"
}

// SendStandard queues a standard SMS: 4 credits, and it counts towards the
// monthly limit (in the workspace's time zone).
func (s *Service) SendStandard(ctx context.Context, ws *store.Workspace, siteID, to, body string) (*store.Message, error) {
	if msg := autoresponder.ValidateMessage(body); msg != "" {
		return nil, invalid("body", msg)
	}
	to, err := phone.Normalize(to, "")
	if err != nil {
		return nil, ErrInvalidPhone
	}
	m := &store.Message{ID: ids.New("msg"), WorkspaceID: ws.ID, SiteID: &siteID, Kind: string(sms.KindStandard), To: to, Body: body}
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GetSite(ctx, ws.ID, siteID); err != nil {
			return err
		}
		tns, err := tx.ListTrackingNumbers(ctx, siteID)
		if err != nil {
			return err
		}
		if len(tns) == 0 {
			return ErrNoTrackingNumber
		}
		if out, err := tx.IsOptedOut(ctx, ws.ID, to); err != nil || out {
			return cmpErr(err, ErrOptedOut)
		}
		m.From, m.Provider = tns[0].Number, tns[0].SMSProvider
		if err := s.queueMessage(ctx, tx, ws, m, store.ReasonStandardSMS, "standard:"+m.ID); err != nil {
			return err
		}
		// Counted after the debit, which holds the workspace row: concurrent
		// sends are counted one after the other.
		start, _ := credits.Month(s.now(), ws.Location())
		n, err := tx.CountMessagesSince(ctx, ws.ID, string(sms.KindStandard), start)
		if err != nil {
			return err
		}
		if n > ws.MonthlySMSLimit {
			return ErrMonthlyLimit
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// UpdateMessageStatus applies a provider's delivery report. Statuses only
// move forward; a report for a message of another workspace is ignored.
func (s *Service) UpdateMessageStatus(ctx context.Context, workspaceID, messageID, provider, providerMessageID string, status sms.Status, errText string) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		var m *store.Message
		var err error
		if messageID != "" {
			m, err = tx.LockMessage(ctx, messageID)
		} else {
			m, err = tx.MessageByProviderID(ctx, provider, providerMessageID)
		}
		if errors.Is(err, store.ErrNotFound) || (err == nil && m.WorkspaceID != workspaceID) {
			s.Log.Warn("status report for an unknown message", "workspace", workspaceID, "provider_message_id", providerMessageID)
			return nil
		}
		if err != nil {
			return err
		}
		if status.Rank() <= sms.Status(m.Status).Rank() {
			return nil
		}
		var e *string
		if errText != "" {
			e = &errText
		}
		return tx.SetMessageStatus(ctx, m.ID, string(status), e)
	})
}

// ReceiveSMS handles an inbound SMS: opt-out and opt-in keywords. It
// returns the keyword class ("stop", "start" or "").
func (s *Service) ReceiveSMS(ctx context.Context, workspaceID, from, body string) (string, error) {
	kw := sms.Keyword(body)
	if kw == "" {
		return "", nil
	}
	n, err := phone.Normalize(from, "")
	if err != nil {
		return "", nil // nothing to opt out: the sender has no valid number
	}
	q := s.DB.Q()
	if kw == "stop" {
		err = q.OptOut(ctx, workspaceID, n, strings.ToUpper(strings.TrimSpace(body)))
	} else {
		err = q.OptIn(ctx, workspaceID, n)
	}
	if err != nil {
		return "", fmt.Errorf("error recording %s from %s: %w", kw, n, err)
	}
	s.Log.Info("opt-out keyword", "workspace", workspaceID, "keyword", kw)
	return kw, nil
}

// TopUp adds credits to a workspace's balance. A reference may be used once.
func (s *Service) TopUp(ctx context.Context, workspaceID string, amount int, reference string) (*store.LedgerEntry, error) {
	reference = strings.TrimSpace(reference)
	switch {
	case amount <= 0 || amount > 1_000_000:
		return nil, invalid("credits", "Credits must be a whole number from 1 to 1,000,000.")
	case reference == "" || len(reference) > 200:
		return nil, invalid("reference", "Give a reference (an invoice or payment number) of up to 200 characters.")
	}
	e := &store.LedgerEntry{ID: ids.New("led"), WorkspaceID: workspaceID, Delta: amount, Reason: store.ReasonTopUp,
		Reference: reference, IdempotencyKey: "top_up:" + reference}
	err := s.DB.InTx(ctx, func(tx *store.Tx) error { return tx.ApplyLedger(ctx, e) })
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Usage is this month's SMS use.
type Usage struct {
	Month         string
	TimeZone      string
	StandardSent  int
	StandardLimit int
	AutoreplySent int
	CreditsUsed   int
}

// Usage counts the workspace's SMS this month in its time zone. Standard
// SMS count towards the limit; autoreplies only cost credits.
func (s *Service) Usage(ctx context.Context, ws *store.Workspace) (*Usage, error) {
	start, label := credits.Month(s.now(), ws.Location())
	q := s.DB.Q()
	u := &Usage{Month: label, TimeZone: ws.TimeZone, StandardLimit: ws.MonthlySMSLimit}
	var err error
	if u.StandardSent, err = q.CountMessagesSince(ctx, ws.ID, string(sms.KindStandard), start); err != nil {
		return nil, err
	}
	if u.AutoreplySent, err = q.CountMessagesSince(ctx, ws.ID, string(sms.KindAutoreply), start); err != nil {
		return nil, err
	}
	if u.CreditsUsed, err = q.CreditsUsedSince(ctx, ws.ID, start); err != nil {
		return nil, err
	}
	return u, nil
}
