package sms

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPlainAndCodecs: the message-template helpers and the gateway codecs
// on any text. Plain is idempotent, never adds a character that forces
// UCS-2, and reports a change exactly when it made one; GSM-7 and UCS-2
// round-trip what they encode; decoding arbitrary bytes never panics.
func FuzzPlainAndCodecs(f *testing.F) {
	for _, s := range []string{
		"Hello, we missed your call. We will call you back within the hour.",
		"We’re closed — back at 9 … «call» us", "\u200bzero\u00a0width", "Привет 😀", "a\xffb",
		"{site}: {caller}, open {hours}", "[€]^{}\\~|", strings.Repeat("é", 71),
	} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, body string, raw []byte) {
		plain, changed := Plain(body)
		if changed == (plain == body) && changed {
			t.Fatalf("Plain(%q) = %q, changed=%v", body, plain, changed)
		}
		if again, ch := Plain(plain); ch || again != plain {
			t.Fatalf("Plain is not idempotent: %q → %q → %q", body, plain, again)
		}
		if len(ForcesUnicode(plain)) > len(ForcesUnicode(body)) {
			t.Fatalf("Plain(%q) = %q forces UCS-2 more", body, plain)
		}
		if b, ok := EncodeGSM7(body); ok && DecodeGSM7(b) != body {
			t.Fatalf("GSM-7 round trip of %q gave %q", body, DecodeGSM7(b))
		}
		if utf8.ValidString(body) {
			if got := DecodeUCS2(EncodeUCS2(body)); got != strings.ToValidUTF8(body, "\uFFFD") {
				t.Fatalf("UCS-2 round trip of %q gave %q", body, got)
			}
		}
		_ = DecodeGSM7(raw)
		_ = DecodeUCS2(raw)
	})
}
