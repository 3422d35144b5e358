package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxJWKSBytes bounds a JWKS document so that a misbehaving or hostile
	// endpoint cannot make us buffer an unbounded body.
	maxJWKSBytes = 1 << 20

	// jwksFetchTimeout bounds each fetch even when the caller's client has
	// no timeout, so a hung endpoint cannot stall refreshes forever.
	jwksFetchTimeout = 10 * time.Second

	// kidRefetchInterval limits fetches triggered by unknown kids: tokens
	// are attacker-controlled, and without a limit every request carrying a
	// made-up kid would turn into a request to the identity provider.
	kidRefetchInterval = time.Minute

	// minRSABits rejects RSA keys too short to be safe; RFC 7518 requires
	// 2048 bits for RS256.
	minRSABits = 2048
)

// Reasons a JWKS lookup fails. They are shared values so that the verifier
// can return them unchanged as its own error.
var (
	errUnknownKID    = fmt.Errorf("%w: unknown key id", ErrInvalidToken)
	errKeyMismatch   = fmt.Errorf("%w: key does not match algorithm", ErrInvalidToken)
	errNoKeyForAlg   = fmt.Errorf("%w: no key for algorithm", ErrInvalidToken)
	errAmbiguousKey  = fmt.Errorf("%w: token has no kid and several keys match", ErrInvalidToken)
	errKIDNotAString = fmt.Errorf("%w: kid is not a string", ErrInvalidToken)
)

// jwk is one usable verification key from a JWKS.
type jwk struct {
	kid string
	alg string           // "" when the set does not pin the key to one algorithm
	key crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey on P-256
}

// fits reports whether k may verify a token signed with alg. The key type is
// checked here, not only by the signing method, so that a key published for
// one algorithm can never be used with another.
func (k jwk) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case "RS256":
		_, ok := k.key.(*rsa.PublicKey)
		return ok
	case "ES256":
		pub, ok := k.key.(*ecdsa.PublicKey)
		return ok && pub.Curve == elliptic.P256()
	}
	return false
}

// keySet is an immutable, parsed JWKS; a refresh replaces it as a whole.
type keySet struct {
	keys []jwk
}

// lookup selects the key for a token's kid and alg. A token without a kid is
// accepted only when exactly one key fits, because guessing between several
// keys would let the token choose which key it is checked against.
func (s *keySet) lookup(kid, alg string) (crypto.PublicKey, error) {
	if kid != "" {
		known := false
		for _, k := range s.keys {
			if k.kid != kid {
				continue
			}
			known = true
			if k.fits(alg) {
				return k.key, nil
			}
		}
		if known {
			return nil, errKeyMismatch
		}
		return nil, errUnknownKID
	}
	var found crypto.PublicKey
	n := 0
	for _, k := range s.keys {
		if k.fits(alg) {
			found = k.key
			n++
		}
	}
	switch n {
	case 0:
		return nil, errNoKeyForAlg
	case 1:
		return found, nil
	default:
		return nil, errAmbiguousKey
	}
}

// rawJWK holds the RFC 7517/7518 members we read; others (x5c, key_ops...)
// are ignored.
type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JWKS document. Keys we cannot use (encryption keys,
// other key types, malformed members) are skipped rather than failing the
// set, because identity providers publish such keys next to the signing
// keys and one odd key must not take every token down. A set without any
// usable key is an error, naming why each key was skipped.
func parseJWKS(b []byte) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	set := &keySet{}
	var skipped []string
	for i, raw := range doc.Keys {
		var r rawJWK
		if err := json.Unmarshal(raw, &r); err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		k, err := r.toJWK()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		set.keys = append(set.keys, k)
	}
	if len(set.keys) == 0 {
		if len(skipped) == 0 {
			return nil, errors.New("jwks has no keys")
		}
		return nil, fmt.Errorf("jwks has no usable signing key: %s", strings.Join(skipped, "; "))
	}
	return set, nil
}

// toJWK converts r into a verification key, or says why it cannot be used.
func (r rawJWK) toJWK() (jwk, error) {
	if r.Use != "" && r.Use != "sig" {
		return jwk{}, fmt.Errorf("use %q is not sig", r.Use)
	}
	switch r.Kty {
	case "RSA":
		if r.Alg != "" && r.Alg != "RS256" {
			return jwk{}, fmt.Errorf("alg %q is not supported for kty RSA", r.Alg)
		}
		pub, err := parseRSAKey(r.N, r.E)
		if err != nil {
			return jwk{}, err
		}
		return jwk{kid: r.Kid, alg: r.Alg, key: pub}, nil
	case "EC":
		if r.Alg != "" && r.Alg != "ES256" {
			return jwk{}, fmt.Errorf("alg %q is not supported for kty EC", r.Alg)
		}
		pub, err := parseECKey(r.Crv, r.X, r.Y)
		if err != nil {
			return jwk{}, err
		}
		return jwk{kid: r.Kid, alg: r.Alg, key: pub}, nil
	default:
		// "oct" keys in particular are refused: a shared secret published in
		// a key set is no secret, and accepting it would reopen HS/RS
		// confusion through the JWKS.
		return jwk{}, fmt.Errorf("kty %q is not supported", r.Kty)
	}
}

