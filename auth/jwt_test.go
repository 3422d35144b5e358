package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef-hs256"

// The issuer and audience of the tokens claims makes; a JWKS needs both.
const (
	testIssuer   = "https://idp.example"
	testAudience = "gridmetrics"
)

// testKeys are generated once per test function; RSA generation is slow
// under -race.
type testKeys struct {
	rsa      *rsa.PrivateKey
	rsaOther *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
	ecOther  *ecdsa.PrivateKey
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	var k testKeys
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa, &k.rsaOther} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []**ecdsa.PrivateKey{&k.ec, &k.ecOther} {
		if *p, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func ecJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) map[string]any {
	t.Helper()
	point, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"kty": "EC", "kid": kid, "crv": "P-256",
		"x": b64(point[1:33]), "y": b64(point[33:65]),
	}
}

func jwksJSON(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJWKSFile(t *testing.T, keys ...map[string]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksJSON(t, keys...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// jwksServer serves a key set that a test can swap, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	hits   atomic.Int64
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// sign returns a token with kid in its header unless kid is "" or nil; kid
// is not a string so that tests can send a malformed one.
func sign(t *testing.T, method jwt.SigningMethod, key, kid any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != nil && kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims returns valid claims changed by edit; a nil value deletes a claim.
func claims(edit map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"tenant": "tn_8f2k",
		"sub":    "user-42",
		"scope":  "read ingest",
		"iss":    testIssuer,
		"aud":    testAudience,
		"iat":    now.Unix(),
		"exp":    now.Add(5 * time.Minute).Unix(),
	}
	for k, v := range edit {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// newVerifier builds a verifier whose background refresh stops with the test.
func newVerifier(t *testing.T, cfg JWTConfig) *JWTVerifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := NewJWTVerifier(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	return v
}

func TestJWTVerify(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t)
	now := time.Now()

	jwksFile := writeJWKSFile(t, rsaJWK("rsa-1", &k.rsa.PublicKey))
	srv := newJWKSServer(t, jwksJSON(t, ecJWK(t, "ec-1", &k.ec.PublicKey)))

	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	none := jwt.UnsafeAllowNoneSignatureType

	hs := JWTConfig{HS256Secret: testSecret}
	file := JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: jwksFile}
	url := JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: srv.URL}
	both := JWTConfig{HS256Secret: testSecret, Issuer: testIssuer, Audience: testAudience, JWKS: jwksFile}
	issAud := JWTConfig{HS256Secret: testSecret, Issuer: "https://idp.example", Audience: "gridmetrics"}

	want := TokenClaims{Tenant: "tn_8f2k", Subject: "user-42", Scopes: []Scope{ScopeIngest, ScopeRead}}

	tests := []struct {
		name    string
		cfg     JWTConfig
		token   string
		want    TokenClaims
		wantErr string // reason after "invalid token: "; empty means success
	}{
		{name: "valid hs256", cfg: hs, token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims(nil)), want: want},
		{name: "valid rs256 from jwks file", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil)), want: want},
		{name: "valid rs256 without kid and one rsa key", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsa, "", claims(nil)), want: want},
		{name: "valid es256 from jwks url", cfg: url, token: sign(t, jwt.SigningMethodES256, k.ec, "ec-1", claims(nil)), want: want},
		{name: "valid hs256 and rs256 both configured", cfg: both, token: sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil)), want: want},

		{name: "alg none with secret", cfg: hs, token: sign(t, jwt.SigningMethodNone, none, "", claims(nil)), wantErr: "algorithm not allowed"},
		{name: "alg none with jwks", cfg: file, token: sign(t, jwt.SigningMethodNone, none, "rsa-1", claims(nil)), wantErr: "algorithm not allowed"},
		{name: "hs512 refused", cfg: hs, token: sign(t, jwt.SigningMethodHS512, []byte(testSecret), "", claims(nil)), wantErr: "algorithm not allowed"},
		{name: "rs512 refused", cfg: file, token: sign(t, jwt.SigningMethodRS512, k.rsa, "rsa-1", claims(nil)), wantErr: "algorithm not allowed"},
		{name: "rs256 without jwks", cfg: hs, token: sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil)), wantErr: "algorithm not allowed"},
		{name: "hs256 without secret", cfg: file, token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims(nil)), wantErr: "algorithm not allowed"},

		{name: "wrong hs256 secret", cfg: hs, token: sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), "", claims(nil)), wantErr: "bad signature"},
		{name: "rs256 signed by another key", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsaOther, "rsa-1", claims(nil)), wantErr: "bad signature"},
		{name: "es256 signed by another key", cfg: url, token: sign(t, jwt.SigningMethodES256, k.ecOther, "ec-1", claims(nil)), wantErr: "bad signature"},
		{name: "tampered payload", cfg: hs, token: tamper(t, sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims(nil))), wantErr: "bad signature"},

		// HS/RS confusion: the attacker uses the public key as HMAC secret.
		{name: "hs256 with rsa pem as secret, jwks only", cfg: file, token: sign(t, jwt.SigningMethodHS256, pemBytes, "rsa-1", claims(nil)), wantErr: "algorithm not allowed"},
		{name: "hs256 with rsa der as secret, jwks only", cfg: file, token: sign(t, jwt.SigningMethodHS256, der, "rsa-1", claims(nil)), wantErr: "algorithm not allowed"},
		{name: "hs256 with rsa pem as secret, both", cfg: both, token: sign(t, jwt.SigningMethodHS256, pemBytes, "rsa-1", claims(nil)), wantErr: "bad signature"},
		{name: "hs256 with rsa der as secret, both", cfg: both, token: sign(t, jwt.SigningMethodHS256, der, "rsa-1", claims(nil)), wantErr: "bad signature"},
		{name: "es256 naming an rsa kid", cfg: file, token: sign(t, jwt.SigningMethodES256, k.ec, "rsa-1", claims(nil)), wantErr: "key does not match algorithm"},
		{name: "unknown kid in file", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-9", claims(nil)), wantErr: "unknown key id"},
		{name: "kid not a string", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsa, 7, claims(nil)), wantErr: "kid is not a string"},

		{name: "expired", cfg: hs, token: hsToken(t, claims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})), wantErr: "expired"},
		{name: "missing exp", cfg: hs, token: hsToken(t, claims(map[string]any{"exp": nil})), wantErr: "missing exp"},
		{name: "nbf in the future", cfg: hs, token: hsToken(t, claims(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), wantErr: "not valid yet"},
		{name: "iat in the future", cfg: hs, token: hsToken(t, claims(map[string]any{"iat": now.Add(2 * time.Minute).Unix()})), wantErr: "issued in the future"},
		{name: "expired within leeway", cfg: hs, token: hsToken(t, claims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), want: want},
		{name: "nbf within leeway", cfg: hs, token: hsToken(t, claims(map[string]any{"nbf": now.Add(10 * time.Second).Unix()})), want: want},
		{name: "iat within leeway", cfg: hs, token: hsToken(t, claims(map[string]any{"iat": now.Add(10 * time.Second).Unix()})), want: want},
		{name: "expired beyond custom leeway", cfg: JWTConfig{HS256Secret: testSecret, Leeway: 5 * time.Second}, token: hsToken(t, claims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), wantErr: "expired"},

		{name: "missing tenant", cfg: hs, token: hsToken(t, claims(map[string]any{"tenant": nil})), wantErr: "missing tenant"},
		{name: "missing scope", cfg: hs, token: hsToken(t, claims(map[string]any{"scope": nil})), wantErr: "missing scope"},
		{name: "empty scope", cfg: hs, token: hsToken(t, claims(map[string]any{"scope": " "})), wantErr: "missing scope"},
		{name: "unknown scope", cfg: hs, token: hsToken(t, claims(map[string]any{"scope": "read fly"})), wantErr: `unknown scope "fly"`},
		{name: "unknown scope in array", cfg: hs, token: hsToken(t, claims(map[string]any{"scope": nil, "scopes": []string{"read", "root"}})), wantErr: `unknown scope "root"`},
		{name: "scope of wrong type", cfg: hs, token: hsToken(t, claims(map[string]any{"scope": 7})), wantErr: "malformed"},
		{
			name: "scope as comma-separated string", cfg: hs,
			token: hsToken(t, claims(map[string]any{"scope": "billing,read"})),
			want:  TokenClaims{Tenant: "tn_8f2k", Subject: "user-42", Scopes: []Scope{ScopeRead, ScopeBilling}},
		},
		{
			name: "scopes as array", cfg: hs,
			token: hsToken(t, claims(map[string]any{"scope": nil, "scopes": []string{"admin", "read", "admin"}})),
			want:  TokenClaims{Tenant: "tn_8f2k", Subject: "user-42", Scopes: []Scope{ScopeRead, ScopeAdmin}},
		},
		{
			name: "scope and scopes merged", cfg: hs,
			token: hsToken(t, claims(map[string]any{"scope": "read", "scopes": []string{"billing"}})),
			want:  TokenClaims{Tenant: "tn_8f2k", Subject: "user-42", Scopes: []Scope{ScopeRead, ScopeBilling}},
		},
		{
			name: "no subject", cfg: hs,
			token: hsToken(t, claims(map[string]any{"sub": nil})),
			want:  TokenClaims{Tenant: "tn_8f2k", Scopes: []Scope{ScopeIngest, ScopeRead}},
		},

		{name: "issuer and audience match", cfg: issAud, token: hsToken(t, claims(map[string]any{"iss": "https://idp.example", "aud": []string{"other", "gridmetrics"}})), want: want},
		{name: "issuer mismatch", cfg: issAud, token: hsToken(t, claims(map[string]any{"iss": "https://evil.example", "aud": "gridmetrics"})), wantErr: "wrong issuer"},
		{name: "issuer missing", cfg: issAud, token: hsToken(t, claims(map[string]any{"iss": nil, "aud": "gridmetrics"})), wantErr: "missing iss"},
		{name: "audience mismatch", cfg: issAud, token: hsToken(t, claims(map[string]any{"iss": "https://idp.example", "aud": "billing-svc"})), wantErr: "wrong audience"},
		{name: "audience missing", cfg: issAud, token: hsToken(t, claims(map[string]any{"iss": "https://idp.example", "aud": nil})), wantErr: "missing aud"},
		{name: "jwks token without iss", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(map[string]any{"iss": nil})), wantErr: "missing iss"},
		{name: "jwks token without aud", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(map[string]any{"aud": nil})), wantErr: "missing aud"},
		{name: "jwks token for another audience", cfg: url, token: sign(t, jwt.SigningMethodES256, k.ec, "ec-1", claims(map[string]any{"aud": "billing-svc"})), wantErr: "wrong audience"},
		{name: "jwks token from another issuer", cfg: file, token: sign(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(map[string]any{"iss": "https://evil.example"})), wantErr: "wrong issuer"},
		{name: "issuer and audience ignored when not configured", cfg: hs, token: hsToken(t, claims(map[string]any{"iss": "anyone", "aud": "anything"})), want: want},

		{name: "malformed", cfg: hs, token: "abc.def.ghi", wantErr: "malformed"},
		{name: "two segments", cfg: hs, token: "abc.def", wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, tt.cfg)
			got, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Verify succeeded with %+v, want error %q", got, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("error %v does not wrap ErrInvalidToken", err)
				}
				if !strings.HasPrefix(err.Error(), "invalid token: "+tt.wantErr) {
					t.Errorf("error = %q, want reason %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Tenant != tt.want.Tenant || got.Subject != tt.want.Subject || !slices.Equal(got.Scopes, tt.want.Scopes) {
				t.Errorf("Verify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func hsToken(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", c)
}

// tamper changes the payload's tenant without re-signing.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	c["tenant"] = "tn_other"
	payload, err = json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = b64(payload)
	return strings.Join(parts, ".")
}

