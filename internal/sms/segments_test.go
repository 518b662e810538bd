package sms

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const seedMessage = "Hello, we missed your call. We will call you back within the hour."

func TestCount(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	zh := func(n int) string { return strings.Repeat("ж", n) }
	tests := []struct {
		name string
		body string
		want Info
	}{
		{"empty", "", Info{EncodingGSM7, 0, 0, 0, 160, 160}},
		{"seed", seedMessage, Info{EncodingGSM7, 66, 66, 1, 160, 94}},
		{"1 a", "a", Info{EncodingGSM7, 1, 1, 1, 160, 159}},
		{"160 a", a(160), Info{EncodingGSM7, 160, 160, 1, 160, 0}},
		{"161 a", a(161), Info{EncodingGSM7, 161, 161, 2, 153, 145}},
		{"306 a", a(306), Info{EncodingGSM7, 306, 306, 2, 153, 0}},
		{"307 a", a(307), Info{EncodingGSM7, 307, 307, 3, 153, 152}},
		{"459 a", a(459), Info{EncodingGSM7, 459, 459, 3, 153, 0}},
		{"460 a", a(460), Info{EncodingGSM7, 460, 460, 4, 153, 152}},
		{"158 a + euro", a(158) + "€", Info{EncodingGSM7, 159, 160, 1, 160, 0}},
		{"159 a + euro", a(159) + "€", Info{EncodingGSM7, 160, 161, 2, 153, 145}},
		{"80 euro", strings.Repeat("€", 80), Info{EncodingGSM7, 80, 160, 1, 160, 0}},
		{"81 euro", strings.Repeat("€", 81), Info{EncodingGSM7, 81, 162, 2, 153, 143}},
		// The escape+char pair would occupy septets 153 and 154: it moves to
		// segment 2, segment 1 carries only 152 septets.
		{"152 a + euro + 10 a", a(152) + "€" + a(10), Info{EncodingGSM7, 163, 164, 2, 153, 141}},
		// 306 septets would fit 2×153, but not splitting the pair needs 3.
		{"152 a + euro + 152 a", a(152) + "€" + a(152), Info{EncodingGSM7, 305, 306, 3, 153, 152}},
		// 151 a + pair fills segment 1 exactly: no shift.
		{"151 a + euro + 153 a", a(151) + "€" + a(153), Info{EncodingGSM7, 305, 306, 2, 153, 0}},
		{"153 a + bracket", a(153) + "[", Info{EncodingGSM7, 154, 155, 1, 160, 5}},
		{"extension table", "\f^{}\\[~]|€", Info{EncodingGSM7, 10, 20, 1, 160, 140}},
		{"GSM accents are GSM-7", strings.Repeat("é", 70), Info{EncodingGSM7, 70, 70, 1, 160, 90}},
		{"greek", "ΔΦΓΛΩΠΨΣΘΞ", Info{EncodingGSM7, 10, 10, 1, 160, 150}},
		{"70 zhe", zh(70), Info{EncodingUCS2, 70, 70, 1, 70, 0}},
		{"71 zhe", zh(71), Info{EncodingUCS2, 71, 71, 2, 67, 63}},
		{"134 zhe", zh(134), Info{EncodingUCS2, 134, 134, 2, 67, 0}},
		{"135 zhe", zh(135), Info{EncodingUCS2, 135, 135, 3, 67, 66}},
		{"emoji", "😀", Info{EncodingUCS2, 1, 2, 1, 70, 68}},
		{"35 emoji", strings.Repeat("😀", 35), Info{EncodingUCS2, 35, 70, 1, 70, 0}},
		{"36 emoji", strings.Repeat("😀", 36), Info{EncodingUCS2, 36, 72, 2, 67, 61}},
		// The surrogate pair would occupy units 67 and 68: it moves to
		// segment 2; 134 units need 3 segments instead of 2.
		{"66 zhe + emoji + 66 zhe", zh(66) + "😀" + zh(66), Info{EncodingUCS2, 133, 134, 3, 67, 66}},
		{"65 zhe + emoji + 67 zhe", zh(65) + "😀" + zh(67), Info{EncodingUCS2, 133, 134, 2, 67, 0}},
		// One non-GSM char turns the whole body UCS-2; euro is 1 unit there.
		{"euro in UCS-2", "€ж", Info{EncodingUCS2, 2, 2, 1, 70, 68}},
		{"GSM prefix then unicode", a(100) + "ж", Info{EncodingUCS2, 101, 101, 2, 67, 33}},
		{"curly quotes", "“Hello”", Info{EncodingUCS2, 7, 7, 1, 70, 63}},
		{"lowercase c cedilla is not GSM-7", "ç", Info{EncodingUCS2, 1, 1, 1, 70, 69}},
		{"tab is not GSM-7", "a\tb", Info{EncodingUCS2, 3, 3, 1, 70, 67}},
		{"backtick is not GSM-7", "`", Info{EncodingUCS2, 1, 1, 1, 70, 69}},
		{"invalid UTF-8", "a\xffb", Info{EncodingUCS2, 3, 3, 1, 70, 67}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Count(tt.body)
			if got != tt.want {
				t.Errorf("Count = %+v, want %+v", got, tt.want)
			}
			if got.Characters != utf8.RuneCountInString(tt.body) {
				t.Errorf("Characters = %d, want rune count %d", got.Characters, utf8.RuneCountInString(tt.body))
			}
			if got := refCount(tt.body); got != tt.want {
				t.Errorf("reference Count = %+v, want %+v (test table or reference wrong)", got, tt.want)
			}
		})
	}
}

