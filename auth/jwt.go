package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is wrapped by every error Verify returns, so that callers
// can answer 401 for any of them with errors.Is while the wrapped text still
// tells operators which check failed.
var ErrInvalidToken = errors.New("invalid token")

// ErrJWKSWithoutIssuerAudience refuses a JWKS configured without the issuer
// and audience that tokens must name.
var ErrJWKSWithoutIssuerAudience = errors.New("jwt: a JWKS needs an issuer and an audience: tokens signed by an identity provider's keys are accepted only when iss and aud name this service")

// Defaults for JWTConfig, applied by WithDefaults.
const (
	DefaultJWTLeeway   = 30 * time.Second
	DefaultJWKSRefresh = 10 * time.Minute
)

// minHS256SecretLen is the key size RFC 7518 §3.2 requires for HS256; a
// shorter secret can be brute-forced from any token it signed.
const minHS256SecretLen = 32

// JWTConfig configures bearer-token verification. Zero values disable the
// parts they name.
type JWTConfig struct {
	// HS256Secret is the shared secret for HS256 tokens, at least 32 bytes.
	// Empty disables HS256.
	HS256Secret string
	// JWKS is the path of a JWKS file, or an http(s) URL serving one, with the
	// RS256 and ES256 public keys. Empty disables RS256 and ES256. A file is
	// read once at start; a URL is fetched again every JWKSRefresh.
	JWKS string
	// Issuer, when set, must equal the iss claim. Required with JWKS: keys
	// published by an identity provider sign tokens for many services, and
	// only iss and aud say a token was meant for this one.
	Issuer string
	// Audience, when set, must be one of the values of the aud claim.
	// Required with JWKS, like Issuer.
	Audience string
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Zero means DefaultJWTLeeway (30s).
	Leeway time.Duration
	// JWKSRefresh is how often a JWKS URL is fetched again. Zero means
	// DefaultJWKSRefresh (10m).
	JWKSRefresh time.Duration
}

// Enabled reports whether any token algorithm is configured; when not, the
// server should not accept bearer JWTs at all.
func (c JWTConfig) Enabled() bool {
	return c.HS256Secret != "" || c.JWKS != ""
}

// WithDefaults returns c with zero durations replaced by their defaults.
func (c JWTConfig) WithDefaults() JWTConfig {
	if c.Leeway == 0 {
		c.Leeway = DefaultJWTLeeway
	}
	if c.JWKSRefresh == 0 {
		c.JWKSRefresh = DefaultJWKSRefresh
	}
	return c
}

func (c JWTConfig) validate() error {
	if !c.Enabled() {
		return errors.New("jwt: neither hs256 secret nor jwks is set")
	}
	if c.HS256Secret != "" && len(c.HS256Secret) < minHS256SecretLen {
		return fmt.Errorf("jwt.hs256_secret: %d bytes, want at least %d", len(c.HS256Secret), minHS256SecretLen)
	}
	if c.JWKS != "" && (c.Issuer == "" || c.Audience == "") {
		return ErrJWKSWithoutIssuerAudience
	}
	if c.Leeway < 0 {
		return fmt.Errorf("jwt.leeway: %s is negative", c.Leeway)
	}
	if c.JWKSRefresh < 0 {
		return fmt.Errorf("jwt.jwks_refresh: %s is negative", c.JWKSRefresh)
	}
	return nil
}

// TokenClaims is what a verified token grants.
type TokenClaims struct {
	Tenant  string  // tenant public id, claim "tenant"
	Subject string  // claim "sub"; may be empty
	Scopes  []Scope // from "scope" and/or "scopes", without repeats
}

// JWTVerifier checks bearer JWTs against a fixed algorithm allow-list. It is
// safe for concurrent use.
type JWTVerifier struct {
	cfg     JWTConfig
	secret  []byte      // nil when HS256 is disabled
	jwks    *jwksSource // nil when RS256/ES256 are disabled
	methods []string    // the allow-list handed to the parser
}

