package sms

import "unicode/utf16"

// Parts splits body into the segments Count bills it as: one part when it
// fits a single SMS, otherwise parts of at most 153 septets (GSM-7) or 67
// UTF-16 units (UCS-2), never splitting a GSM-7 escape pair or a UTF-16
// surrogate pair. len(Parts(body)) == Count(body).Segments for every body,
// so what a gateway is handed is what the workspace paid for.
// An empty body has no parts.
func Parts(body string) (Encoding, []string) {
	info := Count(body)
	if info.Segments <= 1 {
		if body == "" {
			return info.Encoding, nil
		}
		return info.Encoding, []string{body}
	}
	limit := gsmMulti
	width := gsmWidth
	if info.Encoding == EncodingUCS2 {
		limit = ucs2Multi
		width = utf16Width
	}
	parts := make([]string, 0, info.Segments)
	start, fill := 0, 0
	for i, r := range body {
		w := width(r)
		if fill+w > limit {
			parts = append(parts, body[start:i])
			start, fill = i, 0
		}
		fill += w
	}
	return info.Encoding, append(parts, body[start:])
}

func utf16Width(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

// gsmCodes maps each GSM-7 character to its GSM 03.38 code; extension
// characters have the escape (0x1B) in the high byte.
var gsmCodes = func() map[rune]uint16 {
	m := make(map[rune]uint16, 160)
	code := uint16(0)
	for _, r := range gsmBasic {
		if code == 0x1B { // the escape has no character of its own
			code++
		}
		m[r] = code
		code++
	}
	for i, r := range []rune(gsmExtension) {
		m[r] = 0x1B00 | uint16(gsmExtensionCodes[i])
	}
	return m
}()

// gsmExtensionCodes are the codes of gsmExtension's characters, in order.
var gsmExtensionCodes = [...]byte{0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65}

// EncodeGSM7 encodes s in the GSM 03.38 default alphabet, one septet per
// octet (unpacked, as SMPP's data_coding 0 carries it); extension
// characters take two octets (escape + code). ok is false if s has a
// character outside GSM-7.
func EncodeGSM7(s string) (out []byte, ok bool) {
	out = make([]byte, 0, len(s))
	for _, r := range s {
		c, found := gsmCodes[r]
		if !found {
			return nil, false
		}
		if c > 0xFF {
			out = append(out, 0x1B)
		}
		out = append(out, byte(c))
	}
	return out, true
}

// DecodeGSM7 decodes unpacked GSM 03.38 septets; unknown codes become '?'.
func DecodeGSM7(b []byte) string {
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i] & 0x7F
		if c == 0x1B && i+1 < len(b) {
			i++
			r := '?'
			for j, e := range gsmExtensionCodes {
				if e == b[i]&0x7F {
					r = []rune(gsmExtension)[j]
				}
			}
			out = append(out, r)
			continue
		}
		out = append(out, gsmRunes[c])
	}
	return string(out)
}

// gsmRunes is the basic table by code (0x1B decodes as a space).
var gsmRunes = func() (t [128]rune) {
	for r, c := range gsmCodes {
		if c < 0x80 {
			t[c] = r
		}
	}
	t[0x1B] = ' '
	return t
}()

// EncodeUCS2 encodes s as UTF-16 big endian (SMPP's data_coding 8).
func EncodeUCS2(s string) []byte {
	units := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

// DecodeUCS2 decodes UTF-16 big endian; a trailing odd byte is dropped.
func DecodeUCS2(b []byte) string {
	units := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		units = append(units, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return string(utf16.Decode(units))
}
