package availability

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/query"
)

// Mount registers the availability routes on an authenticated router.
//
//	POST /ocpp/{chargeBoxId}/status-notification  (ingest) an OCPP 1.6 StatusNotification.req or 2.0.1 StatusNotificationRequest
//	GET  /sources/{id}/availability               (read) time in each state and availability per bucket
//	GET  /sites/{site_id}/availability            (read) the same, summed over the site's connectors
//
// Ranges are half-open: from (inclusive) and to (exclusive), RFC 3339;
// bucket and tz as on the query routes; no bucket is one bucket over the
// whole range.
func Mount(r fiber.Router, svc *Service) {
	h := handlers{svc: svc}
	r.Post("/ocpp/:chargeBoxId/status-notification", auth.Require(auth.ScopeIngest), h.statusNotification)
	r.Get("/sources/:id/availability", auth.Require(auth.ScopeRead), h.source)
	r.Get("/sites/:site_id/availability", auth.Require(auth.ScopeRead), h.site)
}

type handlers struct{ svc *Service }

// rangeParams are the parameters the availability routes take.
var rangeParams = []string{"from", "to", "tz", "bucket"}

// statusAnswer is the answer of the status route: the OCPP response
// payload to hand back to the charger (StatusNotification.conf is empty),
// and what was recorded.
type statusAnswer struct {
	OCPP     struct{} `json:"ocpp"`
	Recorded Recorded `json:"recorded"`
}

func (h handlers) statusNotification(c *fiber.Ctx) error {
	body, err := api.ReadBody(c)
	if err != nil {
		return err
	}
	// Cloned: Fiber's parameters point into the request's buffer, and the
	// resolver keeps the name in its cache.
	box := strings.Clone(c.Params("chargeBoxId"))
	rec, err := h.svc.StatusNotification(c.UserContext(), auth.PrincipalOf(c).TenantID, box, body)
	if err != nil {
		return err
	}
	return api.OK(c, statusAnswer{Recorded: rec})
}

// answerEnvelope is the JSON envelope of an availability answer: the
// answer's meta beside the request id.
type answerEnvelope struct {
	Data []Bucket `json:"data"`
	Meta struct {
		RequestID string `json:"request_id"`
		Meta
	} `json:"meta"`
}

func (h handlers) render(c *fiber.Ctx, a *Answer) error {
	var env answerEnvelope
	env.Data, env.Meta.Meta, env.Meta.RequestID = a.Rows, a.Meta, api.RequestID(c)
	return c.Status(fiber.StatusOK).JSON(env)
}

func (h handlers) source(c *fiber.Ctx) error {
	r, err := query.ParseRange(c, rangeParams)
	if err != nil {
		return err
	}
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	a, err := h.svc.Source(c.UserContext(), auth.PrincipalOf(c).TenantID, ref, r)
	if err != nil {
		return err
	}
	return h.render(c, a)
}

func (h handlers) site(c *fiber.Ctx) error {
	r, err := query.ParseRange(c, rangeParams)
	if err != nil {
		return err
	}
	a, err := h.svc.Site(c.UserContext(), auth.PrincipalOf(c).TenantID, c.Params("site_id"), r)
	if err != nil {
		return err
	}
	return h.render(c, a)
}
