package api

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// PathParam returns a route parameter percent-decoded and copied out of the
// request's buffer. Fiber matches routes on the path as sent and leaves
// parameters encoded, so a name with a slash travels as %2F
// (/v1/sources/CB-0042%2F1/energy) and is decoded here, once.
func PathParam(c *fiber.Ctx, name string) (string, error) {
	raw := c.Params(name)
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", Validation(name, "%q is not a valid percent-encoded path segment", raw)
	}
	return strings.Clone(v), nil
}
