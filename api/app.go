// Package api holds the HTTP plumbing shared by every resource: the Fiber
// app and its middleware, the response envelope, errors and pagination.
// It knows nothing of the domain; each domain package mounts its own routes.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Config configures the HTTP app. Zero fields take their defaults.
type Config struct {
	// BodyLimit is the largest request body, in bytes after
	// decompression, of a route that belongs to none of BodyLimits.
	// Default 256 KiB.
	BodyLimit int
	// BodyLimits are the limits of route classes (ingest, OCPP, …) by
	// path prefix. A body declared larger than its route's limit is
	// refused with 413 before any of it is read.
	BodyLimits []BodyLimit
	// MaxConns is the largest number of open client connections; more are
	// refused with 503 by LimitConns, which the caller puts around the
	// listener. Default 4096.
	MaxConns int
	// ReadHeaderTimeout bounds the time from the start of a request (or
	// from a new connection) to the end of its headers; default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a request's body after its headers;
	// default 60s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response that is not a stream;
	// default 60s.
	WriteTimeout time.Duration
	// StreamWriteTimeout bounds each write of a streamed answer (CSV,
	// Arrow, exports): a stream lasts as long as the client keeps reading.
	// Default 60s.
	StreamWriteTimeout time.Duration
	// RequestTimeout is the deadline of a request's context (its database
	// work, and the query of a streamed answer); default 60s.
	RequestTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections; default 120s. It also
	// bounds how long a graceful shutdown waits for idle clients.
	IdleTimeout time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (see ClientAddr); empty, the default, trusts none and
	// every client is its TCP peer.
	TrustedProxies []netip.Prefix
	// Logger receives access and error logs; default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns the config with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.BodyLimit <= 0 {
		c.BodyLimit = 256 << 10
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4096
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.StreamWriteTimeout <= 0 {
		c.StreamWriteTimeout = 60 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// New returns a Fiber app with request ids, panic recovery, access logs,
// bounded request bodies, request contexts, server limits and the error
// envelope in place.
func New(cfg Config) *fiber.App {
	cfg = cfg.WithDefaults()
	limits := bodyLimits{def: cfg.BodyLimit, classes: cfg.BodyLimits}
	app := fiber.New(fiber.Config{
		AppName: "gridmetrics",
		// Bodies are streamed and read through ReadBody, each route within
		// its own limit; Fasthttp only pre-reads up to 8 KiB of them.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    limits.max(),
		// LimitConns around the listener keeps to MaxConns and answers the
		// rest; Fasthttp's own limit, with room for workers being released,
		// is a backstop that answers in plain text.
		Concurrency: cfg.MaxConns + cfg.MaxConns/4 + refusers,
		// Fasthttp applies ReadTimeout from the start of a request; the
		// header hook gives the body its own time once the headers are in.
		ReadTimeout:           cfg.ReadHeaderTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(cfg.Logger),
	})
	app.Server().HeaderReceived = limits.headerReceived(fasthttp.RequestConfig{ReadTimeout: cfg.ReadTimeout})
	app.Use(requestID, clientAddress(cfg.TrustedProxies), accessLog(cfg.Logger), recoverPanic(cfg.Logger), bodyGuard(limits),
		requestContext(cfg.RequestTimeout, cfg.StreamWriteTimeout, cfg.Logger))
	return app
}

// recoverPanic turns a panic in a handler into a 500 and logs its stack.
func recoverPanic(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", "request_id", RequestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return c.Next()
	}
}

func accessLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			// The error handler runs after this middleware returns; log the
			// status the error will be rendered with.
			status = statusFor(err)
		}
		log.Info("request", "method", c.Method(), "path", c.Path(), "status", status, "client", ClientAddr(c),
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "request_id", RequestID(c))
		return err
	}
}

// statusFor is the HTTP status an error is rendered with.
func statusFor(err error) int {
	if e := AsError(err); e != nil {
		return e.Status()
	}
	if e := Unavailable(err); e != nil {
		return e.Status()
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return http.StatusInternalServerError
}

// fiberCodes maps Fiber's own errors (unknown route, body too large, …) to
// API codes.
var fiberCodes = map[int]Code{
	http.StatusNotFound:              CodeNotFound,
	http.StatusMethodNotAllowed:      CodeMethodNotAllowed,
	http.StatusRequestEntityTooLarge: CodeTooLarge,
	http.StatusUnauthorized:          CodeUnauthorized,
	http.StatusForbidden:             CodeForbidden,
	http.StatusTooManyRequests:       CodeRateLimited,
	http.StatusServiceUnavailable:    CodeUnavailable,
	http.StatusRequestTimeout:        CodeTimeout,
	// Headers larger than the read buffer (4 KiB).
	http.StatusRequestHeaderFieldsTooLarge: CodeTooLarge,
}

// errorHandler renders every error in the envelope of DESIGN §7. Internal
// errors are logged with the request id; the caller sees a generic message.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		if RequestID(c) == "" {
			// Errors raised before the middleware ran (body too large): honour
			// the caller's id as the middleware would have.
			setRequestID(c, c.Get(HeaderRequestID))
		}
		apiErr := AsError(err)
		var fe *fiber.Error
		switch {
		case apiErr != nil:
		case errors.As(err, &fe):
			code, ok := fiberCodes[fe.Code]
			switch {
			case ok:
			case fe.Code >= 500:
				code = CodeInternal
			default:
				code = CodeValidation
			}
			apiErr = &Error{Code: code, Message: fe.Message, status: fe.Code}
		case Unavailable(err) != nil:
			// An outage, not a bug: logged once per request at warning level.
			log.Warn("database unavailable", "request_id", RequestID(c), "method", c.Method(), "path", c.Path(), "err", err)
			apiErr = Unavailable(err)
		default:
			log.Error("internal error", "request_id", RequestID(c), "method", c.Method(), "path", c.Path(), "err", err)
			apiErr = Errorf(CodeInternal, "internal error; quote request id %s when reporting it", RequestID(c))
		}
		if apiErr.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(apiErr.RetryAfter))
		}
		return c.Status(apiErr.Status()).JSON(errorBody{Error: apiErr, Meta: metaOf(c)})
	}
}

type errorBody struct {
	Error *Error `json:"error"`
	Meta  Meta   `json:"meta"`
}
