package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/textback/textback/internal/apptest"
)

func TestSMPPAndKannelSettings(t *testing.T) {
	e := apptest.New(t)
	a := signIn(t, e, adminEmail, adminPassword)
	p := a.page("/calls/settings")
	mustContain(t, "the settings page", p, `id="smpp-form"`, `id="kannel-form"`, `<option value="smpp"`, `<option value="kannel"`)
	urls := e.App.Svc.KannelURLs(e.Workspace)
	if got := inputValue(t, p, "kannel-mo-url"); got != urls.MO {
		t.Errorf("#kannel-mo-url = %q, want %q", got, urls.MO)
	}
	if got := inputValue(t, p, "kannel-dlr-url"); got != urls.DLR {
		t.Errorf("#kannel-dlr-url = %q, want %q", got, urls.DLR)
	}

	// A refused form keeps what was typed, says why beside the field, and never echoes the password.
	const smppPassword, kannelPassword = "smpp-Secret-1", "kannel-Secret-2"
	r := a.post("/calls/settings/smpp", url.Values{"site": {e.SiteID}, "host": {"smsc.example.net"}, "port": {"99999"}, "system_id": {"clinic"}, "password": {smppPassword}})
	wantStatus(t, "an SMPP port out of range", r, http.StatusUnprocessableEntity)
	mustContain(t, "the refused SMPP form", r.Body, "The port is a number from 1 to 65535", `value="smsc.example.net"`, `id="smpp-port" name="port" type="number" min="1" max="65535" value="99999" aria-invalid="true"`)
	mustNotContain(t, "the refused SMPP form", r.Body, smppPassword)

	r = a.post("/calls/settings/smpp", url.Values{"site": {e.SiteID}, "host": {"127.0.0.1"}, "port": {"1"}, "system_id": {"clinic"}, "password": {smppPassword}, "max_per_second": {"20"}})
	wantStatus(t, "saving SMPP", r, http.StatusSeeOther)
	ss, err := e.App.Svc.SMPPSettings(context.Background(), e.Workspace.ID)
	if err != nil || ss.Host != "127.0.0.1" || ss.Port != 1 || ss.SystemID != "clinic" || ss.Password != smppPassword || ss.MaxPerSecond != 20 {
		t.Fatalf("stored SMPP settings %+v %v", ss, err)
	}
	p = a.page(r.Location)
	mustContain(t, "the settings page after saving SMPP", p, "SMPP account saved", "Saved: empty keeps it", `id="smpp-status"`)
	if got := inputValue(t, p, "smpp-max-per-second"); got != "20" {
		t.Errorf("#smpp-max-per-second = %q", got)
	}

	// Saving again without a password keeps it.
	wantStatus(t, "saving SMPP without the password", a.post("/calls/settings/smpp", url.Values{"host": {"127.0.0.1"}, "port": {"1"}, "system_id": {"clinic2"}}), http.StatusSeeOther)
	if ss, _ := e.App.Svc.SMPPSettings(context.Background(), e.Workspace.ID); ss.Password != smppPassword || ss.SystemID != "clinic2" {
		t.Errorf("after saving without the password: %+v", ss)
	}

	r = a.post("/calls/settings/kannel", url.Values{"sendsms_url": {"kannel:13013"}, "username": {"tester"}, "password": {kannelPassword}})
	wantStatus(t, "a Kannel URL without scheme", r, http.StatusUnprocessableEntity)
	mustContain(t, "the refused Kannel form", r.Body, "Give the address of Kannel's sendsms interface", `value="kannel:13013"`)
	mustNotContain(t, "the refused Kannel form", r.Body, kannelPassword)
	r = a.post("/calls/settings/kannel", url.Values{"sendsms_url": {"http://127.0.0.1:13013/cgi-bin/sendsms"}, "username": {"tester"}, "password": {kannelPassword}})
	wantStatus(t, "saving Kannel", r, http.StatusSeeOther)
	p = a.page(r.Location)
	mustContain(t, "the settings page after saving Kannel", p, "Kannel gateway saved.", `value="http://127.0.0.1:13013/cgi-bin/sendsms"`, "A password is saved")
	for _, path := range []string{"/calls/settings", "/calls", "/billing", "/usage"} {
		mustNotContain(t, path, a.page(path), smppPassword, kannelPassword)
	}
}
