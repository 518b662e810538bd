package calls

import (
	"testing"
	"time"
)

func TestMapTable(t *testing.T) {
	cases := []struct {
		provider, field, value string
		outcome, detail        string
		ok                     bool
	}{
		{"twilio", "DialCallStatus", "no-answer", Missed, "no-answer", true},
		{"twilio", "DialCallStatus", "busy", Missed, "busy", true},
		{"twilio", "DialCallStatus", "completed", Answered, "completed", true},
		{"twilio", "CallStatus", "canceled", Missed, "canceled", true},
		{"twilio", "CallStatus", "completed", "", "", true},
		{"twilio", "CallStatus", "Ringing", InProgress, "", true},
		{"generic", "status", "missed", Missed, "no-answer", true},
		{"generic", "status", "answered", Answered, "", true},
		{"generic", "status", "exploded", "", "", false},
	}
	for _, c := range cases {
		outcome, detail, _, ok := Map(c.provider, c.field, c.value)
		if outcome != c.outcome || detail != c.detail || ok != c.ok {
			t.Errorf("Map(%s,%s,%s) = %q,%q,%v; want %q,%q,%v", c.provider, c.field, c.value, outcome, detail, ok, c.outcome, c.detail, c.ok)
		}
	}
}

func TestMergeFirstDefinitiveOutcomeWins(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := State{StartedAt: t0}
	if Merge(&s, Event{Outcome: InProgress, OccurredAt: t0}) {
		t.Fatal("ringing made the call missed")
	}
	if !Merge(&s, Event{Outcome: Missed, Detail: "no-answer", OccurredAt: t0.Add(20 * time.Second)}) {
		t.Fatal("no-answer did not make the call missed")
	}
	if Merge(&s, Event{Outcome: Missed, Detail: "no-answer"}) {
		t.Fatal("a repeated missed report counted as a new missed call")
	}
	Merge(&s, Event{Outcome: Answered})
	if s.Outcome != Missed || s.Detail != "no-answer" {
		t.Fatalf("a late answered report flipped the outcome to %s/%s", s.Outcome, s.Detail)
	}
	d := 31
	Merge(&s, Event{Ended: true, Duration: &d, OccurredAt: t0.Add(31 * time.Second)})
	if s.EndedAt == nil || !s.EndedAt.Equal(t0.Add(31*time.Second)) || *s.Duration != 31 {
		t.Fatalf("end not recorded: %+v", s)
	}
}

func TestMergeOutOfOrderEndBeforeDial(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := State{StartedAt: t0}
	// Twilio's CallStatus=completed arrives before the Dial action.
	Merge(&s, Event{Ended: true, OccurredAt: t0.Add(25 * time.Second)})
	if s.Outcome != InProgress {
		t.Fatalf("completed alone decided the outcome: %s", s.Outcome)
	}
	if !Merge(&s, Event{Outcome: Missed, Detail: "busy"}) || s.Outcome != Missed {
		t.Fatal("the dial status after the end did not make the call missed")
	}
}
