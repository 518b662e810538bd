// Package service is textback's business logic: it turns call events into
// autoreplies, charges credits, sends SMS through providers and keeps the
// workspace's settings. It knows nothing of HTTP.
package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/textback/textback/internal/store"
)

// Errors the API maps to stable codes (see internal/api/errors.go).
var (
	ErrNotFound                 = store.ErrNotFound
	ErrConflict                 = store.ErrConflict
	ErrInsufficientCredits      = store.ErrInsufficientCredits
	ErrMonthlyLimit             = errors.New("the monthly SMS limit is reached")
	ErrInvalidPhone             = errors.New("not a valid phone number")
	ErrNoTrackingNumber         = errors.New("the site has no tracking number")
	ErrAutoresponderUnavailable = errors.New("the site has no tracking number, so the autoresponder is unavailable")
	ErrOptedOut                 = errors.New("the recipient opted out of SMS from this workspace")
	ErrForbidden                = errors.New("only administrators may do this")
)

// ValidationError is bad input, with a message to show.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

func invalid(field, msg string) error { return &ValidationError{Field: field, Message: msg} }

// Queue enqueues SMS sends in the caller's transaction.
type Queue interface {
	EnqueueSend(ctx context.Context, tx *store.Tx, messageID string) error
}

// Service holds what the business logic needs.
type Service struct {
	DB        *store.DB
	Queue     Queue
	Providers *Providers
	PublicURL string // e.g. https://textback.example.com, no trailing slash
	Log       *slog.Logger
	Metrics   *Metrics

	// delivering holds the ids of the messages this process is handing to
	// a provider right now, until the outcome is recorded: a send job that
	// finds one of them "sending" must not resume it (dispatch.go).
	delivering sync.Map
}

func (s *Service) now() time.Time { return s.DB.Now().UTC() }