func parseRSAKey(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := decodeB64URL(n64)
	if err != nil {
		return nil, fmt.Errorf("n: %w", err)
	}
	eb, err := decodeB64URL(e64)
	if err != nil {
		return nil, fmt.Errorf("e: %w", err)
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < minRSABits {
		return nil, fmt.Errorf("n: rsa key has %d bits, want at least %d", n.BitLen(), minRSABits)
	}
	e := new(big.Int).SetBytes(eb)
	// crypto/rsa stores E as an int; anything past 32 bits or even is not a
	// real public exponent.
	if e.BitLen() > 31 || e.Int64() < 3 || e.Bit(0) == 0 {
		return nil, errors.New("e: invalid rsa exponent")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func parseECKey(crv, x64, y64 string) (*ecdsa.PublicKey, error) {
	if crv != "P-256" {
		return nil, fmt.Errorf("crv %q is not supported", crv)
	}
	x, err := decodeB64URL(x64)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	y, err := decodeB64URL(y64)
	if err != nil {
		return nil, fmt.Errorf("y: %w", err)
	}
	// RFC 7518 §6.2.1.2 fixes the length at the curve's field size; a
	// shorter or longer coordinate is a broken encoder, not a valid key.
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("x, y: want 32 bytes each for P-256")
	}
	point := make([]byte, 0, 65)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	// ParseUncompressedPublicKey rejects points off the curve, which guards
	// against invalid-curve attacks on ECDSA verification.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("x, y: %w", err)
	}
	return pub, nil
}

// decodeB64URL decodes base64url, tolerating the padding that some key
// publishers add although RFC 7515 says to omit it.
func decodeB64URL(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("not base64url")
	}
	return b, nil
}

// jwksSource holds the current key set for a JWKS file or URL. Readers take
// the set from an atomic pointer without locking; fetches are serialised by
// mu so that a slow, older response can never replace a newer one.
type jwksSource struct {
	location string // file path or URL, as configured
	isURL    bool
	client   *http.Client

	keys atomic.Pointer[keySet]

	mu           sync.Mutex
	lastKIDFetch time.Time // guarded by mu; when an unknown kid last caused a fetch
}

// isJWKSURL reports whether a JWKS setting names a URL rather than a file.
func isJWKSURL(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// newJWKSSource loads the key set once, so that a bad setting fails at start
// rather than on the first request.
func newJWKSSource(ctx context.Context, location string, client *http.Client) (*jwksSource, error) {
	s := &jwksSource{location: location, isURL: isJWKSURL(location), client: client}
	if s.isURL {
		u, err := url.Parse(location)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("jwks url %q is not valid", location)
		}
		s.location = u.String()
		if s.client == nil {
			s.client = &http.Client{Timeout: jwksFetchTimeout}
		}
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// current returns the key set in use.
func (s *jwksSource) current() *keySet {
	return s.keys.Load()
}

// load reads and parses the key set and, only if that succeeds, swaps it in;
// a failed refresh keeps the previous keys so that an identity-provider
// outage does not lock every client out.
func (s *jwksSource) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadLocked(ctx)
}

func (s *jwksSource) loadLocked(ctx context.Context) error {
	var (
		b   []byte
		err error
	)
	if s.isURL {
		b, err = s.fetch(ctx)
	} else {
		b, err = readJWKSFile(s.location)
	}
	if err != nil {
		return fmt.Errorf("load jwks %s: %w", s.name(), err)
	}
	set, err := parseJWKS(b)
	if err != nil {
		return fmt.Errorf("load jwks %s: %w", s.name(), err)
	}
	s.keys.Store(set)
	return nil
}

// name is the location for messages, without any password in a URL.
func (s *jwksSource) name() string {
	if s.isURL {
		if u, err := url.Parse(s.location); err == nil {
			return u.Redacted()
		}
	}
	return s.location
}

func (s *jwksSource) fetch(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.location, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return readLimited(resp.Body)
}

func readJWKSFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f)
}

// readLimited reads at most maxJWKSBytes, failing rather than truncating so
// that a cut-off document is never parsed as a smaller key set.
func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks is larger than %d bytes", maxJWKSBytes)
	}
	return b, nil
}

// refreshEvery fetches the key set again every interval until ctx ends, so
// that keys the identity provider adds or revokes are picked up without a
// restart.
func (s *jwksSource) refreshEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.load(ctx); err != nil && ctx.Err() == nil {
				// Keep serving with the previous keys; the next tick retries.
				slog.WarnContext(ctx, "jwks refresh failed", "jwks", s.name(), "err", err)
			}
		}
	}
}

// refetchForUnknownKID fetches the key set again after a token named a kid
// we do not know, which is how a key rotation usually shows up first. It
// does so at most once per kidRefetchInterval, and only for URLs: a file
// changes only when it is redeployed. The fetch is detached from the
// request's cancellation so that a client hanging up cannot waste the
// once-a-minute budget.
func (s *jwksSource) refetchForUnknownKID(ctx context.Context) {
	if !s.isURL {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !s.lastKIDFetch.IsZero() && now.Sub(s.lastKIDFetch) < kidRefetchInterval {
		return
	}
	s.lastKIDFetch = now
	if err := s.loadLocked(context.WithoutCancel(ctx)); err != nil {
		slog.WarnContext(ctx, "jwks refetch for unknown kid failed", "jwks", s.name(), "err", err)
	}
}
