package generic

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParse: no body may panic, and every error is ErrMalformed (a 400).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"event_id":"e1","call_id":"c1","from":"+14155550123","to":"+14155550100","status":"missed","detail":"busy","occurred_at":"2026-12-03T10:00:00Z"}`,
		`{"call_id":"c1","to":"+14155550100","status":"answered","duration_seconds":30}`,
		`{"call_id":"","to":"","status":""}`, `[]`, `null`, `{"call_id":1}`, "\x00", `{"occurred_at":"9999-99-99"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if ev.ProviderCallID == "" || ev.To == "" || ev.Provider != "generic" {
			t.Fatalf("accepted an event without call id or tracking number: %+v", ev)
		}
	})
}

// FuzzVerify: any header is either accepted only with the right MAC or refused with ErrBadSignature.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"call_id":"c1"}`)
	f.Add(Sign("secret", now, body), "", body)
	f.Add("t=1800000000,v1=00", "Bearer x", body)
	f.Add("", "Bearer token", body)
	f.Add("t=,v1=", "", []byte{})
	f.Fuzz(func(t *testing.T, sig, authz string, b []byte) {
		err := Verify(sig, authz, b, "secret", "token", now)
		if err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("error %v is not ErrBadSignature", err)
		}
		if err != nil {
			return
		}
		// Accepted: with no signature only by the right bearer token, with
		// one only if it carries the MAC of this body under our secret.
		if sig == "" {
			if authz != "Bearer token" && strings.TrimSpace(strings.TrimPrefix(authz, "Bearer ")) != "token" {
				t.Fatalf("bearer %q accepted", authz)
			}
			return
		}
		ts := ""
		for _, part := range strings.Split(sig, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				ts = v
			}
		}
		if !strings.Contains(sig, "v1="+mac("secret", ts, b)) {
			t.Fatalf("signature %q accepted without the right MAC", sig)
		}
	})
}
