package credits

import (
	"testing"
	"time"
)

func TestMonthUsesWorkspaceZone(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	// 23:30 UTC on 30 November is already 1 December in Paris.
	start, label := Month(time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC), paris)
	if label != "2026-12" || !start.Equal(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %s %s", start, label)
	}
	start, label = Month(time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC), time.UTC)
	if label != "2026-11" || !start.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %s %s", start, label)
	}
}
