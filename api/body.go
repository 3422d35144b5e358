package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// BodyLimit is the body limit of one class of routes: every route whose
// path starts with Prefix ("/v1/readings") accepts bodies of at most Limit
// bytes, after decompression. The longest matching prefix wins.
type BodyLimit struct {
	Prefix string
	Limit  int
}

// Request bodies are streamed (fiber.Config.StreamRequestBody): Fasthttp
// reads at most a few KiB before the handler runs, and ReadBody reads the
// rest through a limit. Nothing else may read a body: Fiber's Ctx.Body and
// BodyParser would read the whole stream, and inflate it, without a bound.

const (
	bodyKey        = "gridmetrics.body"
	bodyLimitKey   = "gridmetrics.body_limit"
	bodyReadKey    = "gridmetrics.body_read" // the stream was read to its end
	bodyInitialCap = 64 << 10

	// headerRefused marks, between the header hook and the first
	// middleware, a request whose declared body is over its route's limit.
	// Its value is the declared length; a client's own header of that
	// name is removed first.
	headerRefused = "X-Gridmetrics-Refused-Body"
)

// bodyLimits finds the limit of a request path.
type bodyLimits struct {
	def     int
	classes []BodyLimit
}

// of is the limit of a route: 0 for GET and HEAD (they take no body), the
// longest matching class, else the default.
func (b bodyLimits) of(method, path string) int {
	if method == fiber.MethodGet || method == fiber.MethodHead {
		return 0
	}
	limit, best := b.def, -1
	for _, c := range b.classes {
		if len(c.Prefix) > best && strings.HasPrefix(path, c.Prefix) {
			limit, best = c.Limit, len(c.Prefix)
		}
	}
	return limit
}

// max is the largest limit of any route.
func (b bodyLimits) max() int {
	m := b.def
	for _, c := range b.classes {
		m = max(m, c.Limit)
	}
	return m
}

// headerReceived runs once a request's headers are read and before Fasthttp
// reads anything of its body. A body declared larger than its route
// accepts is not read at all: the request goes on with an empty body and a
// mark, and the first middleware refuses it (refuseMarked). Without this,
// Fasthttp would wait for the first 8 KiB of the body, however slowly the
// client sends them. conf is what every request gets (its read timeout).
func (b bodyLimits) headerReceived(conf fasthttp.RequestConfig) func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		h.Del(headerRefused)
		path := requestPath(string(h.RequestURI()))
		limit := b.of(string(h.Method()), path)
		switch cl := h.ContentLength(); {
		case cl > limit, cl == -1 && limit == 0:
			declared := strconv.Itoa(cl)
			if cl == -1 {
				declared = "chunked"
			}
			h.SetContentLength(0)
			h.Del(fiber.HeaderExpect) // no "100 Continue": the body is not wanted
			h.Set(headerRefused, declared)
		}
		return conf
	}
}

// requestPath is the path of a request target: origin form
// ("/v1/readings?x=1") or absolute form ("http://host/v1/readings").
func requestPath(target string) string {
	target, _, _ = strings.Cut(target, "?")
	if _, rest, ok := strings.Cut(target, "://"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			return rest[i:]
		}
		return "/"
	}
	return target
}

// refuseMarked answers 413 to a request whose body headerReceived refused.
func refuseMarked(c *fiber.Ctx) error {
	declared := c.Get(headerRefused)
	if declared == "" {
		return nil
	}
	c.Context().SetConnectionClose() // the body is still on the wire
	limit, _ := c.Locals(bodyLimitKey).(int)
	if limit == 0 {
		return &Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s %s takes no request body", c.Method(), c.Path()),
			Details: map[string]any{"limit_bytes": 0}}
	}
	return tooLarge(limit, declared)
}

func tooLarge(limit int, declared string) *Error {
	d := map[string]any{"limit_bytes": limit}
	msg := fmt.Sprintf("the request body exceeds this route's limit of %d bytes", limit)
	if n, err := strconv.Atoi(declared); err == nil {
		d["content_length"] = n
		msg = fmt.Sprintf("Content-Length %d exceeds this route's limit of %d bytes", n, limit)
	}
	return &Error{Code: CodeTooLarge, Message: msg, Details: d}
}

// BodyLimitOf is the body limit of the route serving c, in bytes.
func BodyLimitOf(c *fiber.Ctx) int {
	limit, _ := c.Locals(bodyLimitKey).(int)
	return limit
}

