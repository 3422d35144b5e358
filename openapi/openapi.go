// Package openapi holds the API's contract: an OpenAPI 3.1 document,
// written by hand in openapi.json and served as it is at
// GET /v1/openapi.json.
//
// The document is written, not generated: it says what a client may rely
// on (shapes, codes, scopes, examples) in prose and schema, which the
// handlers' Go types cannot. The tests of cmd/gridmetrics keep it true:
// the routes the server mounts and the operations of the document must be
// the same set, and every request and answer of the end-to-end tests is
// validated against it.
package openapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

//go:embed openapi.json
var document []byte

// Path is where the document is served.
const Path = "/v1/openapi.json"

// Document returns the OpenAPI document (JSON). Callers must not change it.
func Document() []byte { return document }

// Mount serves the document at Path without credentials. It must be
// mounted before the authenticated /v1 group, whose middleware would
// otherwise ask for them.
func Mount(r fiber.Router) {
	r.Get(Path, func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Send(document)
	})
}
