package sms

import (
	"bytes"
	"strings"
	"testing"
)

func TestPartsMatchCount(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	cases := []string{
		"", "Hi", a(160), a(161), a(306), a(307),
		a(152) + "€" + a(10), // the escape pair moves whole to part 2
		a(159) + "€",         // 161 septets: two parts
		"€" + a(158),         // 160 septets: one part
		strings.Repeat("é", 70), strings.Repeat("✓", 70), strings.Repeat("✓", 71),
		strings.Repeat("✓", 66) + "😀" + "✓", // the surrogate pair moves whole to part 2
		strings.Repeat("{}", 200),
		strings.Repeat("Hello “friend” 😀 ", 40),
	}
	for _, body := range cases {
		info := Count(body)
		enc, parts := Parts(body)
		if enc != info.Encoding || len(parts) != info.Segments {
			t.Errorf("Parts(%q) = %s × %d, Count says %s × %d", body, enc, len(parts), info.Encoding, info.Segments)
			continue
		}
		if strings.Join(parts, "") != body {
			t.Errorf("Parts(%q) lost text: %q", body, parts)
		}
		if len(parts) < 2 {
			continue
		}
		for i, p := range parts {
			u := Count(p).Units
			if max := map[Encoding]int{EncodingGSM7: 153, EncodingUCS2: 67}[enc]; u > max {
				t.Errorf("Parts(%q) part %d has %d units, more than %d", body, i, u, max)
			}
		}
	}
}

func FuzzPartsMatchCount(f *testing.F) {
	f.Add(strings.Repeat("a€", 100))
	f.Add(strings.Repeat("😀a", 50))
	f.Fuzz(func(t *testing.T, body string) {
		info := Count(body)
		_, parts := Parts(body)
		if len(parts) != info.Segments || strings.Join(parts, "") != body {
			t.Fatalf("Parts(%q): %d parts, Count says %d", body, len(parts), info.Segments)
		}
	})
}

func TestEncodeGSM7(t *testing.T) {
	got, ok := EncodeGSM7("@£$ Ça Δ€[a]^")
	want := []byte{0x00, 0x01, 0x02, 0x20, 0x09, 0x61, 0x20, 0x10, 0x1B, 0x65, 0x1B, 0x3C, 0x61, 0x1B, 0x3E, 0x1B, 0x14}
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("EncodeGSM7 = % x %v, want % x", got, ok, want)
	}
	if DecodeGSM7(got) != "@£$ Ça Δ€[a]^" {
		t.Errorf("DecodeGSM7 = %q", DecodeGSM7(got))
	}
	if _, ok := EncodeGSM7("✓"); ok {
		t.Error("EncodeGSM7 accepted a non-GSM character")
	}
	for _, r := range gsmBasic + gsmExtension {
		b, ok := EncodeGSM7(string(r))
		if !ok || DecodeGSM7(b) != string(r) || len(b) != Count(string(r)).Units {
			t.Errorf("%q: % x %v", r, b, ok)
		}
	}
}

func TestEncodeUCS2(t *testing.T) {
	s := "Привет 😀"
	b := EncodeUCS2(s)
	if len(b) != 2*Count(s).Units || DecodeUCS2(b) != s {
		t.Errorf("EncodeUCS2(%q) = % x, decodes to %q", s, b, DecodeUCS2(b))
	}
}