// gsmTable is the GSM 03.38 default alphabet by code point, 0x1B (escape) as 0.
var gsmTable = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

var gsmExtTable = []rune{'\f', '^', '{', '}', '\\', '[', '~', ']', '|', '€'}

// TestGSMAlphabet checks the lookup against the standard table for every rune
// in the Basic Multilingual Plane and a sample beyond it.
func TestGSMAlphabet(t *testing.T) {
	want := map[rune]int{}
	for _, r := range gsmTable {
		if r != 0 {
			want[r] = 1
		}
	}
	for _, r := range gsmExtTable {
		want[r] = 2
	}
	if len(want) != 127+10 {
		t.Fatalf("reference table has %d characters, want 137", len(want))
	}
	for r := rune(0); r <= 0x10FFFF; r++ {
		if r > 0xFFFF && r&0xFFF != 0 {
			continue
		}
		if got := gsmWidth(r); got != want[r] {
			t.Errorf("gsmWidth(%U %q) = %d, want %d", r, r, got, want[r])
		}
	}
}

func TestForcesUnicode(t *testing.T) {
	tests := []struct {
		body string
		want []rune
	}{
		{"", nil},
		{seedMessage, nil},
		{string(gsmTable[:27]) + string(gsmTable[28:]) + string(gsmExtTable), nil},
		{"“Hello”", []rune{'“', '”'}},
		{"“a” “b” ‘c’", []rune{'“', '”', '‘', '’'}},
		{"Привет 😀 мир 😀", []rune{'П', 'р', 'и', 'в', 'е', 'т', '😀', 'м'}},
		{"ç\tç`", []rune{'ç', '\t', '`'}},
	}
	for _, tt := range tests {
		if got := ForcesUnicode(tt.body); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ForcesUnicode(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}

	// Many distinct characters (past the switch to a map), each repeated.
	var b strings.Builder
	var want []rune
	for r := rune('а'); r <= 'я'; r++ {
		want = append(want, r)
	}
	for range 3 {
		for _, r := range want {
			b.WriteRune(r)
			b.WriteString("x")
		}
	}
	if got := ForcesUnicode(b.String()); !reflect.DeepEqual(got, want) {
		t.Errorf("ForcesUnicode(cyrillic alphabet ×3) = %q, want %q", got, want)
	}
}

func TestPlain(t *testing.T) {
	allGSM := string(gsmTable[:27]) + string(gsmTable[28:]) + string(gsmExtTable)
	tests := []struct {
		body    string
		want    string
		changed bool
	}{
		{"", "", false},
		{seedMessage, seedMessage, false},
		{allGSM, allGSM, false},
		{"Привет 😀", "Привет 😀", false}, // nothing it knows how to replace
		{"“Hello”", `"Hello"`, true},
		{"‘a’ ‚b‛ „c‟ 5′ 6″", `'a' 'b' "c" 5' 6"`, true},
		{"a–b—c−d‒e", "a-b-c-d-e", true},
		{"Wait…", "Wait...", true},
		{"a\u00A0b\u2000c\u2005d\u200Ae\u202Ff\u205Fg\u3000h", "a b c d e f g h", true},
		{"• one\n• two", "- one\n- two", true},
		{"«bonjour»", `"bonjour"`, true},
		{"\uFEFFze\u200Bro\u200Cwi\u200Ddth", "zerowidth", true},
		{"It’s “café” — 10€ ж", `It's "café" - 10€ ж`, true},
		{"bad\xff “utf8”", "bad\xff \"utf8\"", true},
	}
	for _, tt := range tests {
		got, changed := Plain(tt.body)
		if got != tt.want || changed != tt.changed {
			t.Errorf("Plain(%q) = %q, %v; want %q, %v", tt.body, got, changed, tt.want, tt.changed)
		}
	}

	// The curly-quote example ends up as GSM-7.
	got, _ := Plain("“Hello”")
	if info := Count(got); info.Encoding != EncodingGSM7 || info.Segments != 1 || info.Units != 7 {
		t.Errorf("Count(Plain(“Hello”)) = %+v, want GSM-7, 7 units, 1 segment", info)
	}
	if fu := ForcesUnicode(got); fu != nil {
		t.Errorf("ForcesUnicode(Plain(“Hello”)) = %q, want none", fu)
	}

	// Every replaced character yields GSM-7 text.
	for _, r := range []rune("‘’‚‛“”„‟′″–—−‒…\u00A0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u202F\u205F\u3000•«»\u200B\u200C\u200D\uFEFF") {
		got, changed := Plain(string(r))
		if !changed || ForcesUnicode(got) != nil {
			t.Errorf("Plain(%U) = %q, %v; want GSM-7 text, true", r, got, changed)
		}
	}

	// Plain never touches a GSM-7 character.
	for _, r := range []rune(allGSM) {
		if _, ok := plainReplacement(r); ok {
			t.Errorf("plainReplacement replaces GSM-7 character %U %q", r, r)
		}
	}
}

func TestCountDoesNotAllocate(t *testing.T) {
	bodies := []string{
		"", seedMessage, strings.Repeat("a{", 300), "Привет 😀", strings.Repeat("€ж😀", 100), "a\xffb",
	}
	var sink Info
	for _, body := range bodies {
		if n := testing.AllocsPerRun(100, func() { sink = Count(body) }); n != 0 {
			t.Errorf("Count(%.20q…) allocates %v times per run, want 0", body, n)
		}
	}
	_ = sink
	if n := testing.AllocsPerRun(100, func() { _, _ = Plain(seedMessage) }); n != 0 {
		t.Errorf("Plain on GSM-7 text allocates %v times per run, want 0", n)
	}
}

// refCount is a straightforward reference implementation of Count.
func refCount(body string) Info {
	runes := []rune(body)
	enc, single, multi := EncodingGSM7, 160, 153
	for _, r := range runes {
		if gsmWidth(r) == 0 {
			enc, single, multi = EncodingUCS2, 70, 67
			break
		}
	}
	widths := make([]int, len(runes))
	units := 0
	for i, r := range runes {
		switch {
		case enc == EncodingGSM7:
			widths[i] = gsmWidth(r)
		case r > 0xFFFF:
			widths[i] = 2
		default:
			widths[i] = 1
		}
		units += widths[i]
	}
	info := Info{Encoding: enc, Characters: len(runes), Units: units, PerSegment: single}
	switch {
	case units == 0:
		info.Remaining = single
	case units <= single:
		info.Segments, info.Remaining = 1, single-units
	default:
		var segs []int
		cur := 0
		for _, w := range widths {
			if cur+w > multi {
				segs = append(segs, cur)
				cur = 0
			}
			cur += w
		}
		segs = append(segs, cur)
		info.Segments, info.PerSegment, info.Remaining = len(segs), multi, multi-cur
	}
	return info
}

func FuzzCount(f *testing.F) {
	for _, s := range []string{
		"", seedMessage, strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152),
		strings.Repeat("ж", 66) + "😀" + strings.Repeat("ж", 66), "“Hello”", "a\xffb", "{[]}~^|\\\f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, want := Count(body), refCount(body)
		if got != want {
			t.Fatalf("Count(%q) = %+v, reference %+v", body, got, want)
		}
		if got.Segments > 0 && (got.Remaining < 0 || got.Remaining >= got.PerSegment) {
			t.Fatalf("Count(%q) = %+v: Remaining out of range", body, got)
		}
		fu := ForcesUnicode(body)
		if (got.Encoding == EncodingUCS2) != (len(fu) > 0) {
			t.Fatalf("Count(%q).Encoding = %s but ForcesUnicode = %q", body, got.Encoding, fu)
		}
		plain, changed := Plain(body)
		if !changed && plain != body {
			t.Fatalf("Plain(%q) = %q but reports no change", body, plain)
		}
		if changed && plain == body {
			t.Fatalf("Plain(%q) reports a change but returned the input", body)
		}
		if got.Encoding == EncodingGSM7 && changed {
			t.Fatalf("Plain(%q) changed GSM-7 text to %q", body, plain)
		}
	})
}
