package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// An API key reads gm_<prefix>_<secret>: the prefix (12 hex digits) finds
// the stored key without a scan, the secret (40 hex digits, 160 random
// bits) proves possession. Only SHA-256 of the whole key is stored: the key
// is random, so a slow password hash would add cost and no safety.
const (
	keyTag       = "gm_"
	prefixLen    = 12
	secretLen    = 40
	publicIDSize = 10
)

// newAPIKey returns a fresh key and its lookup prefix.
func newAPIKey() (key, prefix string) {
	prefix = randomHex(prefixLen / 2)
	return keyTag + prefix + "_" + randomHex(secretLen/2), prefix
}

// splitAPIKey returns the prefix of a well-formed key.
func splitAPIKey(key string) (prefix string, ok bool) {
	rest, found := strings.CutPrefix(key, keyTag)
	if !found || len(rest) != prefixLen+1+secretLen || rest[prefixLen] != '_' {
		return "", false
	}
	if !isHex(rest[:prefixLen]) || !isHex(rest[prefixLen+1:]) {
		return "", false
	}
	return rest[:prefixLen], true
}

// LooksLikeAPIKey reports whether a bearer token has the API key shape.
func LooksLikeAPIKey(token string) bool {
	_, ok := splitAPIKey(token)
	return ok
}

func hashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// NewPublicID returns an id such as "src_3f9a0c1b2d4e5f607182" for an object
// shown to callers; internal ids never leave the database.
func NewPublicID(kind string) string {
	return kind + "_" + randomHex(publicIDSize)
}
