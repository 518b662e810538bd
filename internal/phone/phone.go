// Package phone checks and normalizes phone numbers with libphonenumber.
package phone

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is returned for text that is not a valid phone number.
var ErrInvalid = errors.New("not a valid phone number")

// Normalize parses s (E.164, or national format in the region of the
// reference number, e.g. the tracking number that was called) and returns it
// in E.164 if libphonenumber considers it a valid number.
func Normalize(s, reference string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return "", ErrInvalid
	}
	region := "US"
	if reference != "" {
		if ref, err := phonenumbers.Parse(reference, "US"); err == nil {
			if r := phonenumbers.GetRegionCodeForNumber(ref); r != "" && r != "ZZ" {
				region = r
			}
		}
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", ErrInvalid
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// withheldMarkers are what carriers and PBXs put in the caller field when
// the number is hidden.
var withheldMarkers = map[string]bool{
	"": true, "anonymous": true, "restricted": true, "private": true, "unknown": true,
	"unavailable": true, "blocked": true, "withheld": true, "hidden": true,
}

// IsWithheldMarker reports whether a caller field says the number is hidden.
func IsWithheldMarker(s string) bool {
	return withheldMarkers[strings.ToLower(strings.TrimSpace(s))]
}