func TestJWTUnknownKIDRefetch(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t)
	srv := newJWKSServer(t, jwksJSON(t, ecJWK(t, "old", &k.ec.PublicKey)))
	v := newVerifier(t, JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: srv.URL})
	ctx := context.Background()
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("fetches after start = %d, want 1", got)
	}

	// The identity provider rotates: "old" is gone, "new" signs from now on.
	srv.set(jwksJSON(t, ecJWK(t, "new", &k.ecOther.PublicKey)))
	newToken := sign(t, jwt.SigningMethodES256, k.ecOther, "new", claims(nil))
	if _, err := v.Verify(ctx, newToken); err != nil {
		t.Fatalf("Verify after rotation: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after unknown kid = %d, want 2", got)
	}
	// Known kids do not fetch.
	if _, err := v.Verify(ctx, newToken); err != nil {
		t.Fatalf("Verify again: %v", err)
	}

	// Within a minute, further unknown kids must not reach the server.
	oldToken := sign(t, jwt.SigningMethodES256, k.ec, "old", claims(nil))
	if _, err := v.Verify(ctx, oldToken); !errors.Is(err, errUnknownKID) {
		t.Fatalf("Verify with retired kid: err = %v, want %v", err, errUnknownKID)
	}
	bogus := sign(t, jwt.SigningMethodES256, k.ec, "bogus", claims(nil))
	if _, err := v.Verify(ctx, bogus); !errors.Is(err, errUnknownKID) {
		t.Fatalf("Verify with bogus kid: err = %v, want %v", err, errUnknownKID)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("fetches after rate-limited unknown kids = %d, want 2", got)
	}
}

