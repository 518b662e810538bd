package phone

import "testing"

// FuzzNormalize: no input panics; whatever is accepted is E.164 and stable.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+14155550123", "(415) 555-0123", "06 12 34 56 78", "+1555", "anonymous", "", "+", "00", "+999999999999999999999"} {
		f.Add(s, "+14155550100")
	}
	f.Fuzz(func(t *testing.T, s, ref string) {
		n, err := Normalize(s, ref)
		if err != nil {
			return
		}
		if len(n) < 3 || n[0] != '+' {
			t.Fatalf("Normalize(%q) = %q: not E.164", s, n)
		}
		again, err := Normalize(n, "")
		if err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but normalizing that gives %q, %v", s, n, again, err)
		}
	})
}
