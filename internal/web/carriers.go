package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

// Calls → Settings, continued: the workspace's own SMS gateways, an SMPP
// account and a Kannel. Passwords are write-only, like the Twilio token.

var (
	smppForm   = formSpec{"smpp", []string{"host", "port", "system_id", "password", "system_type", "max_per_second"}}
	kannelForm = formSpec{"kannel", []string{"sendsms_url", "username", "password"}}
)

// smppInput is the SMPP form as shown or as the admin filled it in.
type smppInput struct{ Host, Port, SystemID, SystemType, MaxPerSecond string }

type kannelInput struct{ SendSMSURL, Username string }

type carrierData struct {
	SMPP           smppInput
	SMPPPassword   bool // a password is stored (it is never shown)
	SMPPConfigured bool
	SMPPBound      bool
	SMPPBindError  string
	Kannel         kannelInput
	KannelPassword bool
	KannelDLR      string
	KannelMO       string
}

func (u *UI) carrierData(r *http.Request, c *reqCtx) (*carrierData, error) {
	k := u.Svc.KannelURLs(c.WS)
	d := &carrierData{KannelDLR: k.DLR, KannelMO: k.MO, SMPP: smppInput{Port: "2775"}}
	ss, err := u.Svc.SMPPSettings(r.Context(), c.WS.ID)
	switch {
	case err == nil:
		d.SMPPConfigured, d.SMPPPassword = true, ss.Password != ""
		d.SMPP = smppInput{Host: ss.Host, Port: strconv.Itoa(ss.Port), SystemID: ss.SystemID, SystemType: ss.SystemType}
		if ss.MaxPerSecond > 0 {
			d.SMPP.MaxPerSecond = strconv.Itoa(ss.MaxPerSecond)
		}
		var bindErr error
		if d.SMPPBound, bindErr = u.Svc.SMPPBound(c.WS.ID); bindErr != nil && !d.SMPPBound {
			d.SMPPBindError = bindErr.Error()
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	ks, err := u.Svc.KannelSettings(r.Context(), c.WS.ID)
	switch {
	case err == nil:
		d.Kannel, d.KannelPassword = kannelInput{SendSMSURL: ks.SendSMSURL, Username: ks.Username}, ks.Password != ""
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return d, nil
}

// formInt reads a number field: "" is 0 (the default), anything else that
// is not a number is -1, which the service refuses with its own message.
func formInt(s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func (u *UI) saveSMPP(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	in := smppInput{Host: strings.TrimSpace(r.PostFormValue("host")), Port: strings.TrimSpace(r.PostFormValue("port")),
		SystemID: strings.TrimSpace(r.PostFormValue("system_id")), SystemType: strings.TrimSpace(r.PostFormValue("system_type")),
		MaxPerSecond: strings.TrimSpace(r.PostFormValue("max_per_second"))}
	err := u.Svc.SetSMPPSettings(r.Context(), c.WS.ID, service.SMPPSettings{Host: in.Host, Port: formInt(in.Port), SystemID: in.SystemID,
		Password: r.PostFormValue("password"), SystemType: in.SystemType, MaxPerSecond: formInt(in.MaxPerSecond)})
	if err == nil {
		settingsSaved(w, r, c, "smpp")
		return
	}
	u.refuseCarrier(w, r, c, err, smppForm, func(d *carrierData) { d.SMPP = in })
}

func (u *UI) saveKannel(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	in := kannelInput{SendSMSURL: strings.TrimSpace(r.PostFormValue("sendsms_url")), Username: strings.TrimSpace(r.PostFormValue("username"))}
	err := u.Svc.SetKannelSettings(r.Context(), c.WS.ID, service.KannelSettings{SendSMSURL: in.SendSMSURL, Username: in.Username,
		Password: r.PostFormValue("password")})
	if err == nil {
		settingsSaved(w, r, c, "kannel")
		return
	}
	u.refuseCarrier(w, r, c, err, kannelForm, func(d *carrierData) { d.Kannel = in })
}

// refuseCarrier shows the settings page again with the form as typed (never
// the password) and the message beside the field.
func (u *UI) refuseCarrier(w http.ResponseWriter, r *http.Request, c *reqCtx, err error, form formSpec, keep func(*carrierData)) {
	status, fe, ok := form.refused(err, "", "")
	if !ok {
		u.fail(w, r, err)
		return
	}
	d, derr := u.settingsData(r, c)
	if derr != nil {
		u.fail(w, r, derr)
		return
	}
	keep(d.Carriers)
	d.Err = fe
	u.renderSettings(w, r, c, status, d)
}
