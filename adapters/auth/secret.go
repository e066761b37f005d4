package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Prefix starts every token, so scanners (and people) recognise a leaked one.
const Prefix = "att_"

const secretBytes = 32

var secretEncoding = base64.RawURLEncoding

// newSecret returns a fresh token's text and the hash stored in its place.
func newSecret() (secret string, hash []byte) {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	secret = Prefix + secretEncoding.EncodeToString(b)
	return secret, hashOf(secret)
}

// hashOf is what the table stores for a token: the SHA-256 of its whole text. The secret
// has 256 bits of entropy, so a fast unsalted hash is as safe as a slow salted one and
// lets a request be authenticated with one indexed lookup.
func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// wellFormed reports whether s could be a token, so garbage is refused without a query.
func wellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok || len(rest) != secretEncoding.EncodedLen(secretBytes) {
		return false
	}
	_, err := secretEncoding.DecodeString(rest)
	return err == nil
}
