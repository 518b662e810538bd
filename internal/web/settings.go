package web

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// Calls → Settings (administrators): the site's tracking numbers, the
// Twilio account and the webhook addresses to paste into providers.

var (
	numberForm = formSpec{"number", []string{"number", "label", "forward_to", "ring_timeout_seconds", "provider", "sms_provider"}}
	twilioForm = formSpec{"twilio", []string{"account_sid", "auth_token"}}
)

// numberInput is the add-a-number form as the admin filled it in.
type numberInput struct {
	Number, Label, ForwardTo, RingTimeout, Provider, SMSProvider string
}

type settingsData struct {
	Numbers       []store.TrackingNumber
	Add           numberInput
	CallProviders []string
	SMSProviders  []string
	TwilioSID     string
	TwilioToken   bool // a token is stored (it is never shown)
	Twilio        service.TwilioURLs
	GenericURL    string
	Secret, Token string
	Carriers      *carrierData // SMPP and Kannel (carriers.go)
	Err           formError
}

func (u *UI) settingsData(r *http.Request, c *reqCtx) (*settingsData, error) {
	d := &settingsData{
		Add:           numberInput{RingTimeout: "20", Provider: service.ProviderTwilio, SMSProvider: service.ProviderTwilio},
		CallProviders: slices.Sorted(maps.Keys(service.CallProviders)),
		SMSProviders:  slices.Sorted(maps.Keys(service.SMSProviders)),
		Twilio:        u.Svc.TwilioURLs(c.WS.ID),
		GenericURL:    u.Svc.GenericCallEventsURL(c.WS.ID),
		Secret:        c.WS.WebhookSecret,
		Token:         c.WS.WebhookToken,
	}
	if u.Demo { // nothing leaves the machine in the demo
		d.Add.Provider, d.Add.SMSProvider = service.ProviderGeneric, service.ProviderSimulated
	}
	if c.Site != nil {
		var err error
		if d.Numbers, err = u.Svc.DB.Q().ListTrackingNumbers(r.Context(), c.Site.ID); err != nil {
			return nil, err
		}
	}
	ts, err := u.Svc.TwilioSettings(r.Context(), c.WS.ID)
	switch {
	case err == nil:
		d.TwilioSID, d.TwilioToken = ts.AccountSID, ts.AuthToken != ""
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if d.Carriers, err = u.carrierData(r, c); err != nil {
		return nil, err
	}
	return d, nil
}

func (u *UI) renderSettings(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, d *settingsData) {
	u.render(w, r, status, "calls_settings", &page{Title: "Settings", Section: "calls", Tab: "settings", C: c, Data: d})
}

func (u *UI) settings(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	d, err := u.settingsData(r, c)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.renderSettings(w, r, c, http.StatusOK, d)
}

// settingsSaved sends the admin back to the settings of the site with a confirmation.
func settingsSaved(w http.ResponseWriter, r *http.Request, c *reqCtx, code string) {
	target := "/calls/settings?saved=" + code
	if c.Site != nil {
		target += "&site=" + url.QueryEscape(c.Site.ID)
	}
	redirect(w, r, target)
}

const intlFormat = "write it in international format, e.g. +14155550123"

// badPhone says which number of the form is not a phone number, quoting it.
func badPhone(err error, in numberInput) formError {
	if strings.Contains(err.Error(), "forward_to") {
		return numberForm.err("forward_to", "The forward-to number “"+in.ForwardTo+"” is not a valid phone number: "+intlFormat+".")
	}
	if strings.TrimSpace(in.Number) == "" {
		return numberForm.err("number", "Enter the tracking number: "+intlFormat+".")
	}
	return numberForm.err("number", "“"+in.Number+"” is not a valid phone number: "+intlFormat+".")
}

func (u *UI) addNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if c.Site == nil {
		u.fail(w, r, store.ErrNotFound)
		return
	}
	in := numberInput{Number: strings.TrimSpace(r.PostFormValue("number")), Label: r.PostFormValue("label"),
		ForwardTo: strings.TrimSpace(r.PostFormValue("forward_to")), RingTimeout: strings.TrimSpace(r.PostFormValue("ring_timeout_seconds")),
		Provider: r.PostFormValue("provider"), SMSProvider: r.PostFormValue("sms_provider")}
	timeout := 0 // empty: the service's default
	if in.RingTimeout != "" {
		var perr error
		if timeout, perr = strconv.Atoi(in.RingTimeout); perr != nil {
			timeout = -1 // not a number: the service says what is allowed
		}
	}
	_, err := u.Svc.AddTrackingNumber(r.Context(), c.WS.ID, c.Site.ID, service.NewTrackingNumber{Number: in.Number, Label: in.Label,
		ForwardTo: in.ForwardTo, RingTimeoutSeconds: timeout, Provider: in.Provider, SMSProvider: in.SMSProvider})
	if err == nil {
		settingsSaved(w, r, c, "number")
		return
	}
	status, fe, ok := numberForm.refused(err, "number", "This number is already a tracking number.")
	if !ok && errors.Is(err, service.ErrInvalidPhone) {
		status, fe, ok = http.StatusUnprocessableEntity, badPhone(err, in), true
	}
	if !ok {
		u.fail(w, r, err)
		return
	}
	d, derr := u.settingsData(r, c)
	if derr != nil {
		u.fail(w, r, derr)
		return
	}
	d.Add, d.Err = in, fe
	u.renderSettings(w, r, c, status, d)
}

func (u *UI) deleteNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	// Scoped to the workspace: another workspace's number is not found.
	if err := u.Svc.DB.Q().DeleteTrackingNumber(r.Context(), c.WS.ID, r.PathValue("id")); err != nil {
		u.fail(w, r, err)
		return
	}
	settingsSaved(w, r, c, "number-removed")
}

func (u *UI) saveTwilio(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	sid := strings.TrimSpace(r.PostFormValue("account_sid"))
	err := u.Svc.UpdateTwilioSettings(r.Context(), c.WS.ID, sid, r.PostFormValue("auth_token"))
	if err == nil {
		settingsSaved(w, r, c, "twilio")
		return
	}
	status, fe, ok := twilioForm.refused(err, "", "")
	if !ok {
		u.fail(w, r, err)
		return
	}
	d, derr := u.settingsData(r, c)
	if derr != nil {
		u.fail(w, r, derr)
		return
	}
	d.TwilioSID, d.Err = sid, fe // the token typed is never sent back
	u.renderSettings(w, r, c, status, d)
}

func (u *UI) regenerateSecret(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if _, _, err := u.Svc.RegenerateWebhookCredentials(r.Context(), c.WS.ID); err != nil {
		u.fail(w, r, err)
		return
	}
	settingsSaved(w, r, c, "secret")
}
