package api

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback/internal/calls"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/twilio"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// Webhook answers: 403 for anything that fails verification (an unknown
// workspace included), 400 for malformed bodies, 413 for oversize ones, 503
// when textback cannot store the event (so the provider retries), and 2xx
// once stored.

func (s *Server) webhookError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, twilio.ErrBadSignature), errors.Is(err, generic.ErrBadSignature), errors.Is(err, store.ErrNotFound):
		s.writeError(w, r, errorf(http.StatusForbidden, "bad_signature", "The request signature is missing or wrong."), nil)
	case errors.Is(err, twilio.ErrTooLarge), errors.As(err, &mbe):
		s.writeError(w, r, errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "The body is too large."), nil)
	case errors.Is(err, twilio.ErrMalformed), errors.Is(err, generic.ErrMalformed):
		s.writeError(w, r, errorf(http.StatusBadRequest, "malformed", "%s", upperFirst(err.Error())+"."), nil)
	default:
		s.Log.Error("webhook failed", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "unavailable", "The event could not be stored; retry later."), nil)
	}
}

// verifyTwilio checks the signature with the workspace's Twilio auth token.
func (s *Server) verifyTwilio(r *http.Request) (*store.Workspace, url.Values, error) {
	ws, err := s.Svc.DB.R().GetWorkspace(r.Context(), r.PathValue("workspace_id"))
	if err != nil {
		return nil, nil, err
	}
	ts, err := s.Svc.TwilioSettings(r.Context(), ws.ID)
	if err != nil {
		return nil, nil, err // not configured: nothing to verify against
	}
	form, err := twilio.Verify(r, s.Svc.PublicURL, ts.AuthToken)
	if err != nil {
		return nil, nil, err
	}
	return ws, form, nil
}

// twilioEvent reads a call event from a Twilio form; field is the status
// field that carries the outcome (CallStatus or DialCallStatus).
func twilioEvent(form url.Values, field string) (calls.Event, error) {
	ev := calls.Event{Provider: "twilio", ProviderCallID: form.Get("CallSid"), From: form.Get("From"), To: form.Get("To")}
	if ev.ProviderCallID == "" || ev.To == "" || len(ev.ProviderCallID) > 64 || len(ev.To) > 40 || len(ev.From) > 40 {
		return ev, twilio.ErrMalformed
	}
	ev.Withheld = twilio.IsWithheld(ev.From)
	if v := form.Get(field); v != "" {
		outcome, detail, ended, ok := calls.Map("twilio", field, v)
		if !ok {
			return ev, twilio.ErrMalformed
		}
		ev.Outcome, ev.Detail, ev.Ended = outcome, detail, ended
	}
	for _, f := range []string{"DialCallDuration", "CallDuration"} {
		if d, err := strconv.Atoi(form.Get(f)); err == nil && d >= 0 {
			ev.Duration = &d
			break
		}
	}
	if t, err := time.Parse(time.RFC1123Z, form.Get("Timestamp")); err == nil {
		ev.OccurredAt = t.UTC()
	}
	return ev, nil
}

func writeTwiML(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/xml")
	w.Write(body)
}

// twilioVoice answers an incoming call with TwiML that forwards it to the
// business line; the Dial action reports whether anyone picked up.
func (s *Server) twilioVoice(w http.ResponseWriter, r *http.Request) {
	ws, form, err := s.verifyTwilio(r)
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	ev, err := twilioEvent(form, "CallStatus")
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	ev.Outcome, ev.Detail, ev.Ended = calls.InProgress, "", false
	res, err := s.Svc.RecordCallEvent(r.Context(), ws, ev)
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	tn := res.Tracking
	if tn == nil || tn.ForwardTo == nil {
		// Nobody can answer: the call is missed as soon as it arrives.
		ev.Outcome, ev.Detail = calls.Missed, "no-answer"
		if _, err := s.Svc.RecordCallEvent(r.Context(), ws, ev); err != nil {
			s.webhookError(w, r, err)
			return
		}
		writeTwiML(w, twilio.HangupTwiML())
		return
	}
	writeTwiML(w, twilio.DialTwiML(*tn.ForwardTo, tn.RingTimeoutSeconds, s.Svc.TwilioURLs(ws.ID).DialStatus))
}

// twilioDialStatus is the Dial action: DialCallStatus says whether the
// business line answered.
func (s *Server) twilioDialStatus(w http.ResponseWriter, r *http.Request) {
	if s.twilioCallEvent(w, r, "DialCallStatus") {
		writeTwiML(w, twilio.HangupTwiML())
	}
}

// twilioCallStatus is the call's status callback.
func (s *Server) twilioCallStatus(w http.ResponseWriter, r *http.Request) {
	if s.twilioCallEvent(w, r, "CallStatus") {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) twilioCallEvent(w http.ResponseWriter, r *http.Request, field string) bool {
	ws, form, err := s.verifyTwilio(r)
	if err == nil {
		var ev calls.Event
		if ev, err = twilioEvent(form, field); err == nil {
			_, err = s.Svc.RecordCallEvent(r.Context(), ws, ev)
		}
	}
	if err != nil {
		s.webhookError(w, r, err)
		return false
	}
	return true
}

func (s *Server) twilioMessageStatus(w http.ResponseWriter, r *http.Request) {
	ws, form, err := s.verifyTwilio(r)
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	sid := form.Get("MessageSid")
	status, ok := twilio.MessageStatus(form.Get("MessageStatus"))
	if sid == "" || !ok {
		if sid != "" && form.Get("MessageStatus") != "" { // a status we do not track (receiving, ...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.webhookError(w, r, twilio.ErrMalformed)
		return
	}
	var errText string
	if code := form.Get("ErrorCode"); code != "" {
		errText = strings.TrimSpace(code + " " + form.Get("ErrorMessage"))
	}
	if err := s.Svc.UpdateMessageStatus(r.Context(), ws.ID, r.URL.Query().Get("message_id"), service.ProviderTwilio, sid, status, errText); err != nil {
		s.webhookError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) twilioIncomingMessage(w http.ResponseWriter, r *http.Request) {
	ws, form, err := s.verifyTwilio(r)
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	if form.Get("From") == "" {
		s.webhookError(w, r, twilio.ErrMalformed)
		return
	}
	if _, err := s.Svc.ReceiveSMS(r.Context(), ws.ID, form.Get("From"), form.Get("Body")); err != nil {
		s.webhookError(w, r, err)
		return
	}
	writeTwiML(w, twilio.EmptyTwiML())
}

// genericCallEvent takes a PBX's JSON call event, signed or with the bearer token.
func (s *Server) genericCallEvent(w http.ResponseWriter, r *http.Request) {
	ws, err := s.Svc.DB.R().GetWorkspace(r.Context(), r.PathValue("workspace_id"))
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, generic.MaxBody))
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	if err := generic.Verify(r.Header.Get(generic.SignatureHeader), r.Header.Get("Authorization"), body, ws.WebhookSecret, ws.WebhookToken, s.Now()); err != nil {
		s.webhookError(w, r, err)
		return
	}
	ev, err := generic.Parse(body)
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	res, err := s.Svc.RecordCallEvent(r.Context(), ws, ev)
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	out := map[string]any{"call_id": res.Call.ID, "outcome": res.Call.Outcome, "known_tracking_number": res.KnownNumber}
	if res.Decided {
		out["autoreply"] = map[string]any{"decision": map[bool]string{true: "skipped", false: "sent"}[res.Reason != ""], "reason": res.Reason, "message_id": res.MessageID}
	}
	writeJSON(w, http.StatusAccepted, out)
}
