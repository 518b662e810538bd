package sms

import (
	"strings"
	"unicode/utf8"
)

// Encoding is the alphabet an SMS body travels in.
type Encoding string

const (
	EncodingGSM7 Encoding = "GSM-7"
	EncodingUCS2 Encoding = "UCS-2"
)

// Segment capacities (3GPP TS 23.038 / 23.040). A concatenated message loses
// room in every segment to the user data header.
const (
	gsmSingle  = 160 // septets in a single-segment GSM-7 message
	gsmMulti   = 153 // septets per segment of a concatenated GSM-7 message
	ucs2Single = 70  // UTF-16 code units in a single-segment UCS-2 message
	ucs2Multi  = 67  // UTF-16 code units per segment of a concatenated UCS-2 message
)

// Info describes how a body travels as SMS.
type Info struct {
	Encoding   Encoding
	Characters int // user-perceived length: runes
	Units      int // septets for GSM-7 (extension chars count 2), UTF-16 code units for UCS-2
	Segments   int // 0 for an empty body
	PerSegment int // capacity of one segment given the segment count: 160/153 (GSM-7) or 70/67 (UCS-2)
	Remaining  int // units left in the last segment
}

// gsmBasic is the GSM 03.38 default alphabet, in table order (0x00–0x7F).
// Position 0x1B is the escape to the extension table and is not a character;
// it is left out. Position 0x09 is the capital Ç, as in the standard.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the GSM 03.38 extension table: each character is sent as
// ESC + code and therefore takes two septets.
const gsmExtension = "\f^{}\\[~]|€"

// latinWidth holds, for every rune below 256, the septets it takes in GSM-7:
// 1 for the basic table, 2 for the extension table, 0 if it is not GSM-7.
var latinWidth = func() (t [256]uint8) {
	for _, r := range gsmBasic {
		if r < 256 {
			t[r] = 1
		}
	}
	for _, r := range gsmExtension {
		if r < 256 {
			t[r] = 2
		}
	}
	return t
}()

// gsmWidth returns the septets r takes in GSM-7, or 0 if r is not in the
// GSM 03.38 basic or extension table.
func gsmWidth(r rune) int {
	if r < 256 {
		return int(latinWidth[r&0xFF])
	}
	switch r {
	case 'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ':
		return 1
	case '€':
		return 2
	}
	return 0
}

