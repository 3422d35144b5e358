package api

import (
	"context"
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
			facts["status"] = "unavailable"
			return &Error{Code: CodeUnavailable, Message: "not ready: " + err.Error(), Details: facts}
		}
		facts["status"] = "ready"
		return OK(c, facts)
	})
}
