package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
)

// On PostgreSQL the send job is inserted through database/sql in the call's
// transaction while the workers run on pgx; River's NOTIFY from that
// transaction must wake them. With polling all but off, every SMS must
// still leave within a second of its missed call.
func TestPostgresWorkersWakeOnNotifyNotPolling(t *testing.T) {
	if apptest.Database() != "postgres" {
		t.Skip("LISTEN/NOTIFY is PostgreSQL's: run with TEXTBACK_TEST_DB=postgres")
	}
	e := apptest.New(t, apptest.Options{PollInterval: time.Hour})
	e.AddTrackingNumber(trackingNumber, businessLine)
	e.Configure(seedMessage, true, 100)
	time.Sleep(300 * time.Millisecond) // past the workers' first fetch at start

	var slowest time.Duration
	for i := range 5 {
		start := time.Now()
		r := e.GenericPost(generic.Event{CallID: fmt.Sprintf("notify-%d", i), From: fmt.Sprintf("+1415555013%d", i), To: trackingNumber,
			Status: "missed", OccurredAt: start.UTC().Format(time.RFC3339)})
		if r.Status != http.StatusAccepted {
			t.Fatalf("call %d: %d %s", i, r.Status, r.Body)
		}
		deadline := start.Add(time.Second)
		for len(e.Twilio.Messages()) < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("SMS %d not handed to the provider within 1s of its missed call: the workers were not woken", i+1)
			}
			time.Sleep(2 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(50 * time.Millisecond) // past River's insert-notify cooldown, so each insert notifies
	}
	t.Logf("slowest missed call → SMS at the provider: %v", slowest)
}
