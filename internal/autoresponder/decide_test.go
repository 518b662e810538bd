package autoresponder

import (
	"context"
	"testing"

	"github.com/textback/textback/internal/store"
)

type lookup struct {
	optedOut bool
	balance  int
	asked    []string
}

func (l *lookup) IsOptedOut(context.Context, string, string) (bool, error) {
	l.asked = append(l.asked, "opt-out")
	return l.optedOut, nil
}

func (l *lookup) Balance(context.Context, string) (int, error) {
	l.asked = append(l.asked, "balance")
	return l.balance, nil
}

func TestDecideOrder(t *testing.T) {
	tn := &store.TrackingNumber{Number: "+14155550100"}
	on := &store.Autoresponder{Enabled: true, Message: "Hello"}
	cases := []struct {
		name   string
		in     Input
		l      lookup
		reason string
	}{
		{"all good", Input{Tracking: tn, Autoresponder: on, Caller: "+14155550123"}, lookup{balance: 4}, ""},
		{"unknown number", Input{Caller: "+14155550123"}, lookup{balance: 4}, ReasonUnknownNumber},
		{"off beats everything after it", Input{Tracking: tn, Autoresponder: &store.Autoresponder{Message: "Hello"}, CallerWithheld: true}, lookup{}, ReasonOff},
		{"blank message", Input{Tracking: tn, Autoresponder: &store.Autoresponder{Enabled: true, Message: "  \n"}, Caller: "+14155550123"}, lookup{balance: 4}, ReasonNoMessage},
		{"withheld before invalid", Input{Tracking: tn, Autoresponder: on, CallerWithheld: true}, lookup{balance: 4}, ReasonCallerWithheld},
		{"invalid", Input{Tracking: tn, Autoresponder: on}, lookup{balance: 4}, ReasonInvalidCaller},
		{"opted out before credits", Input{Tracking: tn, Autoresponder: on, Caller: "+14155550123"}, lookup{optedOut: true}, ReasonOptedOut},
		{"3 credits", Input{Tracking: tn, Autoresponder: on, Caller: "+14155550123"}, lookup{balance: 3}, ReasonInsufficientCredits},
	}
	for _, c := range cases {
		l := c.l
		c.in.Lookup = &l
		got, err := Decide(context.Background(), &c.in)
		if err != nil || got != c.reason {
			t.Errorf("%s: Decide = %q, %v; want %q", c.name, got, err, c.reason)
		}
	}
}

func TestDecideStopsAtFirstSkip(t *testing.T) {
	l := &lookup{balance: 100}
	in := &Input{Tracking: &store.TrackingNumber{}, Autoresponder: &store.Autoresponder{}, Lookup: l}
	if r, _ := Decide(context.Background(), in); r != ReasonOff || len(l.asked) != 0 {
		t.Fatalf("reason %q, database asked %v: a skipped call must not query further", r, l.asked)
	}
}

func TestValidateMessage(t *testing.T) {
	long := make([]rune, MaxMessageLength+1)
	for i := range long {
		long[i] = 'é'
	}
	for m, bad := range map[string]bool{"": true, "   ": true, string(long): true, string(long[1:]): false, "Hello": false} {
		if got := ValidateMessage(m) != ""; got != bad {
			t.Errorf("ValidateMessage(%d runes) bad=%v, want %v", len([]rune(m)), got, bad)
		}
	}
}
