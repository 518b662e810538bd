// Package ids makes textback's ids: a short type prefix and 16 random bytes,
// e.g. "call_5kq2n7...". Sortable ids are not needed: every list orders by time.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns prefix + "_" + 26 lower-case base32 characters.
func New(prefix string) string {
	return prefix + "_" + Random(16)
}

// Random returns n random bytes as lower-case base32 text.
func Random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(enc.EncodeToString(b))
}
