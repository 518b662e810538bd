package api

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/textback/textback/internal/calls"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	writeJSON(w, http.StatusOK, map[string]any{
		"user":      map[string]string{"id": c.P.UserID, "email": c.P.Email},
		"workspace": map[string]string{"id": c.WS.ID, "name": c.WS.Name, "time_zone": c.WS.TimeZone},
		"role":      c.P.Role,
	})
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	sites, err := s.Svc.DB.Q().ListSites(r.Context(), c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]siteView, 0, len(sites))
	for i := range sites {
		out = append(out, viewSite(&sites[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sites": out})
}

func (s *Server) createSite(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Name     string `json:"name"`
		TimeZone string `json:"time_zone"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	site, err := s.Svc.CreateSite(r.Context(), c.WS, in.Name, in.TimeZone)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusCreated, viewSite(site))
}

// site loads the {site_id} of the path within the caller's workspace.
func (s *Server) site(w http.ResponseWriter, r *http.Request, c *reqCtx) (*store.Site, bool) {
	site, err := s.Svc.DB.Q().GetSite(r.Context(), c.WS.ID, r.PathValue("site_id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return nil, false
	}
	return site, true
}

func (s *Server) listTrackingNumbers(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	site, ok := s.site(w, r, c)
	if !ok {
		return
	}
	tns, err := s.Svc.DB.Q().ListTrackingNumbers(r.Context(), site.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]trackingView, 0, len(tns))
	for i := range tns {
		out = append(out, viewTracking(&tns[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tracking_numbers": out})
}

func (s *Server) createTrackingNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Number             string  `json:"number"`
		Provider           string  `json:"provider"`
		SMSProvider        string  `json:"sms_provider"`
		ForwardTo          *string `json:"forward_to"`
		RingTimeoutSeconds int     `json:"ring_timeout_seconds"`
		Label              string  `json:"label"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	n := service.NewTrackingNumber{Number: in.Number, Provider: in.Provider, SMSProvider: in.SMSProvider,
		RingTimeoutSeconds: in.RingTimeoutSeconds, Label: in.Label}
	if in.ForwardTo != nil {
		n.ForwardTo = *in.ForwardTo
	}
	t, err := s.Svc.AddTrackingNumber(r.Context(), c.WS.ID, r.PathValue("site_id"), n)
	if err != nil {
		s.writeError(w, r, err, map[error]*apiError{
			store.ErrConflict: errorf(http.StatusConflict, "tracking_number_taken", "This number is already a tracking number."),
		})
		return
	}
	writeJSON(w, http.StatusCreated, viewTracking(t))
}

func (s *Server) deleteTrackingNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if err := s.Svc.DB.Q().DeleteTrackingNumber(r.Context(), c.WS.ID, r.PathValue("id")); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getAutoresponder(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	a, err := s.Svc.Autoresponder(r.Context(), c.WS.ID, r.PathValue("site_id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, viewAutoresponder(a))
}

func (s *Server) putAutoresponderMessage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Message *string `json:"message"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	if in.Message == nil {
		s.writeError(w, r, &service.ValidationError{Field: "message", Message: "Give the message."}, nil)
		return
	}
	a, err := s.Svc.SetAutoresponderMessage(r.Context(), c.P, r.PathValue("site_id"), *in.Message)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, viewAutoresponder(a))
}

func (s *Server) putAutoresponderEnabled(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	if in.Enabled == nil {
		s.writeError(w, r, &service.ValidationError{Field: "enabled", Message: "Give enabled: true or false."}, nil)
		return
	}
	a, err := s.Svc.SetAutoresponderEnabled(r.Context(), c.P, r.PathValue("site_id"), *in.Enabled)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, viewAutoresponder(a))
}

// limit reads ?limit=, 1..500, default 50.
func limit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		return 0, errorf(http.StatusBadRequest, "bad_request", "limit must be a whole number from 1 to 500.")
	}
	return n, nil
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	n, err := limit(r)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	f := store.CallFilter{SiteID: r.URL.Query().Get("site_id"), Outcome: r.URL.Query().Get("outcome"), Limit: n}
	switch f.Outcome {
	case "", calls.Answered, calls.Missed, calls.InProgress:
	default:
		s.writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "outcome must be answered, missed or in_progress."), nil)
		return
	}
	if f.SiteID != "" {
		if _, err := s.Svc.DB.Q().GetSite(r.Context(), c.WS.ID, f.SiteID); err != nil {
			s.writeError(w, r, err, nil)
			return
		}
	}
	list, err := s.Svc.DB.Q().ListCalls(r.Context(), c.WS.ID, f)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]callView, 0, len(list))
	for i := range list {
		out = append(out, viewCall(&list[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": out})
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	n, err := limit(r)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	f := store.MessageFilter{Kind: r.URL.Query().Get("kind"), Limit: n}
	if f.Kind != "" && f.Kind != string(sms.KindAutoreply) && f.Kind != string(sms.KindStandard) {
		s.writeError(w, r, errorf(http.StatusBadRequest, "bad_request", "kind must be autoreply or standard."), nil)
		return
	}
	list, err := s.Svc.DB.Q().ListMessages(r.Context(), c.WS.ID, f)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]messageView, 0, len(list))
	for i := range list {
		out = append(out, viewMessage(&list[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
}

func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		SiteID string `json:"site_id"`
		To     string `json:"to"`
		Body   string `json:"body"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	m, err := s.Svc.SendStandard(r.Context(), c.WS, in.SiteID, in.To, in.Body)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusAccepted, viewMessage(m))
}

func (s *Server) getCredits(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	b, err := s.Svc.DB.Q().Balance(r.Context(), c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"balance": b})
}

func (s *Server) listLedger(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	n, err := limit(r)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	list, err := s.Svc.DB.Q().ListLedger(r.Context(), c.WS.ID, n)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]ledgerView, 0, len(list))
	for i := range list {
		out = append(out, viewLedger(&list[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

func (s *Server) topUp(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Credits   int    `json:"credits"`
		Reference string `json:"reference"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	e, err := s.Svc.TopUp(r.Context(), c.WS.ID, in.Credits, in.Reference)
	if err != nil {
		s.writeError(w, r, err, map[error]*apiError{
			store.ErrConflict: errorf(http.StatusConflict, "duplicate_reference", "A top-up with this reference was already recorded."),
		})
		return
	}
	writeJSON(w, http.StatusCreated, viewLedger(e))
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	u, err := s.Svc.Usage(r.Context(), c.WS)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"month": u.Month, "time_zone": u.TimeZone, "standard_sms_sent": u.StandardSent, "standard_sms_limit": u.StandardLimit,
		"autoreply_sms_sent": u.AutoreplySent, "credits_used": u.CreditsUsed,
	})
}

type twilioView struct {
	Configured   bool    `json:"configured"`
	AccountSID   *string `json:"account_sid"`
	AuthTokenSet bool    `json:"auth_token_set"`
}

func (s *Server) twilioView(r *http.Request, workspaceID string) (twilioView, error) {
	ts, err := s.Svc.TwilioSettings(r.Context(), workspaceID)
	if errors.Is(err, store.ErrNotFound) {
		return twilioView{}, nil
	}
	if err != nil {
		return twilioView{}, err
	}
	return twilioView{Configured: true, AccountSID: &ts.AccountSID, AuthTokenSet: ts.AuthToken != ""}, nil
}

func (s *Server) getProviders(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	tv, err := s.twilioView(r, c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	sv, err := s.smppView(r, c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	kv, err := s.kannelView(r, c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"twilio": tv, "smpp": sv, "kannel": kv, "simulated": map[string]bool{"available": true}})
}

func (s *Server) putTwilio(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		AccountSID string `json:"account_sid"`
		AuthToken  string `json:"auth_token"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	err := s.Svc.SetTwilioSettings(r.Context(), c.WS.ID, service.TwilioSettings{AccountSID: strings.TrimSpace(in.AccountSID), AuthToken: strings.TrimSpace(in.AuthToken)})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	tv, err := s.twilioView(r, c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, tv)
}

func (s *Server) getWebhooks(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	u := s.Svc.TwilioURLs(c.WS.ID)
	writeJSON(w, http.StatusOK, map[string]any{
		"twilio": map[string]string{"voice_url": u.Voice, "dial_status_url": u.DialStatus, "call_status_url": u.CallStatus,
			"message_status_url": u.MessageStatus, "incoming_message_url": u.IncomingMessage},
		"generic": map[string]string{"call_events_url": s.Svc.GenericCallEventsURL(c.WS.ID), "signing_secret": c.WS.WebhookSecret,
			"bearer_token": c.WS.WebhookToken},
		"kannel": map[string]string{"dlr_url": s.Svc.KannelURLs(c.WS).DLR, "mo_url": s.Svc.KannelURLs(c.WS).MO},
	})
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	ms, err := s.Svc.DB.Q().ListMembers(r.Context(), c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]memberView, 0, len(ms))
	for i := range ms {
		out = append(out, viewMember(&ms[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Email    string `json:"email"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	m, err := s.Svc.AddMember(r.Context(), c.WS.ID, in.Email, in.Role, in.Password)
	if err != nil {
		s.writeError(w, r, err, map[error]*apiError{
			store.ErrConflict: errorf(http.StatusConflict, "already_member", "This person is already a member of the workspace."),
		})
		return
	}
	writeJSON(w, http.StatusCreated, viewMember(m))
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	keys, err := s.Svc.DB.Q().ListAPIKeys(r.Context(), c.WS.ID, c.P.UserID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]any{"id": k.ID, "name": k.Name, "prefix": k.Prefix, "created_at": k.CreatedAt.UTC(), "last_used_at": k.LastUsedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	k, key, err := s.Svc.CreateAPIKey(r.Context(), c.P, in.Name)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": k.ID, "name": k.Name, "key": key, "created_at": k.CreatedAt.UTC()})
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if err := s.Svc.DB.Q().DeleteAPIKey(r.Context(), c.WS.ID, c.P.UserID, r.PathValue("id")); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// createToken signs in with e-mail and password and returns a new API key.
// Failures are counted per e-mail and per client address.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string `json:"email"`
		Password    string `json:"password"`
		WorkspaceID string `json:"workspace_id"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	keys := []string{"email:" + strings.ToLower(strings.TrimSpace(in.Email)), "ip:" + ip}
	for _, k := range keys {
		if s.signIns.Blocked(k) {
			w.Header().Set("Retry-After", "900")
			s.writeError(w, r, errorf(http.StatusTooManyRequests, "rate_limited", "Too many failed sign-ins: wait 15 minutes."), nil)
			return
		}
	}
	m, key, err := s.Svc.SignIn(r.Context(), in.Email, in.Password, in.WorkspaceID)
	if errors.Is(err, service.ErrInvalidCredentials) {
		for _, k := range keys {
			s.signIns.Fail(k)
		}
	}
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"api_key": key, "workspace_id": m.WorkspaceID, "role": m.Role})
}
