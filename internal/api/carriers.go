package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/textback/textback/internal/providers/kannel"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// SMPP and Kannel settings, and Kannel's callbacks.

type smppView struct {
	Configured   bool    `json:"configured"`
	Host         *string `json:"host"`
	Port         *int    `json:"port"`
	SystemID     *string `json:"system_id"`
	SystemType   *string `json:"system_type"`
	MaxPerSecond *int    `json:"max_per_second"`
	PasswordSet  bool    `json:"password_set"`
	// Bound says whether this server's bind to the SMSC is up; BindError
	// why it is not, when it tried.
	Bound     bool    `json:"bound"`
	BindError *string `json:"bind_error"`
}

func (s *Server) smppView(r *http.Request, workspaceID string) (smppView, error) {
	ss, err := s.Svc.SMPPSettings(r.Context(), workspaceID)
	if errors.Is(err, store.ErrNotFound) {
		return smppView{}, nil
	}
	if err != nil {
		return smppView{}, err
	}
	v := smppView{Configured: true, Host: &ss.Host, Port: &ss.Port, SystemID: &ss.SystemID, SystemType: &ss.SystemType,
		MaxPerSecond: &ss.MaxPerSecond, PasswordSet: ss.Password != ""}
	var bindErr error
	v.Bound, bindErr = s.Svc.SMPPBound(workspaceID)
	if bindErr != nil && !v.Bound {
		msg := bindErr.Error()
		v.BindError = &msg
	}
	return v, nil
}

type kannelView struct {
	Configured  bool    `json:"configured"`
	SendSMSURL  *string `json:"sendsms_url"`
	Username    *string `json:"username"`
	PasswordSet bool    `json:"password_set"`
}

func (s *Server) kannelView(r *http.Request, workspaceID string) (kannelView, error) {
	ks, err := s.Svc.KannelSettings(r.Context(), workspaceID)
	if errors.Is(err, store.ErrNotFound) {
		return kannelView{}, nil
	}
	if err != nil {
		return kannelView{}, err
	}
	return kannelView{Configured: true, SendSMSURL: &ks.SendSMSURL, Username: &ks.Username, PasswordSet: ks.Password != ""}, nil
}

func (s *Server) putSMPP(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		Host         string `json:"host"`
		Port         int    `json:"port"`
		SystemID     string `json:"system_id"`
		Password     string `json:"password"`
		SystemType   string `json:"system_type"`
		MaxPerSecond int    `json:"max_per_second"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	err := s.Svc.SetSMPPSettings(r.Context(), c.WS.ID, service.SMPPSettings{Host: in.Host, Port: in.Port, SystemID: in.SystemID,
		Password: in.Password, SystemType: in.SystemType, MaxPerSecond: in.MaxPerSecond})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	v, err := s.smppView(r, c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) putKannel(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var in struct {
		SendSMSURL string `json:"sendsms_url"`
		Username   string `json:"username"`
		Password   string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	err := s.Svc.SetKannelSettings(r.Context(), c.WS.ID, service.KannelSettings{SendSMSURL: in.SendSMSURL, Username: in.Username, Password: in.Password})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	v, err := s.kannelView(r, c.WS.ID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// verifyKannel checks the token of a Kannel callback: Kannel cannot sign,
// so the URLs textback gives it carry a secret of the workspace's.
func (s *Server) verifyKannel(w http.ResponseWriter, r *http.Request) (*store.Workspace, bool) {
	ws, err := s.Svc.DB.R().GetWorkspace(r.Context(), r.PathValue("workspace_id"))
	if err == nil && kannel.CheckToken(r.URL.Query().Get("token"), ws.WebhookSecret, ws.ID) {
		return ws, true
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.webhookError(w, r, err)
		return nil, false
	}
	s.writeError(w, r, errorf(http.StatusForbidden, "bad_token", "The token is missing or wrong: use the URLs from GET /api/v1/webhooks."), nil)
	return nil, false
}

// kannelDLR is the dlr-url of messages sent through Kannel.
func (s *Server) kannelDLR(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.verifyKannel(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	typ, err := strconv.Atoi(q.Get("type"))
	report, known := kannel.DLRStatus(typ)
	if err != nil || !known || q.Get("message_id") == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "malformed", "A delivery report needs message_id and type (Kannel's %%d: 1, 2, 4, 8 or 16)."), nil)
		return
	}
	if err := s.Svc.KannelReport(r.Context(), ws.ID, q.Get("message_id"), report, q.Get("answer")); err != nil {
		s.webhookError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// kannelMO is the get-url of the Kannel sms-service that forwards inbound
// SMS: STOP and START keywords. The answer is empty, so Kannel replies nothing
// (with max-messages = 0 on the sms-service).
func (s *Server) kannelMO(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.verifyKannel(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("from") == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "malformed", "An inbound SMS needs from (Kannel's %%p)."), nil)
		return
	}
	if _, err := s.Svc.ReceiveSMS(r.Context(), ws.ID, service.InboundNumber(q.Get("from"), q.Get("to")), q.Get("text")); err != nil {
		s.webhookError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
