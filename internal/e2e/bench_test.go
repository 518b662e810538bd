package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
	"github.com/textback/textback/internal/providers/twilio"
)

// benchEnv is a configured workspace with the send workers off, so a
// benchmark measures webhook → parse → verify → call → decision → debit +
// message + job, committed: the path a carrier waits on.
func benchEnv(b *testing.B) *apptest.Env {
	e := apptest.New(b, apptest.Options{NoWorkers: true})
	e.AddTrackingNumber(trackingNumber, businessLine)
	e.Configure(seedMessage, true, 0)
	for left := 4 * (b.N + 1); left > 0; left -= 1_000_000 {
		e.Configure("", true, min(left, 1_000_000))
	}
	return e
}

func BenchmarkGenericWebhookToEnqueue(b *testing.B) {
	e := benchEnv(b)
	path := "/webhooks/generic/" + e.Workspace.ID + "/call-events"
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body, _ := json.Marshal(generic.Event{CallID: fmt.Sprintf("bench-%d", i), From: caller, To: trackingNumber, Status: "missed"})
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set(generic.SignatureHeader, generic.Sign(e.Workspace.WebhookSecret, now, body))
		w := httptest.NewRecorder()
		e.App.Handler.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

func BenchmarkTwilioDialWebhookToEnqueue(b *testing.B) {
	e := benchEnv(b)
	path := e.TwilioPath("dial-status")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		form := callForm(fmt.Sprintf("CA%032d", i), caller, "DialCallStatus", "no-answer")
		req := httptest.NewRequest("POST", path, bytes.NewReader([]byte(form.Encode())))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Sign(apptest.TwilioToken, apptest.PublicURL+path, form))
		w := httptest.NewRecorder()
		e.App.Handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
