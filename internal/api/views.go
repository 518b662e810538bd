package api

import (
	"time"

	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// The JSON shapes of ../shared/API.md and openapi.json.

type siteView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`
	CreatedAt time.Time `json:"created_at"`
}

func viewSite(s *store.Site) siteView {
	return siteView{s.ID, s.Name, s.TimeZone, s.CreatedAt.UTC()}
}

type trackingView struct {
	ID                 string    `json:"id"`
	SiteID             string    `json:"site_id"`
	Number             string    `json:"number"`
	Provider           string    `json:"provider"`
	SMSProvider        string    `json:"sms_provider"`
	ForwardTo          *string   `json:"forward_to"`
	RingTimeoutSeconds int       `json:"ring_timeout_seconds"`
	Label              string    `json:"label"`
	CreatedAt          time.Time `json:"created_at"`
}

func viewTracking(t *store.TrackingNumber) trackingView {
	return trackingView{t.ID, t.SiteID, t.Number, t.Provider, t.SMSProvider, t.ForwardTo, t.RingTimeoutSeconds, t.Label, t.CreatedAt.UTC()}
}

type autoresponderView struct {
	SiteID        string     `json:"site_id"`
	Available     bool       `json:"available"`
	Enabled       bool       `json:"enabled"`
	Message       string     `json:"message"`
	UpdatedAt     *time.Time `json:"updated_at"`
	UpdatedBy     *string    `json:"updated_by"`
	Encoding      string     `json:"encoding"`
	Characters    int        `json:"characters"`
	Segments      int        `json:"segments"`
	CreditsPerSMS int        `json:"credits_per_sms"`
}

func viewAutoresponder(a *store.Autoresponder) autoresponderView {
	info := sms.Count(a.Message)
	return autoresponderView{a.SiteID, a.Available, a.Enabled, a.Message, a.UpdatedAt, a.UpdatedBy,
		string(info.Encoding), info.Characters, info.Segments, sms.CreditsPerSMS}
}

type autoreplyView struct {
	Status    string  `json:"status"`
	Reason    *string `json:"reason"`
	MessageID *string `json:"message_id"`
	Error     *string `json:"error"`
}

// autoreplyStatus folds the decision and the message's status into the
// five statuses of the API: undelivered counts as failed.
func autoreplyStatus(a *store.Autoreply) string {
	if a.Decision != "sent" {
		return "skipped"
	}
	switch sms.Status(a.MessageStatus) {
	case sms.StatusQueued, sms.StatusSending:
		return "queued"
	case sms.StatusDelivered:
		return "delivered"
	case sms.StatusUndelivered, sms.StatusFailed:
		return "failed"
	}
	return "sent"
}

type callView struct {
	ID                  string         `json:"id"`
	SiteID              *string        `json:"site_id"`
	TrackingNumber      string         `json:"tracking_number"`
	TrackingNumberLabel string         `json:"tracking_number_label"`
	Caller              *string        `json:"caller"`
	Provider            string         `json:"provider"`
	ProviderCallID      string         `json:"provider_call_id"`
	StartedAt           time.Time      `json:"started_at"`
	EndedAt             *time.Time     `json:"ended_at"`
	DurationSeconds     *int           `json:"duration_seconds"`
	Outcome             string         `json:"outcome"`
	OutcomeDetail       *string        `json:"outcome_detail"`
	Autoreply           *autoreplyView `json:"autoreply"`
}

func viewCall(c *store.Call) callView {
	v := callView{c.ID, c.SiteID, c.TrackingNumber, c.TrackingLabel, c.Caller, c.Provider, c.ProviderCallID,
		c.StartedAt.UTC(), c.EndedAt, c.DurationSeconds, c.Outcome, c.OutcomeDetail, nil}
	if a := c.Autoreply; a != nil {
		v.Autoreply = &autoreplyView{Status: autoreplyStatus(a), Reason: a.Reason, MessageID: a.MessageID}
		if v.Autoreply.Status == "failed" {
			v.Autoreply.Error = a.MessageError
		}
	}
	return v
}

type messageView struct {
	ID                string    `json:"id"`
	Kind              string    `json:"kind"`
	SiteID            *string   `json:"site_id"`
	CallID            *string   `json:"call_id"`
	To                string    `json:"to"`
	From              string    `json:"from"`
	Body              string    `json:"body"`
	Status            string    `json:"status"`
	Encoding          string    `json:"encoding"`
	Segments          int       `json:"segments"`
	Credits           int       `json:"credits"`
	Provider          string    `json:"provider"`
	ProviderMessageID *string   `json:"provider_message_id"`
	Attempts          int       `json:"attempts"`
	Error             *string   `json:"error"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func viewMessage(m *store.Message) messageView {
	return messageView{m.ID, m.Kind, m.SiteID, m.CallID, m.To, m.From, m.Body, m.Status, m.Encoding, m.Segments, m.Credits,
		m.Provider, m.ProviderMessageID, m.Attempts, m.Error, m.CreatedAt.UTC(), m.UpdatedAt.UTC()}
}

type ledgerView struct {
	ID           string    `json:"id"`
	Delta        int       `json:"delta"`
	BalanceAfter int       `json:"balance_after"`
	Reason       string    `json:"reason"`
	Reference    string    `json:"reference"`
	CallID       *string   `json:"call_id"`
	MessageID    *string   `json:"message_id"`
	CreatedAt    time.Time `json:"created_at"`
}

func viewLedger(e *store.LedgerEntry) ledgerView {
	return ledgerView{e.ID, e.Delta, e.BalanceAfter, e.Reason, e.Reference, e.CallID, e.MessageID, e.CreatedAt.UTC()}
}

type memberView struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

func viewMember(m *store.Member) memberView {
	return memberView{m.UserID, m.Email, m.Role, m.CreatedAt.UTC()}
}
