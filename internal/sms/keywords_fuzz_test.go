package sms

import (
	"strings"
	"testing"
)

// FuzzKeyword: only a whole-message keyword counts, whatever surrounds it.
func FuzzKeyword(f *testing.F) {
	for _, s := range []string{"STOP", "stop please", "Start", " unsubscribe\n", "STOPP", "ＳＴＯＰ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := Keyword(s)
		w := strings.ToUpper(strings.TrimSpace(s))
		switch k {
		case "stop":
			if !optOutWords[w] {
				t.Fatalf("%q opted out but is not a keyword", s)
			}
		case "start":
			if !optInWords[w] {
				t.Fatalf("%q opted in but is not a keyword", s)
			}
		case "":
			if optOutWords[w] || optInWords[w] {
				t.Fatalf("keyword %q missed", s)
			}
		default:
			t.Fatalf("unknown class %q", k)
		}
	})
}
