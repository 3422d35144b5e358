package ocppj

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/api"
)

// A charge box's password is chosen by people (OCPP security profile 1/2:
// HTTP Basic), so unlike the random API keys it is stored under a slow
// key derivation: PBKDF2-HMAC-SHA256 with a random salt. The stored text
// names the scheme and the iterations, so they can be raised later while
// old hashes still verify.
const (
	passwordScheme     = "pbkdf2-sha256"
	passwordIterations = 100_000
	passwordSaltBytes  = 16
	passwordKeyBytes   = 32
)

// Password lengths, in characters: OCPP 2.0.1 (BasicAuthPassword) allows
// 16 to 40.
const (
	MinPasswordLen = 16
	MaxPasswordLen = 40
)

// validatePassword checks a password being set.
func validatePassword(p string) error {
	n := utf8.RuneCountInString(p)
	if !utf8.ValidString(p) || n < MinPasswordLen || n > MaxPasswordLen {
		return api.Validation("password", "must be %d to %d characters; got %d", MinPasswordLen, MaxPasswordLen, n)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return api.Validation("password", "must not hold control characters")
		}
	}
	return nil
}

// hashPassword returns the stored form of a password.
func hashPassword(p string) (string, error) { return HashPassword(p, passwordIterations) }

// HashPassword returns the stored form of a password under the given
// PBKDF2 iterations, for Store.SetPassword. The service uses 100 000; a
// benchmark may store cheaper hashes when the handshake is not what it
// measures.
func HashPassword(p string, iterations int) (string, error) {
	salt := make([]byte, passwordSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, p, salt, iterations, passwordKeyBytes)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", passwordScheme, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// checkPassword reports whether p matches the stored hash, in constant
// time over the derived keys. A stored text it cannot read matches nothing.
func checkPassword(stored, p string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != passwordScheme {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, p, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}
