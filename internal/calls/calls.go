// Package calls turns what providers report about a call into one outcome:
// answered or missed (with a detail), whatever order the reports arrive in.
package calls

import (
	"strings"
	"time"
)

// Outcomes of a call.
const (
	InProgress = "in_progress"
	Answered   = "answered"
	Missed     = "missed"
)

// Event is one normalized report about a call, from any provider.
type Event struct {
	Provider       string // "twilio", "generic", ...
	ProviderCallID string
	From           string // as sent; may be empty or a withheld marker
	Withheld       bool   // the provider says the caller's number is hidden
	To             string // the tracking number, as sent
	Outcome        string // InProgress, Answered, Missed, or "" when the report only says the call ended
	Detail         string // no-answer, busy, failed, canceled, voicemail, completed
	OccurredAt     time.Time
	Ended          bool
	Duration       *int // seconds, when known
}

// status is one row of the mapping table.
type status struct {
	outcome string
	detail  string
	ended   bool
}

// statusTable maps each provider's status words to an outcome. Keys are
// "provider/field/value", lower case. A report not in the table is ignored.
// Twilio's parent-call CallStatus "completed" only says the call ended: the
// caller was connected to textback's TwiML, not necessarily to a person, so
// whether a person answered comes from DialCallStatus.
var statusTable = map[string]status{
	"twilio/callstatus/queued":      {InProgress, "", false},
	"twilio/callstatus/ringing":     {InProgress, "", false},
	"twilio/callstatus/in-progress": {InProgress, "", false},
	"twilio/callstatus/completed":   {"", "", true},
	"twilio/callstatus/busy":        {Missed, "busy", true},
	"twilio/callstatus/no-answer":   {Missed, "no-answer", true},
	"twilio/callstatus/failed":      {Missed, "failed", true},
	"twilio/callstatus/canceled":    {Missed, "canceled", true},

	"twilio/dialcallstatus/completed": {Answered, "completed", false},
	"twilio/dialcallstatus/answered":  {Answered, "completed", false},
	"twilio/dialcallstatus/busy":      {Missed, "busy", false},
	"twilio/dialcallstatus/no-answer": {Missed, "no-answer", false},
	"twilio/dialcallstatus/failed":    {Missed, "failed", false},
	"twilio/dialcallstatus/canceled":  {Missed, "canceled", false},

	"generic/status/ringing":   {InProgress, "", false},
	"generic/status/answered":  {Answered, "", false},
	"generic/status/missed":    {Missed, "no-answer", true},
	"generic/status/completed": {Answered, "completed", true},
}

// MissedDetails are the details a generic sender may give with "missed".
var MissedDetails = map[string]bool{"no-answer": true, "busy": true, "failed": true, "canceled": true, "voicemail": true}

// Map looks up a provider's status word; ok is false for words not in the table.
func Map(provider, field, value string) (outcome, detail string, ended, ok bool) {
	s, ok := statusTable[provider+"/"+strings.ToLower(field)+"/"+strings.ToLower(strings.TrimSpace(value))]
	return s.outcome, s.detail, s.ended, ok
}

// State is what is known about a call.
type State struct {
	Outcome   string
	Detail    string
	StartedAt time.Time
	EndedAt   *time.Time
	Duration  *int
}

// Merge folds an event into a call's state. The first definitive outcome
// (answered or missed) wins: a later or repeated report never flips it, so a
// missed call is decided once. Reports that only say the call ended fill in
// the end time and duration. Generic "completed" with no earlier outcome
// counts as answered (a PBX reports completed only for connected calls).
// It reports whether the call became missed with this event.
func Merge(s *State, ev Event) (becameMissed bool) {
	if !ev.OccurredAt.IsZero() && ev.OccurredAt.Before(s.StartedAt) {
		s.StartedAt = ev.OccurredAt
	}
	if ev.Outcome == Answered || ev.Outcome == Missed {
		if s.Outcome == InProgress || s.Outcome == "" {
			s.Outcome, s.Detail = ev.Outcome, ev.Detail
			becameMissed = ev.Outcome == Missed
		}
	} else if s.Outcome == "" {
		s.Outcome = InProgress
	}
	if ev.Ended && s.EndedAt == nil {
		t := ev.OccurredAt
		if t.IsZero() {
			t = time.Now()
		}
		t = t.UTC()
		s.EndedAt = &t
	}
	if ev.Duration != nil {
		d := *ev.Duration
		s.Duration = &d
	}
	return becameMissed
}
