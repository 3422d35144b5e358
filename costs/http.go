package costs

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers the cost routes on an authenticated router; both
// need the read or billing scope.
//
//	GET /sources/{id}/cost       a source's energy priced with its supply and export tariffs
//	GET /sites/{site_id}/cost    the same summed over a site's members
//
// Parameters: from and to (RFC 3339, the half-open range [from, to), on
// quarter hours, at most 400 days), bucket (day or month, default month),
// tz (the buckets' zone), tariff_id (price with this tariff instead of the
// assigned ones) and, for a site, breakdown=true for each member's share.
func Mount(r fiber.Router, svc *Service) {
	h := handlers{svc: svc}
	read := auth.RequireAny(auth.ScopeRead, auth.ScopeBilling)
	r.Get("/sources/:id/cost", read, h.source)
	r.Get("/sites/:site_id/cost", read, h.site)
}

type handlers struct{ svc *Service }

func tenant(c *fiber.Ctx) int64 { return auth.PrincipalOf(c).TenantID }

var (
	costParams     = []string{"from", "to", "bucket", "tz", "tariff_id"}
	siteCostParams = append([]string{"breakdown"}, costParams...)
)

func costRequest(c *fiber.Ctx, allowed []string) (Request, error) {
	if err := api.RejectUnknownParams(c, allowed); err != nil {
		return Request{}, err
	}
	r := Request{Bucket: strings.Clone(c.Query("bucket")), TZ: strings.Clone(c.Query("tz")), TariffID: strings.Clone(c.Query("tariff_id"))}
	var err error
	if r.From, err = api.QueryTime(c, "from"); err != nil {
		return Request{}, err
	}
	if r.To, err = api.QueryTime(c, "to"); err != nil {
		return Request{}, err
	}
	if slices.Contains(allowed, "breakdown") {
		if r.Breakdown, err = api.QueryBool(c, "breakdown"); err != nil {
			return Request{}, err
		}
	}
	return r, nil
}

func (h handlers) source(c *fiber.Ctx) error {
	r, err := costRequest(c, costParams)
	if err != nil {
		return err
	}
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	out, err := h.svc.SourceCost(c.UserContext(), tenant(c), ref, r)
	if err != nil {
		return err
	}
	return api.OK(c, out)
}

func (h handlers) site(c *fiber.Ctx) error {
	r, err := costRequest(c, siteCostParams)
	if err != nil {
		return err
	}
	out, err := h.svc.SiteCost(c.UserContext(), tenant(c), strings.Clone(c.Params("site_id")), r)
	if err != nil {
		return err
	}
	return api.OK(c, out)
}
