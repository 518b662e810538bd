package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback/internal/calls"
	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

type callLogData struct {
	Calls   []store.Call
	Outcome string
}

func (u *UI) callLog(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	outcome := r.URL.Query().Get("outcome")
	if outcome != calls.Missed && outcome != calls.Answered {
		outcome = ""
	}
	f := store.CallFilter{Outcome: outcome, Limit: 200}
	if c.Site != nil && len(c.Sites) > 1 {
		f.SiteID = c.Site.ID
	}
	list, err := u.Svc.DB.Q().ListCalls(r.Context(), c.WS.ID, f)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "calls_log", &page{Title: "Call log", Section: "calls", Tab: "log", C: c,
		Data: callLogData{Calls: list, Outcome: outcome}})
}

type autoresponderData struct {
	AR        *store.Autoresponder
	Info      sms.Info
	Unicode   string // the characters that force UCS-2
	Status    statusLine
	Balance   int
	Recent    []store.Call
	Credits   int
	Numbers   int
	SiteQuery string
}

// statusLine tells the truth about whether callers will get the SMS.
type statusLine struct {
	Text  string `json:"text"`
	Class string `json:"class"`
	// Recharge links to Payment and billing when credits are short.
	Recharge bool `json:"recharge"`
}

func autoresponderStatus(ar *store.Autoresponder, balance int) statusLine {
	switch {
	case !ar.Enabled:
		return statusLine{Text: "Off: callers you miss receive no SMS.", Class: "off"}
	case strings.TrimSpace(ar.Message) == "":
		return statusLine{Text: "On, but no message is saved: write one and click Save.", Class: "warn"}
	case balance < sms.CreditsPerSMS:
		return statusLine{Text: "On, but your balance is below 4 credits: recharge in Payment and billing.", Class: "warn", Recharge: true}
	}
	return statusLine{Text: "On: callers you miss receive this SMS.", Class: "on"}
}

func (u *UI) autoresponderData(r *http.Request, c *reqCtx) (*autoresponderData, error) {
	ctx := r.Context()
	q := u.Svc.DB.Q()
	if c.Site == nil {
		return nil, store.ErrNotFound
	}
	ar, err := q.GetAutoresponder(ctx, c.Site.ID)
	if err != nil {
		return nil, err
	}
	bal, err := q.Balance(ctx, c.WS.ID)
	if err != nil {
		return nil, err
	}
	recent, err := q.ListCalls(ctx, c.WS.ID, store.CallFilter{SiteID: c.Site.ID, Outcome: calls.Missed, Limit: 5})
	if err != nil {
		return nil, err
	}
	d := &autoresponderData{AR: ar, Info: sms.Count(ar.Message), Unicode: string(sms.ForcesUnicode(ar.Message)),
		Status: autoresponderStatus(ar, bal), Balance: bal, Recent: recent, Credits: sms.CreditsPerSMS}
	return d, nil
}

func (u *UI) autoresponder(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	d, err := u.autoresponderData(r, c)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "calls_autoresponder", &page{Title: "Autoresponder", Section: "calls", Tab: "autoresponder", C: c, Data: d})
}

// wantsJSON is true for the page's own fetch calls (the switch, the counter).
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (u *UI) saveMessage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if c.Site == nil {
		u.fail(w, r, store.ErrNotFound)
		return
	}
	msg := strings.ReplaceAll(r.PostFormValue("message"), "\r\n", "\n")
	_, err := u.Svc.SetAutoresponderMessage(r.Context(), c.P, c.Site.ID, msg)
	var ve *service.ValidationError
	if errors.As(err, &ve) || errors.Is(err, service.ErrAutoresponderUnavailable) {
		d, derr := u.autoresponderData(r, c)
		if derr != nil {
			u.fail(w, r, derr)
			return
		}
		d.AR.Message = msg // keep what the member typed
		d.Info, d.Unicode = sms.Count(msg), string(sms.ForcesUnicode(msg))
		text := "The message was not saved: no tracking number is configured for this site."
		if ve != nil {
			text = "The message was not saved: " + ve.Message
		}
		u.render(w, r, http.StatusUnprocessableEntity, "calls_autoresponder", &page{Title: "Autoresponder", Section: "calls", Tab: "autoresponder", C: c, Data: d, Error: text})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	redirect(w, r, "/calls/autoresponder?site="+c.Site.ID+"&saved=message")
}