func TestJWTBackgroundRefresh(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t)
	srv := newJWKSServer(t, jwksJSON(t, ecJWK(t, "a", &k.ec.PublicKey)))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := NewJWTVerifier(ctx, JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: srv.URL, JWKSRefresh: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Spend the unknown-kid budget so that only the background refresh can
	// pick up the new key.
	tokenB := sign(t, jwt.SigningMethodES256, k.ecOther, "b", claims(nil))
	if _, err := v.Verify(ctx, tokenB); !errors.Is(err, errUnknownKID) {
		t.Fatalf("Verify before rotation: err = %v, want %v", err, errUnknownKID)
	}
	srv.set(jwksJSON(t, ecJWK(t, "b", &k.ecOther.PublicKey)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(ctx, tokenB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key b not picked up by background refresh: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A failing endpoint keeps the last good keys.
	srv.setStatus(http.StatusInternalServerError)
	before := srv.hits.Load()
	for srv.hits.Load() < before+2 {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("background refresh stopped fetching")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := v.Verify(ctx, tokenB); err != nil {
		t.Fatalf("Verify after failed refresh: %v", err)
	}

	// Cancelling ctx stops the refresh.
	cancel()
	time.Sleep(100 * time.Millisecond)
	stopped := srv.hits.Load()
	time.Sleep(100 * time.Millisecond)
	if got := srv.hits.Load(); got != stopped {
		t.Errorf("fetches went on after cancel: %d then %d", stopped, got)
	}
}

func TestJWTVerifyConcurrentWithRefresh(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t)
	srv := newJWKSServer(t, jwksJSON(t, ecJWK(t, "a", &k.ec.PublicKey)))
	v := newVerifier(t, JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: srv.URL, JWKSRefresh: time.Millisecond})
	good := sign(t, jwt.SigningMethodES256, k.ec, "a", claims(nil))
	unknown := sign(t, jwt.SigningMethodES256, k.ec, "zz", claims(nil))

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				tok := good
				if i%2 == 1 {
					tok = unknown
				}
				_, err := v.Verify(context.Background(), tok)
				if (err == nil) != (tok == good) {
					t.Errorf("Verify: unexpected result %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestJWTNewVerifierErrors(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t)

	short := new(big.Int).SetBit(new(big.Int), 1023, 1)
	weakRSA := map[string]any{"kty": "RSA", "kid": "weak", "n": b64(short.Bytes()), "e": "AQAB"}
	encRSA := rsaJWK("enc", &k.rsa.PublicKey)
	encRSA["use"] = "enc"
	oct := map[string]any{"kty": "oct", "kid": "s", "k": b64([]byte(testSecret))}
	p384 := ecJWK(t, "p384", &k.ec.PublicKey)
	p384["crv"] = "P-384"

	huge := newJWKSServer(t, []byte(strings.Repeat(" ", maxJWKSBytes+1)))
	failing := newJWKSServer(t, nil)
	failing.setStatus(http.StatusInternalServerError)

	tests := []struct {
		name    string
		cfg     JWTConfig
		wantErr string
	}{
		{name: "nothing configured", cfg: JWTConfig{}, wantErr: "neither hs256 secret nor jwks"},
		{name: "short secret", cfg: JWTConfig{HS256Secret: "secret"}, wantErr: "jwt.hs256_secret"},
		{name: "negative leeway", cfg: JWTConfig{HS256Secret: testSecret, Leeway: -time.Second}, wantErr: "jwt.leeway"},
		{name: "negative refresh", cfg: JWTConfig{HS256Secret: testSecret, JWKSRefresh: -time.Second}, wantErr: "jwt.jwks_refresh"},
		{name: "missing file", cfg: JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: filepath.Join(t.TempDir(), "nope.json")}, wantErr: "no such file"},
		{name: "not json", cfg: JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: writeRaw(t, "keys: []")}, wantErr: "parse jwks"},
		{name: "empty set", cfg: JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: writeJWKSFile(t)}, wantErr: "jwks has no keys"},
		{name: "only unusable keys", cfg: JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: writeJWKSFile(t, weakRSA, encRSA, oct, p384)}, wantErr: "no usable signing key"},
		{name: "server error", cfg: JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: failing.URL}, wantErr: "unexpected status 500"},
		{name: "response too large", cfg: JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: huge.URL}, wantErr: "larger than"},
		{name: "url without host", cfg: JWTConfig{Issuer: testIssuer, Audience: testAudience, JWKS: "https://"}, wantErr: "not valid"},
		{name: "jwks without issuer or audience", cfg: JWTConfig{JWKS: writeJWKSFile(t, rsaJWK("rsa-1", &k.rsa.PublicKey))}, wantErr: "a JWKS needs an issuer and an audience"},
		{name: "jwks without audience", cfg: JWTConfig{Issuer: testIssuer, JWKS: writeJWKSFile(t, rsaJWK("rsa-1", &k.rsa.PublicKey))}, wantErr: "a JWKS needs an issuer and an audience"},
		{name: "jwks without issuer", cfg: JWTConfig{Audience: testAudience, JWKS: writeJWKSFile(t, rsaJWK("rsa-1", &k.rsa.PublicKey))}, wantErr: "a JWKS needs an issuer and an audience"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewJWTVerifier(t.Context(), tt.cfg, nil)
			if err == nil {
				t.Fatalf("NewJWTVerifier = %v, want error %q", v, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func writeRaw(t *testing.T, s string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestJWTParseJWKS(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t)

	offCurve := ecJWK(t, "off", &k.ec.PublicKey)
	offCurve["y"] = offCurve["x"]
	shortX := ecJWK(t, "shortx", &k.ec.PublicKey)
	shortX["x"] = b64([]byte{1, 2, 3})
	evenE := rsaJWK("even", &k.rsa.PublicKey)
	evenE["e"] = b64([]byte{2})
	rsaAsES := rsaJWK("mislabelled", &k.rsa.PublicKey)
	rsaAsES["alg"] = "ES256"
	padded := rsaJWK("padded", &k.rsa.PublicKey)
	padded["n"] = base64.URLEncoding.EncodeToString(k.rsa.PublicKey.N.Bytes())
	noUse := ecJWK(t, "nouse", &k.ec.PublicKey)

	tests := []struct {
		name     string
		keys     []map[string]any
		wantKIDs []string
	}{
		{name: "rsa and ec", keys: []map[string]any{rsaJWK("r", &k.rsa.PublicKey), ecJWK(t, "e", &k.ec.PublicKey)}, wantKIDs: []string{"r", "e"}},
		{name: "padded base64 accepted", keys: []map[string]any{padded}, wantKIDs: []string{"padded"}},
		{name: "use may be absent", keys: []map[string]any{noUse}, wantKIDs: []string{"nouse"}},
		{name: "point off the curve skipped", keys: []map[string]any{offCurve, noUse}, wantKIDs: []string{"nouse"}},
		{name: "short coordinate skipped", keys: []map[string]any{shortX, noUse}, wantKIDs: []string{"nouse"}},
		{name: "even exponent skipped", keys: []map[string]any{evenE, noUse}, wantKIDs: []string{"nouse"}},
		{name: "alg not matching kty skipped", keys: []map[string]any{rsaAsES, noUse}, wantKIDs: []string{"nouse"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, err := parseJWKS(jwksJSON(t, tt.keys...))
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			var kids []string
			for _, k := range set.keys {
				kids = append(kids, k.kid)
			}
			if !slices.Equal(kids, tt.wantKIDs) {
				t.Errorf("kids = %v, want %v", kids, tt.wantKIDs)
			}
		})
	}
}

func TestJWTKeySetLookup(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t)
	set, err := parseJWKS(jwksJSON(t,
		rsaJWK("r1", &k.rsa.PublicKey), rsaJWK("r2", &k.rsaOther.PublicKey),
		ecJWK(t, "e1", &k.ec.PublicKey),
	))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kid     string
		alg     string
		want    any
		wantErr error
	}{
		{name: "by kid", kid: "r2", alg: "RS256", want: &k.rsaOther.PublicKey},
		{name: "no kid, one ec key", alg: "ES256", want: &k.ec.PublicKey},
		{name: "no kid, two rsa keys", alg: "RS256", wantErr: errAmbiguousKey},
		{name: "kid of other type", kid: "e1", alg: "RS256", wantErr: errKeyMismatch},
		{name: "unknown kid", kid: "x", alg: "RS256", wantErr: errUnknownKID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := set.lookup(tt.kid, tt.alg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("lookup err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.want) {
				t.Errorf("lookup returned the wrong key")
			}
		})
	}
}

func TestLooksLikeJWT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{name: "signed token", token: hsToken(t, claims(nil)), want: true},
		{name: "unsigned token", token: "eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJ4In0.", want: true},
		{name: "api key", token: "gm_live_3kf9s8dfj2", want: false},
		{name: "two segments", token: "abc.def", want: false},
		{name: "four segments", token: "a.b.c.d", want: false},
		{name: "empty header", token: ".def.ghi", want: false},
		{name: "empty payload", token: "abc..ghi", want: false},
		{name: "standard base64", token: "ab+c.de/f.gh=", want: false},
		{name: "empty", token: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := LooksLikeJWT(tt.token); got != tt.want {
				t.Errorf("LooksLikeJWT(%q) = %v, want %v", tt.token, got, tt.want)
			}
		})
	}
}
