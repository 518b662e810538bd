package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// maxJSONBody is the largest API request body accepted.
const maxJSONBody = 64 << 10

// apiError is the JSON error body.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorFor maps the service's errors to stable API codes: the one place where
// that happens. overrides give a route its own code for a sentinel.
func errorFor(err error, overrides map[error]*apiError) *apiError {
	for sentinel, ae := range overrides {
		if errors.Is(err, sentinel) {
			return ae
		}
	}
	var ae *apiError
	var ve *service.ValidationError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: ve.Message, Field: ve.Field}
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "The request body is larger than %d bytes.", mbe.Limit)
	case errors.Is(err, service.ErrInvalidPhone):
		return errorf(http.StatusUnprocessableEntity, "invalid_phone_number", "%s", upperFirst(err.Error()))
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "No such %s in this workspace.", strings.TrimSuffix(err.Error(), ": "+store.ErrNotFound.Error()))
	case errors.Is(err, store.ErrInsufficientCredits):
		return errorf(http.StatusPaymentRequired, "insufficient_credits", "Not enough credits: an SMS costs 4 credits. Recharge in Payment and billing.")
	case errors.Is(err, service.ErrMonthlyLimit):
		return errorf(http.StatusTooManyRequests, "monthly_limit_reached", "The monthly limit of standard SMS is reached.")
	case errors.Is(err, service.ErrNoTrackingNumber):
		return errorf(http.StatusConflict, "no_tracking_number", "The site has no tracking number to send from: ask an administrator to add one in Calls → Settings.")
	case errors.Is(err, service.ErrAutoresponderUnavailable):
		return errorf(http.StatusConflict, "autoresponder_unavailable", "No tracking number is configured for this site yet: ask an administrator to add one in Calls → Settings.")
	case errors.Is(err, service.ErrOptedOut):
		return errorf(http.StatusConflict, "opted_out", "The recipient texted STOP and gets no SMS from this workspace.")
	case errors.Is(err, service.ErrInvalidCredentials):
		return errorf(http.StatusUnauthorized, "invalid_credentials", "Wrong e-mail or password.")
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "%s", upperFirst(err.Error())+".")
	}
	return nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, overrides map[error]*apiError) {
	ae := errorFor(err, overrides)
	if ae == nil {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, "internal", "Something went wrong on our side; it has been logged.")
	}
	writeJSON(w, ae.Status, map[string]any{"error": ae})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("error writing response", "err", err)
	}
}

// decode reads a JSON body strictly: unknown fields are refused so that a
// misspelt field is an error rather than a silent default.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "invalid_json", "The body is not the expected JSON: %v.", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid_json", "The body has data after the JSON object.")
	}
	return nil
}
