package phone

import "testing"

func TestNormalize(t *testing.T) {
	cases := []struct{ in, ref, want string }{
		{"+14155550123", "", "+14155550123"},
		{"(415) 555-0123", "+14155550100", "+14155550123"},
		{"06 12 34 56 78", "+33142685300", "+33612345678"},
		{"+33 6 12 34 56 78", "", "+33612345678"},
		{"+1555", "", ""},
		{"hello", "", ""},
		{"", "", ""},
		{"+999123456789", "", ""},
	}
	for _, c := range cases {
		got, err := Normalize(c.in, c.ref)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q", c.in, c.ref, got, err, c.want)
		}
	}
}

func TestWithheldMarkers(t *testing.T) {
	for _, s := range []string{"", " Anonymous ", "RESTRICTED", "private"} {
		if !IsWithheldMarker(s) {
			t.Errorf("%q not seen as withheld", s)
		}
	}
	if IsWithheldMarker("+14155550123") {
		t.Error("a real number seen as withheld")
	}
}
