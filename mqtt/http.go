package mqtt

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers the dead-letter route on an authenticated router.
//
//	GET /mqtt/rejections  (read) the tenant's rejected MQTT messages, newest first; page, limit
//
// It answers whether or not the service is connected to a broker: the
// record is in the database, shared by the replicas.
func Mount(r fiber.Router, rej *Rejections) {
	r.Get("/mqtt/rejections", auth.Require(auth.ScopeRead), func(c *fiber.Ctx) error {
		page, err := api.ParsePage(c)
		if err != nil {
			return err
		}
		list, total, err := rej.List(c.UserContext(), auth.PrincipalOf(c).TenantID, page)
		if err != nil {
			return err
		}
		if list == nil {
			list = []Rejection{}
		}
		return api.List(c, list, api.PagePagination(page, total))
	})
}
