package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
)

// StaticToken requires Authorization: Bearer <token> on the routes after it,
// for endpoints such as /metrics that a scraper reads with one configured
// secret rather than a tenant's credential. The comparison is of hashes in
// constant time, so neither the token's content nor its length leaks.
func StaticToken(token string) fiber.Handler {
	want := sha256.Sum256([]byte(token))
	return func(c *fiber.Ctx) error {
		scheme, got, _ := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="gridmetrics-metrics"`)
			return api.Errorf(api.CodeUnauthorized, "this endpoint needs Authorization: Bearer <metrics token>")
		}
		return c.Next()
	}
}
