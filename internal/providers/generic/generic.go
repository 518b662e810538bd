// Package generic is the call-event webhook any PBX or SIP proxy can post
// to: a small JSON body signed with HMAC-SHA256, or a bearer token for
// senders that cannot sign.
package generic

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback/internal/calls"
)

// Headers and limits of the webhook.
const (
	SignatureHeader = "X-Textback-Signature"
	MaxAge          = 5 * time.Minute
	MaxBody         = 64 << 10
)

// Errors of Verify and Parse.
var (
	ErrBadSignature = errors.New("missing or wrong signature")
	ErrMalformed    = errors.New("malformed call event")
)

// Sign returns the signature header value for body at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte("."))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Verify checks a request's signature header, or its bearer token when the
// header is absent. Signatures older or newer than MaxAge are refused, so a
// captured request cannot be replayed later.
func Verify(signature, authorization string, body []byte, secret, token string, now time.Time) error {
	if signature == "" {
		bearer, ok := strings.CutPrefix(authorization, "Bearer ")
		if ok && token != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(bearer)), []byte(token)) == 1 {
			return nil
		}
		return ErrBadSignature
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(signature, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 || secret == "" {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxAge || d < -MaxAge {
		return fmt.Errorf("%w: the timestamp is more than 5 minutes away from now", ErrBadSignature)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// Event is the webhook's JSON body.
type Event struct {
	EventID    string `json:"event_id"`
	CallID     string `json:"call_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	Status     string `json:"status"`
	Detail     string `json:"detail,omitempty"`
	OccurredAt string `json:"occurred_at"`
	Duration   *int   `json:"duration_seconds,omitempty"`
}

// Parse turns a verified body into a normalized call event.
func Parse(body []byte) (calls.Event, error) {
	var e Event
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return calls.Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case strings.TrimSpace(e.CallID) == "" || len(e.CallID) > 200:
		return calls.Event{}, fmt.Errorf("%w: call_id is required (at most 200 characters)", ErrMalformed)
	case strings.TrimSpace(e.To) == "" || len(e.To) > 40:
		return calls.Event{}, fmt.Errorf("%w: to (the tracking number) is required", ErrMalformed)
	case len(e.From) > 40:
		return calls.Event{}, fmt.Errorf("%w: from is too long", ErrMalformed)
	case e.Duration != nil && (*e.Duration < 0 || *e.Duration > 7*24*3600):
		return calls.Event{}, fmt.Errorf("%w: duration_seconds is out of range", ErrMalformed)
	}
	outcome, detail, ended, ok := calls.Map("generic", "status", e.Status)
	if !ok {
		return calls.Event{}, fmt.Errorf("%w: status must be ringing, answered, missed or completed", ErrMalformed)
	}
	if e.Detail != "" {
		if outcome != calls.Missed || !calls.MissedDetails[e.Detail] {
			return calls.Event{}, fmt.Errorf("%w: detail is one of no-answer, busy, failed, canceled, voicemail, with status missed", ErrMalformed)
		}
		detail = e.Detail
	}
	ev := calls.Event{Provider: "generic", ProviderCallID: e.CallID, From: e.From, To: e.To, Outcome: outcome, Detail: detail, Ended: ended, Duration: e.Duration}
	if e.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, e.OccurredAt)
		if err != nil {
			return calls.Event{}, fmt.Errorf("%w: occurred_at must be an RFC 3339 time", ErrMalformed)
		}
		ev.OccurredAt = t.UTC()
	}
	return ev, nil
}
