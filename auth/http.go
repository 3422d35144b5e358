package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/internal/settings"
)

// Config configures authentication.
type Config struct {
	// JWT configures bearer JWTs; zero disables them (API keys only).
	JWT JWTConfig
	// RateLimit is the sustained requests per second allowed per credential;
	// 0 disables rate limiting. The service's default is DefaultRateLimit.
	RateLimit float64
	// RateBurst is how many requests may arrive at once above the rate;
	// default the rate rounded up. The service's default is
	// DefaultRateBurst.
	RateBurst int

	// KeyCacheTTL is how long an API key the database verified is trusted
	// without asking again; 0 disables the cache. Revocations reach the cache
	// at once (see Listen); the TTL bounds a notification missed while the
	// listener reconnects. The service's default is DefaultKeyCacheTTL.
	KeyCacheTTL time.Duration
	// KeyCacheGrace is how long past its TTL a cached key is still accepted
	// while the database cannot be asked; zero means not at all. The
	// service's default is DefaultKeyCacheGrace.
	KeyCacheGrace time.Duration
	// KeyCacheSize is the most keys cached. Zero means DefaultKeyCacheSize
	// (10,000).
	KeyCacheSize int

	// FailureLimit is how many failed authentications one client address
	// (an IPv6 address per /64) may make in FailureWindow; past it the
	// address gets 429 before its credentials are looked at. 0 disables.
	// The address is api.ClientAddr's: behind a trusted reverse proxy, the
	// client's, not the proxy's. The service's default is
	// DefaultFailureLimit.
	FailureLimit int
	// FailureWindow is the window of FailureLimit. Zero means
	// DefaultFailureWindow (1m).
	FailureWindow time.Duration
	// FailureAddresses is the most client addresses whose failures are
	// counted at once. Zero means DefaultFailureAddresses (65,536).
	FailureAddresses int
}

// Defaults for Config, applied by WithDefaults.
const (
	DefaultFailureWindow    = time.Minute
	DefaultFailureAddresses = 1 << 16
)

// The service's defaults for the settings whose zero turns something off,
// which WithDefaults therefore leaves alone.
const (
	DefaultRateLimit     = 100
	DefaultRateBurst     = 200
	DefaultKeyCacheTTL   = 30 * time.Second
	DefaultKeyCacheGrace = 10 * time.Minute
	DefaultFailureLimit  = 20
)

// WithDefaults returns c with zero fields that have a default set to it.
func (c Config) WithDefaults() Config {
	if c.KeyCacheSize == 0 {
		c.KeyCacheSize = DefaultKeyCacheSize
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = DefaultFailureWindow
	}
	if c.FailureAddresses == 0 {
		c.FailureAddresses = DefaultFailureAddresses
	}
	return c
}

// Validate reports the settings that cannot work. It checks c as it will
// run, so a zero that WithDefaults would replace is refused too: call it on
// WithDefaults' result, or on settings given in full (the command line).
func (c Config) Validate() error {
	return errors.Join(
		settings.NotNegative("auth.RateLimit", c.RateLimit),
		settings.NotNegative("auth.RateBurst", c.RateBurst),
		settings.NotNegative("auth.KeyCacheTTL", c.KeyCacheTTL),
		settings.NotNegative("auth.KeyCacheGrace", c.KeyCacheGrace),
		settings.Positive("auth.KeyCacheSize", c.KeyCacheSize),
		settings.NotNegative("auth.FailureLimit", c.FailureLimit),
		settings.Positive("auth.FailureWindow", c.FailureWindow),
		settings.Positive("auth.FailureAddresses", c.FailureAddresses),
	)
}

// Authenticator checks bearer credentials (API keys and JWTs), applies the
// per-credential rate limit and puts the Principal on the request.
type Authenticator struct {
	store    *Store
	jwt      *JWTVerifier
	limiter  *rateLimiter
	keys     *keyCache       // nil when disabled
	failures *failureLimiter // nil when disabled
}