// ReadBody reads the request body, gunzipped when Content-Encoding is gzip,
// bounded by the route's limit (BodyLimit) before and after decompression.
// A body declared larger than the limit is refused before any of it is
// read. Other encodings, chained ones included, are refused (400). The
// body is read once; later calls return the same bytes, which the caller
// may keep.
func ReadBody(c *fiber.Ctx) ([]byte, error) {
	if b, ok := c.Locals(bodyKey).([]byte); ok {
		return b, nil
	}
	limit := BodyLimitOf(c)
	body, err := readBody(c, limit)
	if err != nil {
		// What is left of the body would be read as the next request.
		c.Context().SetConnectionClose()
		return nil, err
	}
	c.Locals(bodyKey, body)
	return body, nil
}

func readBody(c *fiber.Ctx, limit int) ([]byte, error) {
	cl := c.Request().Header.ContentLength()
	if cl > limit {
		return nil, tooLarge(limit, strconv.Itoa(cl))
	}
	gzipped, err := contentEncoding(c.Get(fiber.HeaderContentEncoding))
	if err != nil {
		return nil, err
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		// Not streamed (a request built in a test, or no body at all).
		stream = bytes.NewReader(c.Request().Body())
	}
	raw := &eofReader{r: stream, onEOF: func() { c.Locals(bodyReadKey, true) }}
	var src io.Reader = io.LimitReader(raw, int64(limit)+1)
	counted := &countReader{r: src}
	src = counted
	if gzipped {
		zr, err := gzip.NewReader(counted)
		switch {
		case errors.Is(err, io.EOF):
			return nil, Validation("", "the gzip body is empty")
		case err != nil:
			return nil, readError(err, "the body is not valid gzip")
		}
		src = zr
	}
	body, err := readAll(src, min(max(cl, 0), bodyInitialCap), limit+1)
	n := len(body)
	switch {
	case counted.n > int64(limit):
		return nil, tooLarge(limit, "")
	case n > limit:
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("the decompressed body exceeds this route's limit of %d bytes", limit),
			Details: map[string]any{"limit_bytes": limit}}
	case err != nil && gzipped:
		return nil, readError(err, "the body is not valid gzip")
	case err != nil:
		return nil, readError(err, "the body could not be read")
	}
	return body, nil
}

// readAll reads r to its end or to max bytes, whichever comes first. The
// buffer starts at initial bytes and doubles, but never past max: a body
// at the limit costs its size, not twice.
func readAll(r io.Reader, initial, max int) ([]byte, error) {
	b := make([]byte, 0, min(max, initial+bytes.MinRead))
	for len(b) < max {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(max, 2*cap(b))-len(b))
		}
		n, err := r.Read(b[len(b):min(cap(b), max)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// contentEncoding accepts no encoding or one gzip layer.
func contentEncoding(enc string) (gzipped bool, err error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
		return false, nil
	case "gzip", "x-gzip":
		return true, nil
	}
	msg := fmt.Sprintf("Content-Encoding %q is not accepted; send gzip or no encoding", enc)
	if strings.Contains(enc, ",") {
		msg = fmt.Sprintf("Content-Encoding %q: chained encodings are not accepted; send one gzip layer or none", enc)
	}
	return false, &Error{Code: CodeValidation, Message: msg, Details: map[string]any{"field": "Content-Encoding", "accepted": []string{"gzip", "identity"}}}
}

// readError tells a client that sent too slowly from a body that is broken.
func readError(err error, what string) *Error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Errorf(CodeTimeout, "the request body did not arrive in time")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return Validation("", "%s: it ends early", what)
	}
	return Validation("", "%s: %v", what, err)
}

// eofReader calls onEOF once its reader reports the end.
type eofReader struct {
	r     io.Reader
	onEOF func()
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) && e.onEOF != nil {
		e.onEOF()
		e.onEOF = nil
	}
	return n, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bodyGuard sets the route's body limit for ReadBody, refuses bodies that
// headerReceived marked, and closes the connection after a request whose
// body was not read to its end: the rest of it would otherwise be parsed
// as the next request.
func bodyGuard(limits bodyLimits) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(bodyLimitKey, limits.of(c.Method(), c.Path()))
		if err := refuseMarked(c); err != nil {
			return err
		}
		err := c.Next()
		if cl := c.Request().Header.ContentLength(); cl != 0 && cl != -2 {
			if read, _ := c.Locals(bodyReadKey).(bool); !read {
				c.Context().SetConnectionClose()
			}
		}
		return err
	}
}
