package rollups

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers GET /rollups/status (admin) on an authenticated router.
// Rollups are shared by all tenants: a tenant's admin sees the tiers'
// progress and TimescaleDB's jobs, which hold no tenant's data, and only
// its own tenant's late data; never an error's text.
func Mount(r fiber.Router, pool *pgxpool.Pool) {
	r.Get("/rollups/status", auth.Require(auth.ScopeAdmin), func(c *fiber.Ctx) error {
		st, err := ReadStatus(c.UserContext(), pool, auth.PrincipalOf(c).TenantID, time.Now())
		if err != nil {
			return err
		}
		return api.OK(c, st)
	})
}
