// Package autoresponder decides, for each missed call, whether the caller
// gets the site's SMS, and if not, why.
package autoresponder

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// Reasons an autoreply was not sent. They are stable API codes.
const (
	ReasonUnknownNumber       = "unknown_tracking_number"
	ReasonOff                 = "autoresponder_off"
	ReasonNoMessage           = "no_message"
	ReasonCallerWithheld      = "caller_withheld"
	ReasonInvalidCaller       = "invalid_caller"
	ReasonOptedOut            = "opted_out"
	ReasonInsufficientCredits = "insufficient_credits"
)

// MaxMessageLength is the longest message a site may save (ten segments of
// concatenated GSM-7 is 1,530; 1,600 is what carriers accept).
const MaxMessageLength = 1600

// Lookup answers the questions a check needs from the database.
type Lookup interface {
	IsOptedOut(ctx context.Context, workspaceID, phone string) (bool, error)
	Balance(ctx context.Context, workspaceID string) (int, error)
}

// Input is what is known when a call turns out missed.
type Input struct {
	WorkspaceID    string
	Tracking       *store.TrackingNumber // nil: the number is not configured
	Autoresponder  *store.Autoresponder  // nil when Tracking is nil
	CallerWithheld bool
	Caller         string // E.164; "" when withheld or invalid
	Lookup         Lookup
}

// Check is one rule: Skip reports true when the SMS must not go out, for Reason.
type Check struct {
	Reason string
	Skip   func(ctx context.Context, in *Input) (bool, error)
}

// Checks run in order; the first that skips gives the reason. New rules
// (cooldown, business hours, landlines) are new entries in this list.
var Checks = []Check{
	{ReasonUnknownNumber, func(_ context.Context, in *Input) (bool, error) {
		return in.Tracking == nil || in.Autoresponder == nil, nil
	}},
	{ReasonOff, func(_ context.Context, in *Input) (bool, error) { return !in.Autoresponder.Enabled, nil }},
	{ReasonNoMessage, func(_ context.Context, in *Input) (bool, error) {
		return strings.TrimSpace(in.Autoresponder.Message) == "", nil
	}},
	{ReasonCallerWithheld, func(_ context.Context, in *Input) (bool, error) { return in.CallerWithheld, nil }},
	{ReasonInvalidCaller, func(_ context.Context, in *Input) (bool, error) { return in.Caller == "", nil }},
	{ReasonOptedOut, func(ctx context.Context, in *Input) (bool, error) {
		return in.Lookup.IsOptedOut(ctx, in.WorkspaceID, in.Caller)
	}},
	{ReasonInsufficientCredits, func(ctx context.Context, in *Input) (bool, error) {
		b, err := in.Lookup.Balance(ctx, in.WorkspaceID)
		return b < sms.CreditsPerSMS, err
	}},
}

// Decide runs the checks in order and returns the first reason to skip, or
// "" when the SMS should be sent.
func Decide(ctx context.Context, in *Input) (reason string, err error) {
	for _, c := range Checks {
		skip, err := c.Skip(ctx, in)
		if err != nil {
			return "", err
		}
		if skip {
			return c.Reason, nil
		}
	}
	return "", nil
}

// ValidateMessage says what is wrong with a message a member wants to save.
func ValidateMessage(m string) string {
	switch {
	case strings.TrimSpace(m) == "":
		return "The message is empty."
	case utf8.RuneCountInString(m) > MaxMessageLength:
		return "The message is longer than 1,600 characters."
	case !utf8.ValidString(m):
		return "The message is not valid UTF-8 text."
	}
	return ""
}