// NewJWTVerifier builds a verifier and loads the JWKS, if one is configured,
// so that a wrong path, an unreachable URL or a set without usable keys
// fails at start. For a JWKS URL it fetches the set again every
// cfg.JWKSRefresh until ctx ends; client is used for those fetches, and nil
// means a client with a 10s timeout.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig, client *http.Client) (*JWTVerifier, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	v := &JWTVerifier{cfg: cfg}
	if cfg.HS256Secret != "" {
		v.secret = []byte(cfg.HS256Secret)
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKS != "" {
		src, err := newJWKSSource(ctx, cfg.JWKS, client)
		if err != nil {
			return nil, err
		}
		v.jwks = src
		v.methods = append(v.methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
		if src.isURL {
			go src.refreshEvery(ctx, cfg.JWKSRefresh)
		}
	}
	return v, nil
}

// Verify checks token's signature and claims and returns what it grants.
// Every error wraps ErrInvalidToken. ctx is used only when an unknown kid
// makes the verifier fetch the JWKS again, and that fetch is deliberately not
// cancelled with ctx (see refetchForUnknownKID).
func (v *JWTVerifier) Verify(ctx context.Context, token string) (TokenClaims, error) {
	var (
		claims jwtClaims
		keyErr error
	)
	// The parser is built per call: it is cheap, and jwt.Parser does not
	// promise to be safe for concurrent use.
	tok, err := v.parser().ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		key, err := v.key(ctx, t)
		keyErr = err
		return key, err
	})
	if keyErr != nil {
		return TokenClaims{}, keyErr
	}
	if err != nil {
		return TokenClaims{}, v.explain(err, tok, &claims)
	}
	if claims.Tenant == "" {
		return TokenClaims{}, invalid("missing tenant")
	}
	names := append(append([]string(nil), claims.Scope...), claims.Scopes...)
	if len(names) == 0 {
		return TokenClaims{}, invalid("missing scope")
	}
	scopes, err := ScopesFromStrings(names)
	if err != nil {
		return TokenClaims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return TokenClaims{Tenant: claims.Tenant, Subject: claims.Subject, Scopes: scopes}, nil
}

func (v *JWTVerifier) parser() *jwt.Parser {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	if v.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.cfg.Audience))
	}
	return jwt.NewParser(opts...)
}

// key returns the verification key for t. The key's Go type follows the
// algorithm — []byte only for HS256, RSA or EC public keys only for
// RS256/ES256 — which is what defeats HS/RS confusion: a token claiming
// HS256 is never checked with a public key as its HMAC secret.
func (v *JWTVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	switch alg {
	case "HS256":
		if v.secret == nil {
			return nil, errAlgNotAllowed
		}
		return v.secret, nil
	case "RS256", "ES256":
		if v.jwks == nil {
			return nil, errAlgNotAllowed
		}
		var kid string
		if raw, ok := t.Header["kid"]; ok {
			if kid, ok = raw.(string); !ok {
				return nil, errKIDNotAString
			}
		}
		key, err := v.jwks.current().lookup(kid, alg)
		if errors.Is(err, errUnknownKID) {
			v.jwks.refetchForUnknownKID(ctx)
			key, err = v.jwks.current().lookup(kid, alg)
		}
		return key, err
	default:
		return nil, errAlgNotAllowed
	}
}

var errAlgNotAllowed = fmt.Errorf("%w: algorithm not allowed", ErrInvalidToken)

// explain turns a jwt library error into a short reason. Claim checks are
// reported together by the library, so the order here decides which one a
// token failing several of them is rejected for.
func (v *JWTVerifier) explain(err error, tok *jwt.Token, c *jwtClaims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("malformed")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Without a keyfunc error this means an unknown or missing alg.
		return errAlgNotAllowed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// WithValidMethods reports a refused alg as a bad signature too;
		// tell the two apart so that logs show which check failed.
		if tok != nil && tok.Method != nil && !slices.Contains(v.methods, tok.Method.Alg()) {
			return errAlgNotAllowed
		}
		return invalid("bad signature")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case c.ExpiresAt == nil:
			return invalid("missing exp")
		case v.cfg.Issuer != "" && c.Issuer == "":
			return invalid("missing iss")
		case v.cfg.Audience != "" && len(c.Audience) == 0:
			return invalid("missing aud")
		}
		return invalid("missing required claim")
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalid("expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid("issued in the future")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalid("wrong issuer")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalid("wrong audience")
	}
	return invalid("invalid claims")
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}

// jwtClaims is the payload we read. Scope names are only collected while
// decoding and validated after the signature check, so that an unsigned
// token cannot reach our scope logic.
type jwtClaims struct {
	jwt.RegisteredClaims
	Tenant string     `json:"tenant"`
	Scope  claimNames `json:"scope"`
	Scopes claimNames `json:"scopes"`
}

// claimNames accepts a space- or comma-separated string (the OAuth "scope"
// form) or an array of strings (the form many identity providers emit for
// "scopes"), so that either claim works whichever form the issuer picked.
type claimNames []string

// UnmarshalJSON implements json.Unmarshaler.
func (n *claimNames) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*n = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*n = list
	return nil
}

// LooksLikeJWT reports whether token has the shape of a compact JWS: three
// base64url segments separated by dots. It lets the HTTP layer send bearer
// tokens to the JWT verifier or the API-key lookup without trying both. The
// signature segment may be empty so that unsigned ("alg": "none") tokens
// reach the verifier and are rejected there with a clear reason.
func LooksLikeJWT(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	for i, seg := range strings.Split(token, ".") {
		if seg == "" && i < 2 {
			return false
		}
		for _, r := range seg {
			if !isBase64URLChar(r) {
				return false
			}
		}
	}
	return true
}

func isBase64URLChar(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
