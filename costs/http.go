package costs

import (
	"slices"
	"strings"
	"time"

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
	var err error
	c.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		if name := string(k); err == nil && !strings.HasPrefix(name, "_") && !slices.Contains(allowed, name) {
			err = api.Validation(name, "unknown parameter (this route takes %s)", strings.Join(allowed, ", "))
		}
	})
	if err != nil {
		return Request{}, err
	}
	r := Request{Bucket: strings.Clone(c.Query("bucket")), TZ: strings.Clone(c.Query("tz")), TariffID: strings.Clone(c.Query("tariff_id"))}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &r.From}, {"to", &r.To}} {
		s := c.Query(p.name)
		if s == "" {
			continue
		}
		// An unescaped "+" of an offset arrives as a space.
		s = strings.ReplaceAll(s, " ", "+")
		if *p.dst, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return Request{}, api.Validation(p.name, "%q is not an RFC 3339 time", s)
		}
	}
	if slices.Contains(allowed, "breakdown") {
		switch b := c.Query("breakdown"); b {
		case "", "false", "0":
		case "true", "1":
			r.Breakdown = true
		default:
			return Request{}, api.Validation("breakdown", "%q is not true or false", b)
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