// NewAuthenticator builds an authenticator. A JWKS URL in cfg is fetched now
// and refreshed until ctx ends.
func NewAuthenticator(ctx context.Context, store *Store, cfg Config) (*Authenticator, error) {
	cfg = cfg.WithDefaults()
	a := &Authenticator{store: store}
	if cfg.JWT.Enabled() {
		v, err := NewJWTVerifier(ctx, cfg.JWT, nil)
		if err != nil {
			return nil, err
		}
		a.jwt = v
	}
	if cfg.RateLimit > 0 {
		a.limiter = newRateLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	if cfg.KeyCacheTTL > 0 {
		a.keys = newKeyCache(cfg.KeyCacheTTL, cfg.KeyCacheGrace, cfg.KeyCacheSize)
		store.OnRevoke(a.keys.forget)
	}
	if cfg.FailureLimit > 0 {
		a.failures = newFailureLimiter(cfg.FailureLimit, cfg.FailureWindow, cfg.FailureAddresses)
	}
	return a, nil
}

const principalKey = "gridmetrics.principal"

// Middleware requires valid credentials on every route after it.
func (a *Authenticator) Middleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if a.failures != nil {
			if blocked, wait := a.failures.blocked(api.ClientAddr(c), time.Now()); blocked {
				secs := int(math.Ceil(wait.Seconds()))
				return &api.Error{Code: api.CodeRateLimited, RetryAfter: secs,
					Message: fmt.Sprintf("too many failed authentications from this address; retry after %d s", secs)}
			}
		}
		p, err := a.Authenticate(c.UserContext(), c.Get(fiber.HeaderAuthorization))
		if err != nil {
			// Only refusals count: a database error says nothing about the
			// credential, and is returned as it is so that it is answered
			// as the database's state deserves (503 when unreachable).
			if e := api.AsError(err); a.failures != nil && e != nil && e.Code == api.CodeUnauthorized {
				a.failures.fail(api.ClientAddr(c), time.Now())
			}
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="gridmetrics"`)
			return err
		}
		if a.limiter != nil {
			if ok, wait := a.limiter.allow(p.CredentialID, time.Now()); !ok {
				secs := int(math.Ceil(wait.Seconds()))
				return &api.Error{Code: api.CodeRateLimited, RetryAfter: secs,
					Message: fmt.Sprintf("rate limit exceeded for this credential; retry after %d s", secs)}
			}
		}
		c.Locals(principalKey, p)
		return c.Next()
	}
}

// Authenticate checks an Authorization header value and returns the
// principal, or an UNAUTHORIZED api.Error.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (Principal, error) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if header == "" {
		return Principal{}, api.Errorf(api.CodeUnauthorized, "missing credentials: send Authorization: Bearer <API key or JWT>")
	}
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, api.Errorf(api.CodeUnauthorized, "malformed Authorization header: want Bearer <API key or JWT>")
	}
	switch {
	case LooksLikeAPIKey(token):
		p, err := a.authenticateKey(ctx, token)
		switch {
		case errors.Is(err, ErrBadKey), errors.Is(err, ErrRevokedKey):
			return Principal{}, api.Errorf(api.CodeUnauthorized, "%s", err.Error())
		case err != nil:
			return Principal{}, err
		}
		return p, nil
	case LooksLikeJWT(token):
		return a.authenticateJWT(ctx, token)
	default:
		return Principal{}, api.Errorf(api.CodeUnauthorized, "invalid API key")
	}
}

// authenticateKey checks an API key through the cache when there is one.
// A key whose entry went stale is checked again; if the database cannot
// answer, the stale entry is used within the grace, so that a short outage
// does not lock out the callers that were working a moment ago.
func (a *Authenticator) authenticateKey(ctx context.Context, key string) (Principal, error) {
	if a.keys == nil {
		return a.store.authenticateKey(ctx, key)
	}
	hash := sha256.Sum256([]byte(key))
	now := time.Now()
	cached, fresh, ok := a.keys.get(hash, now)
	if ok && fresh {
		return cached, nil
	}
	gen := a.keys.generation()
	p, err := a.store.authenticateKey(ctx, key)
	switch {
	case err == nil:
		a.keys.put(hash, p, now, gen)
		return p, nil
	case errors.Is(err, ErrBadKey), errors.Is(err, ErrRevokedKey):
		if ok {
			a.keys.forget(cached.CredentialID)
		}
		return Principal{}, err
	case ok:
		return cached, nil
	}
	return Principal{}, err
}

func (a *Authenticator) authenticateJWT(ctx context.Context, token string) (Principal, error) {
	if a.jwt == nil {
		return Principal{}, api.Errorf(api.CodeUnauthorized, "bearer tokens are not accepted here; use an API key")
	}
	claims, err := a.jwt.Verify(ctx, token)
	if err != nil {
		return Principal{}, api.Errorf(api.CodeUnauthorized, "%s", err.Error())
	}
	t, err := a.store.TenantByPublicID(ctx, claims.Tenant)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, api.Errorf(api.CodeUnauthorized, "invalid token: unknown tenant")
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{TenantID: t.ID, TenantPublicID: t.PublicID, CredentialID: "jwt:" + t.PublicID + ":" + claims.Subject, Scopes: claims.Scopes}, nil
}

// PrincipalOf returns the authenticated caller; it panics when the route is
// not behind Middleware, a wiring mistake.
func PrincipalOf(c *fiber.Ctx) Principal {
	p, ok := c.Locals(principalKey).(Principal)
	if !ok {
		panic("auth: route is not behind the authentication middleware")
	}
	return p
}

// Require answers 403 unless the caller holds scope.
func Require(scope Scope) fiber.Handler { return RequireAny(scope) }
