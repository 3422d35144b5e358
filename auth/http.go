package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
)

// Config configures authentication.
type Config struct {
	// JWT configures bearer JWTs; zero disables them (API keys only).
	JWT JWTConfig
	// RateLimit is the sustained requests per second allowed per credential;
	// 0 disables rate limiting. Default set by the caller's configuration.
	RateLimit float64
	// RateBurst is how many requests may arrive at once above the rate;
	// default the rate rounded up.
	RateBurst int
}

// Authenticator checks bearer credentials (API keys and JWTs), applies the
// per-credential rate limit and puts the Principal on the request.
type Authenticator struct {
	store   *Store
	jwt     *JWTVerifier
	limiter *rateLimiter
}

// NewAuthenticator builds an authenticator. A JWKS URL in cfg is fetched now
// and refreshed until ctx ends.
func NewAuthenticator(ctx context.Context, store *Store, cfg Config) (*Authenticator, error) {
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
	return a, nil
}

const principalKey = "gridmetrics.principal"

// Middleware requires valid credentials on every route after it.
func (a *Authenticator) Middleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, err := a.Authenticate(c.UserContext(), c.Get(fiber.HeaderAuthorization))
		if err != nil {
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
		p, err := a.store.authenticateKey(ctx, token)
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
func Require(scope Scope) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !PrincipalOf(c).Has(scope) {
			c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm="gridmetrics", error="insufficient_scope", scope=%q`, scope))
			return api.Errorf(api.CodeForbidden, "this credential lacks the %q scope", scope)
		}
		return c.Next()
	}
}
