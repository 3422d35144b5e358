package api

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
)

// ReadinessFunc reports whether the service can serve: it returns facts
// worth showing (backend, schema version) and an error when not ready.
type ReadinessFunc func(ctx context.Context) (map[string]any, error)

// MountHealth registers GET /healthz (the process is up) and GET /readyz
// (its dependencies are usable). Neither needs credentials.
func MountHealth(r fiber.Router, ready ReadinessFunc) {
	r.Get("/healthz", func(c *fiber.Ctx) error {
		return OK(c, map[string]any{"status": "ok"})
	})
	r.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		facts, err := ready(ctx)
		if facts == nil {
			facts = map[string]any{}
		}
		if err != nil {
			// The route needs no credentials: say what is wrong, not the
			// driver's text, which may name hosts and users.
			facts["status"] = "unavailable"
			return &Error{Code: CodeUnavailable, RetryAfter: retryUnreachable, Message: "not ready: " + Reason(err), Details: facts}
		}
		facts["status"] = "ready"
		return OK(c, facts)
	})
}

// NotReady is an error whose text is safe to show on /readyz; any other
// readiness error is shown as a generic message.
type NotReady string

func (n NotReady) Error() string { return string(n) }

// Reason returns the text of a NotReady error in err's chain, or a generic
// message.
func Reason(err error) string {
	var n NotReady
	if errors.As(err, &n) {
		return string(n)
	}
	return "a dependency is unreachable; see the service log"
}
