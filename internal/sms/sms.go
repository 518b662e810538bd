// Package sms holds the SMS message model, the Provider interface every SMS
// gateway implements, and the GSM-7/UCS-2 segment counter used for billing.
package sms

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind says why a message was sent.
type Kind string

const (
	KindAutoreply Kind = "autoreply"
	KindStandard  Kind = "standard"
)

// Status is where a message is in its life. Statuses only move forward (see Rank).
type Status string

const (
	StatusQueued      Status = "queued"
	StatusSending     Status = "sending"
	StatusSent        Status = "sent"
	StatusDelivered   Status = "delivered"
	StatusUndelivered Status = "undelivered"
	StatusFailed      Status = "failed"
)

// Rank orders statuses so that late or repeated provider callbacks never move
// a message backwards. Final statuses share the top rank.
func (s Status) Rank() int {
	switch s {
	case StatusQueued:
		return 0
	case StatusSending:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered, StatusUndelivered, StatusFailed:
		return 3
	}
	return -1
}

// Final reports whether no further change is expected.
func (s Status) Final() bool { return s.Rank() == 3 }

// CreditsPerSMS is what one SMS costs, automatic or standard, whatever its length.
const CreditsPerSMS = 4

// SendRequest is one SMS to hand to a provider.
type SendRequest struct {
	MessageID      string // textback's id; providers may use it as a reference
	WorkspaceID    string
	From           string // E.164: the tracking number that was called
	To             string // E.164
	Body           string
	StatusCallback string // where the provider reports delivery, "" for none
}

// SendResult is what the provider answered when it accepted the message.
type SendResult struct {
	ProviderMessageID string
	// Status is the status right after acceptance, normally StatusSent; a
	// provider that knows the final outcome at once (the simulator) may say so.
	Status Status
}

// Provider sends SMS through one gateway. Implementations must be safe for
// concurrent use and must return a *SendError for every failure.
type Provider interface {
	Name() string
	Send(ctx context.Context, req SendRequest) (SendResult, error)
}

// SendError says whether a failed send may be retried.
type SendError struct {
	// Permanent is true when the provider rejected the message outright: retrying
	// cannot help and the message was certainly not sent (credits are refunded).
	Permanent bool
	// MaybeSent is true when the outcome is unknown (a timeout after the request
	// was written): the provider may have accepted the message.
	MaybeSent bool
	Code      string // the provider's error code, if any
	Message   string // the provider's words, safe to show to users
	Err       error
	// RetryAfter, when positive, is how long the provider asked to wait
	// before trying again (HTTP Retry-After on a 429 or 503).
	RetryAfter time.Duration
}

func (e *SendError) Error() string {
	s := e.Message
	if e.Code != "" {
		s = e.Code + ": " + s
	}
	if e.Err != nil && s == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return fmt.Sprintf("%s (%v)", s, e.Err)
	}
	return s
}

func (e *SendError) Unwrap() error { return e.Err }

// AsSendError returns err as a *SendError, treating unknown errors as
// transient with an unknown outcome (the safe assumption: retry, never refund).
func AsSendError(err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return se
	}
	return &SendError{MaybeSent: true, Message: err.Error(), Err: err}
}