// saveEnabled flips the switch. The page's script calls it with fetch and
// shows the answer; without JavaScript it is a plain form post.
func (u *UI) saveEnabled(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if c.Site == nil {
		u.fail(w, r, store.ErrNotFound)
		return
	}
	enabled, perr := strconv.ParseBool(r.PostFormValue("enabled"))
	var ar *store.Autoresponder
	err := perr
	if err == nil {
		ar, err = u.Svc.SetAutoresponderEnabled(r.Context(), c.P, c.Site.ID, enabled)
	}
	if !wantsJSON(r) {
		switch {
		case perr != nil:
			u.errorPage(w, r, http.StatusBadRequest, "The switch is either on or off.")
		case errors.Is(err, service.ErrAutoresponderUnavailable):
			u.errorPage(w, r, http.StatusConflict, "No tracking number is configured for this site: ask an administrator to add one in Calls → Settings.")
		case err != nil:
			u.fail(w, r, err)
		default:
			redirect(w, r, "/calls/autoresponder?site="+c.Site.ID+"&saved="+map[bool]string{true: "on", false: "off"}[enabled])
		}
		return
	}
	switch {
	case perr != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "enabled must be true or false"})
	case errors.Is(err, service.ErrAutoresponderUnavailable):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "No tracking number is configured for this site."})
	case err != nil:
		u.Log.Error("switch failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "The switch could not be saved. Try again."})
	default:
		bal, _ := u.Svc.DB.Q().Balance(r.Context(), c.WS.ID)
		writeJSON(w, http.StatusOK, map[string]any{"enabled": ar.Enabled, "status": autoresponderStatus(ar, bal)})
	}
}

// preview is the live counter: the same code that bills a message counts it.
func (u *UI) preview(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	msg := r.PostFormValue("message")
	info := sms.Count(msg)
	plain, changed := sms.Plain(msg)
	out := map[string]any{"characters": info.Characters, "encoding": info.Encoding, "segments": info.Segments,
		"per_segment": info.PerSegment, "credits_per_sms": sms.CreditsPerSMS, "unicode_characters": string(sms.ForcesUnicode(msg))}
	if changed {
		out["plain"] = plain
		out["plain_encoding"] = sms.Count(plain).Encoding
	}
	writeJSON(w, http.StatusOK, out)
}

// simulateCall plays a carrier in demo mode: a signed missed-call event
// goes through the real generic webhook handler.
func (u *UI) simulateCall(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if !u.Demo {
		u.errorPage(w, r, http.StatusNotFound, "Simulated calls exist only in demo mode.")
		return
	}
	if c.Site == nil {
		u.fail(w, r, store.ErrNotFound)
		return
	}
	tns, err := u.Svc.DB.Q().ListTrackingNumbers(r.Context(), c.Site.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if len(tns) == 0 {
		u.errorPage(w, r, http.StatusConflict, "Add a tracking number in Calls → Settings first.")
		return
	}
	from := strings.TrimSpace(r.PostFormValue("from"))
	if from == "" {
		from = "+14155550123"
	}
	body, _ := json.Marshal(generic.Event{EventID: ids.New("evt"), CallID: "sim-" + ids.Random(8), From: from, To: tns[0].Number,
		Status: "missed", Detail: "no-answer", OccurredAt: time.Now().UTC().Format(time.RFC3339Nano)})
	req := httptest.NewRequestWithContext(r.Context(), "POST", "/webhooks/generic/"+c.WS.ID+"/call-events", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(generic.SignatureHeader, generic.Sign(c.WS.WebhookSecret, time.Now(), body))
	rec := httptest.NewRecorder()
	u.Webhooks.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		u.Log.Error("simulated call refused", "status", rec.Code, "body", rec.Body.String())
		u.errorPage(w, r, http.StatusInternalServerError, "The simulated call was refused: "+rec.Body.String())
		return
	}
	// Give the worker a moment so the log shows the SMS, not "Sending…".
	time.Sleep(150 * time.Millisecond)
	redirect(w, r, "/calls?site="+c.Site.ID+"&saved=simulated")
}
