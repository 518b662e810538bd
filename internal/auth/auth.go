// Package auth hashes passwords and makes and checks API keys.
package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/textback/textback/internal/ids"
)

// Roles of a workspace member.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleMember }

// BcryptCost is the cost of password hashes; tests lower it.
var BcryptCost = 12

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// ErrWeakPassword is returned for passwords that are too short or too long.
var ErrWeakPassword = errors.New("The password must have 8 to 72 bytes.")

// HashPassword returns the bcrypt hash of a password.
func HashPassword(pw string) (string, error) {
	if len(pw) < MinPasswordLength || len(pw) > 72 {
		return "", ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	return string(h), err
}

// dummyHash is compared against when the user does not exist, so that an
// unknown e-mail takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("textback-dummy-password"), bcrypt.MinCost)

// CheckPassword reports whether pw matches hash (constant time; an empty
// hash is compared against a dummy so timing does not reveal unknown users).
func CheckPassword(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// KeyPrefix starts every API key, so leaked keys are easy to scan for.
const KeyPrefix = "tbk_"

// NewAPIKey returns a new key, the hash to store and a short prefix to show.
// Keys carry 160 random bits, so one SHA-256 is enough to store them safely.
func NewAPIKey() (key, hash, prefix string) {
	key = KeyPrefix + ids.Random(20)
	return key, HashAPIKey(key), key[:len(KeyPrefix)+6]
}

// HashAPIKey is the stored form of a key.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return hex.EncodeToString(sum[:])
}
