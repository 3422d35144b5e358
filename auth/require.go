package auth

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
)

// RequireAny answers 403 unless the caller holds one of the scopes.
func RequireAny(scopes ...Scope) fiber.Handler {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = strconv.Quote(string(s))
	}
	need := strings.Join(names, " or ")
	return func(c *fiber.Ctx) error {
		if slices.ContainsFunc(scopes, PrincipalOf(c).Has) {
			return c.Next()
		}
		c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm="gridmetrics", error="insufficient_scope", scope=%q`, scopes[0]))
		return api.Errorf(api.CodeForbidden, "this credential lacks the %s scope", need)
	}
}