// Count says how body travels as SMS: its encoding, length and the number of
// segments it is billed as. An empty body is GSM-7 with 0 segments.
//
// In a concatenated message a GSM-7 extension character (escape + code) and a
// UCS-2 surrogate pair are never split across two segments: when one would
// straddle a boundary it moves whole to the next segment, leaving the previous
// one a unit short. Count does not allocate.
func Count(body string) Info {
	chars, units := 0, 0
	ext := false // any extension character: segment packing must be simulated
	for i := 0; i < len(body); {
		if body[i] < utf8.RuneSelf {
			// Run of ASCII: branch-free sum, one check at the end of the run.
			j, u, zero, two := i, 0, 0, 0
			for ; j < len(body) && body[j] < utf8.RuneSelf; j++ {
				w := int(latinWidth[body[j]])
				u += w
				zero |= (w - 1) >> 8 // -1 (all bits) only when w == 0
				two |= w & 2
			}
			if zero != 0 {
				return countUCS2(body)
			}
			chars += j - i
			units += u
			ext = ext || two != 0
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(body[i:])
		w := gsmWidth(r)
		if w == 0 {
			return countUCS2(body)
		}
		i += size
		chars++
		units += w
		ext = ext || w == 2
	}
	info := Info{Encoding: EncodingGSM7, Characters: chars, Units: units}
	switch {
	case units == 0:
		info.PerSegment, info.Remaining = gsmSingle, gsmSingle
	case units <= gsmSingle:
		info.Segments, info.PerSegment, info.Remaining = 1, gsmSingle, gsmSingle-units
	case !ext:
		info.Segments = (units + gsmMulti - 1) / gsmMulti
		info.PerSegment, info.Remaining = gsmMulti, info.Segments*gsmMulti-units
	default:
		full, fill := 0, 0 // completed segments, septets in the current one
		for i := 0; i < len(body); {
			var w int
			if c := body[i]; c < utf8.RuneSelf {
				w = int(latinWidth[c])
				i++
			} else {
				r, size := utf8.DecodeRuneInString(body[i:])
				w = gsmWidth(r)
				i += size
			}
			if fill+w > gsmMulti { // an escape+char pair never straddles segments
				full++
				fill = 0
			}
			fill += w
		}
		info.Segments, info.PerSegment, info.Remaining = full+1, gsmMulti, gsmMulti-fill
	}
	return info
}

// countUCS2 is Count for a body that has at least one non-GSM-7 character.
func countUCS2(body string) Info {
	chars, units := 0, 0
	pairs := false // any surrogate pair: segment packing must be simulated
	for i := 0; i < len(body); {
		if body[i] < utf8.RuneSelf {
			i++
			units++
		} else {
			r, size := utf8.DecodeRuneInString(body[i:])
			i += size
			units++
			if r > 0xFFFF {
				units++
				pairs = true
			}
		}
		chars++
	}
	info := Info{Encoding: EncodingUCS2, Characters: chars, Units: units}
	switch {
	case units <= ucs2Single: // never 0: the body has a non-GSM-7 character
		info.Segments, info.PerSegment, info.Remaining = 1, ucs2Single, ucs2Single-units
	case !pairs:
		info.Segments = (units + ucs2Multi - 1) / ucs2Multi
		info.PerSegment, info.Remaining = ucs2Multi, info.Segments*ucs2Multi-units
	default:
		full, fill := 0, 0 // completed segments, units in the current one
		for _, r := range body {
			w := 1
			if r > 0xFFFF {
				w = 2
			}
			if fill+w > ucs2Multi { // a surrogate pair never straddles segments
				full++
				fill = 0
			}
			fill += w
		}
		info.Segments, info.PerSegment, info.Remaining = full+1, ucs2Multi, ucs2Multi-fill
	}
	return info
}

// ForcesUnicode lists the distinct characters (in order of first appearance)
// that are not in the GSM 03.38 basic or extension table, that is the
// characters that make body travel as UCS-2. It returns nil if there are none.
// Invalid UTF-8 is reported as utf8.RuneError (U+FFFD).
func ForcesUnicode(body string) []rune {
	var out []rune
	var seen map[rune]struct{} // only built when out grows long
	for _, r := range body {
		if gsmWidth(r) != 0 {
			continue
		}
		if seen != nil {
			if _, ok := seen[r]; ok {
				continue
			}
			seen[r] = struct{}{}
			out = append(out, r)
			continue
		}
		dup := false
		for _, o := range out {
			if o == r {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		out = append(out, r)
		if len(out) == 16 {
			seen = make(map[rune]struct{}, 32)
			for _, o := range out {
				seen[o] = struct{}{}
			}
		}
	}
	return out
}

// plainReplacement returns what Plain puts in place of r, and whether r is
// replaced at all (an empty replacement removes r).
func plainReplacement(r rune) (string, bool) {
	switch r {
	case '\u2018', '\u2019', '\u201A', '\u201B', '\u2032': // ‘ ’ ‚ ‛ ′
		return "'", true
	case '\u201C', '\u201D', '\u201E', '\u201F', '\u2033', '\u00AB', '\u00BB': // “ ” „ ‟ ″ « »
		return `"`, true
	case '\u2013', '\u2014', '\u2212', '\u2012', '\u2022': // – — − ‒ •
		return "-", true
	case '\u2026': // …
		return "...", true
	case '\u00A0', '\u202F', '\u205F', '\u3000':
		return " ", true
	case '\u200B', '\u200C', '\u200D', '\uFEFF': // zero-width
		return "", true
	}
	if r >= '\u2000' && r <= '\u200A' { // en quad … hair space
		return " ", true
	}
	return "", false
}

// Plain replaces common typographic characters that force UCS-2 with GSM-7
// equivalents: curly quotes and primes become ' and ", dashes and the minus
// sign become -, the ellipsis becomes ..., Unicode spaces become a plain space,
// the bullet becomes -, « and » become ", and zero-width characters are
// removed. Characters already in GSM-7, and any other character, are left
// alone, so the result may still need UCS-2 (see ForcesUnicode). Plain reports
// whether anything changed; when nothing did it returns body itself without
// allocating.
func Plain(body string) (string, bool) {
	start := -1
	for i, r := range body {
		if r < 0xA0 {
			continue // fast path: nothing below U+00A0 is replaced
		}
		if _, ok := plainReplacement(r); ok {
			start = i
			break
		}
	}
	if start < 0 {
		return body, false
	}
	var b strings.Builder
	b.Grow(len(body))
	b.WriteString(body[:start])
	for i := start; i < len(body); {
		r, size := utf8.DecodeRuneInString(body[i:])
		if rep, ok := plainReplacement(r); ok {
			b.WriteString(rep)
		} else {
			b.WriteString(body[i : i+size]) // original bytes, even if invalid UTF-8
		}
		i += size
	}
	return b.String(), true
}
