package autoresponder

import (
	"context"
	"testing"

	"github.com/textback/textback/internal/store"
)

type benchLookup struct{}

func (benchLookup) IsOptedOut(context.Context, string, string) (bool, error) { return false, nil }
func (benchLookup) Balance(context.Context, string) (int, error)             { return 100, nil }

// BenchmarkDecide runs every check of a missed call that gets its SMS
// (the database's answers stubbed: their cost is in the store's benchmarks).
func BenchmarkDecide(b *testing.B) {
	in := &Input{WorkspaceID: "ws_1", Caller: "+14155550123", Lookup: benchLookup{},
		Tracking:      &store.TrackingNumber{ID: "tn_1", SiteID: "site_1", Number: "+14155550100", SMSProvider: "twilio"},
		Autoresponder: &store.Autoresponder{SiteID: "site_1", Enabled: true, Message: "Hello, we missed your call. We will call you back within the hour.", Available: true}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if reason, err := Decide(ctx, in); err != nil || reason != "" {
			b.Fatal(reason, err)
		}
	}
}
