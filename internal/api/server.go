// Package api serves textback's JSON API, the providers' webhooks, the
// OpenAPI document and the health and metrics endpoints.
package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

//go:embed openapi.json
var openAPI []byte

// Server holds what the handlers need.
type Server struct {
	Svc      *service.Service
	Log      *slog.Logger
	Gatherer prometheus.Gatherer
	Now      func() time.Time
	Ready    func(ctx context.Context) error // nil: only the database ping
	UI       http.Handler                    // the web UI, served for every other path

	signIns *auth.Limiter
}

// Access says who may call a route. It is visible in the route table and a
// test walks the table with every role.
type Access int

const (
	Public  Access = iota // no credentials (sign-in, health, documents)
	Webhook               // verified by the provider's signature, not by a key
	Member                // any member's API key
	Admin                 // an admin's API key
)

func (a Access) String() string {
	return [...]string{"public", "webhook", "member", "admin"}[a]
}

// Route is one line of the route table.
type Route struct {
	Method, Pattern string
	Access          Access
	handler         any // http.HandlerFunc or keyed
}

type keyed func(w http.ResponseWriter, r *http.Request, c *reqCtx)

// reqCtx is who is calling, for authenticated routes.
type reqCtx struct {
	P  *store.Principal
	WS *store.Workspace
}

// Routes is the route table.
func (s *Server) Routes() []Route {
	return []Route{
		{"GET", "/healthz", Public, http.HandlerFunc(s.healthz)},
		{"GET", "/readyz", Public, http.HandlerFunc(s.readyz)},
		{"GET", "/metrics", Public, promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}).ServeHTTP},
		{"GET", "/api/v1/openapi.json", Public, http.HandlerFunc(serveOpenAPI)},
		{"POST", "/api/v1/auth/token", Public, http.HandlerFunc(s.createToken)},

		{"GET", "/api/v1/me", Member, keyed(s.me)},
		{"GET", "/api/v1/sites", Member, keyed(s.listSites)},
		{"POST", "/api/v1/sites", Admin, keyed(s.createSite)},
		{"GET", "/api/v1/sites/{site_id}/tracking-numbers", Member, keyed(s.listTrackingNumbers)},
		{"POST", "/api/v1/sites/{site_id}/tracking-numbers", Admin, keyed(s.createTrackingNumber)},
		{"DELETE", "/api/v1/tracking-numbers/{id}", Admin, keyed(s.deleteTrackingNumber)},
		{"GET", "/api/v1/sites/{site_id}/autoresponder", Member, keyed(s.getAutoresponder)},
		{"PUT", "/api/v1/sites/{site_id}/autoresponder/message", Member, keyed(s.putAutoresponderMessage)},
		{"PUT", "/api/v1/sites/{site_id}/autoresponder/enabled", Member, keyed(s.putAutoresponderEnabled)},
		{"GET", "/api/v1/calls", Member, keyed(s.listCalls)},
		{"GET", "/api/v1/messages", Member, keyed(s.listMessages)},
		{"POST", "/api/v1/messages", Member, keyed(s.sendMessage)},
		{"GET", "/api/v1/credits", Member, keyed(s.getCredits)},
		{"GET", "/api/v1/credits/ledger", Member, keyed(s.listLedger)},
		{"POST", "/api/v1/credits/top-ups", Admin, keyed(s.topUp)},
		{"GET", "/api/v1/usage", Member, keyed(s.usage)},
		{"GET", "/api/v1/providers", Admin, keyed(s.getProviders)},
		{"PUT", "/api/v1/providers/twilio", Admin, keyed(s.putTwilio)},
		{"PUT", "/api/v1/providers/smpp", Admin, keyed(s.putSMPP)},
		{"PUT", "/api/v1/providers/kannel", Admin, keyed(s.putKannel)},
		{"GET", "/api/v1/webhooks", Admin, keyed(s.getWebhooks)},
		{"GET", "/api/v1/members", Admin, keyed(s.listMembers)},
		{"POST", "/api/v1/members", Admin, keyed(s.addMember)},
		{"GET", "/api/v1/api-keys", Member, keyed(s.listAPIKeys)},
		{"POST", "/api/v1/api-keys", Member, keyed(s.createAPIKey)},
		{"DELETE", "/api/v1/api-keys/{id}", Member, keyed(s.deleteAPIKey)},

		{"POST", "/webhooks/twilio/{workspace_id}/voice", Webhook, http.HandlerFunc(s.twilioVoice)},
		{"POST", "/webhooks/twilio/{workspace_id}/dial-status", Webhook, http.HandlerFunc(s.twilioDialStatus)},
		{"POST", "/webhooks/twilio/{workspace_id}/call-status", Webhook, http.HandlerFunc(s.twilioCallStatus)},
		{"POST", "/webhooks/twilio/{workspace_id}/message-status", Webhook, http.HandlerFunc(s.twilioMessageStatus)},
		{"POST", "/webhooks/twilio/{workspace_id}/incoming-message", Webhook, http.HandlerFunc(s.twilioIncomingMessage)},
		{"POST", "/webhooks/generic/{workspace_id}/call-events", Webhook, http.HandlerFunc(s.genericCallEvent)},
		{"GET", "/webhooks/kannel/{workspace_id}/dlr", Webhook, http.HandlerFunc(s.kannelDLR)},
		{"GET", "/webhooks/kannel/{workspace_id}/mo", Webhook, http.HandlerFunc(s.kannelMO)},
	}
}

// Handler returns the HTTP handler for every route, with logging and
// security headers; s.UI serves every path that is not the API's.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.signIns == nil {
		s.signIns = auth.NewLimiter(10, 15*time.Minute, s.Now)
	}
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		var h http.HandlerFunc
		switch fn := rt.handler.(type) {
		case keyed:
			h = s.withKey(rt.Access, fn)
		case http.HandlerFunc:
			h = fn
		case func(http.ResponseWriter, *http.Request):
			h = fn
		default:
			panic("route " + rt.Pattern + " has no handler")
		}
		mux.HandleFunc(rt.Method+" "+rt.Pattern, h)
	}
	if s.UI != nil {
		mux.Handle("/", s.UI)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": errorf(http.StatusNotFound, "not_found", "No such endpoint: %s %s.", r.Method, r.URL.Path)})
	})
	return s.logRequests(securityHeaders(mux))
}

// withKey authenticates the API key and enforces the route's role.
func (s *Server) withKey(access Access, h keyed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			s.writeError(w, r, errorf(http.StatusUnauthorized, "unauthorized", "Send an API key as Authorization: Bearer <key>."), nil)
			return
		}
		p, err := s.Svc.Authenticate(r.Context(), strings.TrimSpace(key))
		if errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, errorf(http.StatusUnauthorized, "unauthorized", "The API key is not valid."), nil)
			return
		}
		if err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		if access == Admin && p.Role != auth.RoleAdmin {
			s.writeError(w, r, errorf(http.StatusForbidden, "forbidden", "Only workspace administrators may do this."), nil)
			return
		}
		ws, err := s.Svc.DB.Q().GetWorkspace(r.Context(), p.WorkspaceID)
		if err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		h(w, r, &reqCtx{P: p, WS: ws})
	}
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs method, path, status and duration: never headers, query
// strings or bodies, which may hold secrets or callers' numbers.
func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelWarn
		}
		s.Log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "ms", time.Since(start).Milliseconds())
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.Svc.DB.Ping(ctx)
	if err == nil {
		err = s.Svc.DB.CheckWritable(ctx)
	}
	if err == nil && s.Ready != nil {
		err = s.Ready(ctx)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		s.Log.Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
