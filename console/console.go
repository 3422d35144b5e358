package console

import (
	"embed"
	"errors"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// built is Vite's output: index.html (the console), docs/index.html (the
// API reference) and assets/ (scripts, styles and fonts, content-hashed).
// "all:" keeps the committed placeholder, so the folder is never empty.
//
//go:embed all:dist
var built embed.FS

// Built returns the embedded build output.
func Built() fs.FS {
	sub, err := fs.Sub(built, "dist")
	if err != nil {
		panic(err) // a literal path of the embed above
	}
	return sub
}

// policy is the pages' Content-Security-Policy: scripts, styles, images and
// API calls from this origin only, no inline scripts or styles, and no
// framing. Swagger UI and uPlot set element styles through the CSSOM, which
// style-src does not govern.
const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// notBuilt is the page served when the build output is missing, as in a
// clean checkout built with go build alone.
const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gridmetrics: the console is not built</title></head>
<body><h1>The console is not built</h1>
<p>This binary was built without the web console and API reference. Run <code>make build</code>
(or <code>make run</code>), which builds them with npm before the binary. The API itself works: see <code>/v1</code>.</p>
</body></html>
`

// Mount serves, without authentication, the console at GET /, the API
// reference at GET /docs and their assets under /assets/, from site (see
// Built). The API stays under /v1, outside of this.
func Mount(r fiber.Router, site fs.FS) {
	r.Get("/", page(site, "index.html"))
	r.Get("/docs", page(site, "docs/index.html"))
	r.Get("/assets/*", asset(site))
}

// page serves one HTML page, never cached without revalidation: a new
// binary brings new asset names.
func page(site fs.FS, name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		securityHeaders(c)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Type("html", "utf-8")
		b, err := fs.ReadFile(site, name)
		if errors.Is(err, fs.ErrNotExist) {
			c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'")
			return c.Status(fiber.StatusServiceUnavailable).SendString(notBuilt)
		}
		if err != nil {
			return err
		}
		return c.Send(b)
	}
}

// asset serves a file of assets/. Vite puts a hash of its content into
// every name there, so a name never changes meaning: cached for a year.
func asset(site fs.FS) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name := c.Params("*")
		if name == "" || strings.Contains(name, "..") || !fs.ValidPath(name) {
			return fiber.ErrNotFound
		}
		b, err := fs.ReadFile(site, path.Join("assets", name))
		if errors.Is(err, fs.ErrNotExist) {
			return fiber.ErrNotFound
		}
		if err != nil {
			return err
		}
		securityHeaders(c)
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		if t := mime.TypeByExtension(path.Ext(name)); t != "" {
			c.Set(fiber.HeaderContentType, t)
		} else {
			c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
		}
		return c.Send(b)
	}
}

func securityHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderContentSecurityPolicy, policy)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
}
