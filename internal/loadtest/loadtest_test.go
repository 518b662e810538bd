package loadtest_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/loadtest"
	"github.com/textback/textback/internal/providers/twilio/twiliotest"
	"github.com/textback/textback/internal/store/pgtest"
)

// A short run of the load generator against an in-process textback: the
// counts must be exact (one SMS per distinct missed call with a valid
// caller, none twice, none for answered, withheld or repeated calls).
// Speed is not asserted: this machine is shared.
func TestShortRunCountsAreExact(t *testing.T) {
	e := apptest.New(t)
	arrivals := loadtest.NewArrivals()
	e.Twilio.OnMessage(func(m twiliotest.Message) { arrivals.Record(m.To, m.ReceivedAt) })
	ctx := context.Background()
	target, err := loadtest.Setup(ctx, []string{e.Server.URL}, e.AdminKey, apptest.TwilioSID, apptest.TwilioToken, 400_000)
	if err != nil {
		t.Fatal(err)
	}
	r := &loadtest.Runner{T: target, Arrivals: arrivals, Seed: 6,
		Mix: loadtest.Mix{Answered: 0.1, Duplicates: 0.3, Withheld: 0.05, Twilio: 0.5}}
	for _, l := range []loadtest.Load{
		{Concurrency: 4, Duration: time.Second, Drain: 30 * time.Second},
		{Rate: 50, Duration: time.Second, Drain: 30 * time.Second},
	} {
		res, err := r.Run(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v: %d webhooks, %d missed calls, %d SMS, errors %v", l, res.Accepted, res.MissedCalls, res.SMS, res.Errors)
		if !res.Correct || res.MissedCalls == 0 || res.SMS != res.MissedCalls || res.Duplicates != 0 || res.Unexpected != 0 || len(res.Errors) != 0 {
			t.Fatalf("counts wrong: %+v", res)
		}
		if res.Latency.N != res.SMS {
			t.Errorf("%d latencies for %d SMS", res.Latency.N, res.SMS)
		}
	}
	if got, want := len(e.Twilio.Messages()), arrivals.Total(); got != want {
		t.Errorf("fake has %d messages, arrivals %d", got, want)
	}
}

// The limit writes the hot path's rows on the same database and leaves nothing behind.
func TestLimitMeasures(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "limit.db")
	if apptest.Database() == "postgres" {
		url = pgtest.NewDatabase(t)
	}
	res, err := loadtest.MeasureLimit(context.Background(), url, 300*time.Millisecond, 4)
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions == 0 || res.CommitsPerSec <= 0 || res.RowsPerTx != 6 {
		t.Fatalf("limit %+v", res)
	}
}
