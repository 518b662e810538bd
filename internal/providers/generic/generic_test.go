package generic

import (
	"errors"
	"testing"
	"time"

	"github.com/textback/textback/internal/calls"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"call_id":"c1","to":"+14155550100","from":"+14155550123","status":"missed"}`)
	sig := Sign("s3cret", now, body)
	cases := []struct {
		name          string
		sig, auth     string
		body          []byte
		at            time.Time
		wantOK        bool
		secret, token string
	}{
		{"valid", sig, "", body, now, true, "s3cret", "tok"},
		{"4 minutes late", sig, "", body, now.Add(4 * time.Minute), true, "s3cret", "tok"},
		{"6 minutes late", sig, "", body, now.Add(6 * time.Minute), false, "s3cret", "tok"},
		{"wrong secret", sig, "", body, now, false, "other", "tok"},
		{"tampered body", sig, "", []byte(`{"call_id":"c2"}`), now, false, "s3cret", "tok"},
		{"garbage header", "v1=abc", "", body, now, false, "s3cret", "tok"},
		{"no header", "", "", body, now, false, "s3cret", "tok"},
		{"bearer token", "", "Bearer tok", body, now, true, "s3cret", "tok"},
		{"wrong bearer", "", "Bearer nope", body, now, false, "s3cret", "tok"},
		{"empty token configured", "", "Bearer ", body, now, false, "s3cret", ""},
	}
	for _, c := range cases {
		err := Verify(c.sig, c.auth, c.body, c.secret, c.token, c.at)
		if (err == nil) != c.wantOK {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.wantOK)
		}
		if err != nil && !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: error %v is not ErrBadSignature", c.name, err)
		}
	}
}

func TestParse(t *testing.T) {
	ev, err := Parse([]byte(`{"event_id":"e1","call_id":"c1","from":"+14155550123","to":"+14155550100","status":"missed","detail":"busy","occurred_at":"2026-12-03T10:00:00+01:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Outcome != calls.Missed || ev.Detail != "busy" || ev.ProviderCallID != "c1" || !ev.OccurredAt.Equal(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("parsed %+v", ev)
	}
	bad := []string{
		`not json`,
		`{"to":"+14155550100","status":"missed"}`,
		`{"call_id":"c1","status":"missed"}`,
		`{"call_id":"c1","to":"+14155550100","status":"exploded"}`,
		`{"call_id":"c1","to":"+14155550100","status":"answered","detail":"busy"}`,
		`{"call_id":"c1","to":"+14155550100","status":"missed","occurred_at":"yesterday"}`,
		`{"call_id":"c1","to":"+14155550100","status":"missed","surprise":1}`,
	}
	for _, b := range bad {
		if _, err := Parse([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%s) = %v, want ErrMalformed", b, err)
		}
	}
}
