package sources

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers the source and metric catalogue routes on an
// authenticated router. The :id of a source is a reference: its public id
// or its external id, percent-encoded (see LookupIDs and api.PathParam).
func Mount(r fiber.Router, st *Store) {
	h := handlers{st: st}
	r.Get("/sources", auth.Require(auth.ScopeRead), h.list)
	r.Post("/sources", auth.Require(auth.ScopeAdmin), h.create)
	r.Get("/sources/:id", auth.Require(auth.ScopeRead), h.get)
	r.Patch("/sources/:id", auth.Require(auth.ScopeAdmin), h.update)
	r.Delete("/sources/:id", auth.Require(auth.ScopeAdmin), h.delete)
	r.Get("/metrics", auth.Require(auth.ScopeRead), h.metrics)
}

type handlers struct{ st *Store }

func (h handlers) list(c *fiber.Ctx) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	f := Filter{Kind: Kind(c.Query("kind")), SiteID: c.Query("site_id"), ExternalID: c.Query("external_id"), Sort: c.Query("sort")}
	if f.Kind != "" {
		if err := validateKind(f.Kind); err != nil {
			return err
		}
	}
	list, total, err := h.st.List(c.UserContext(), auth.PrincipalOf(c).TenantID, f, page)
	if err != nil {
		return err
	}
	return api.List(c, list, api.PagePagination(page, total))
}

func (h handlers) create(c *fiber.Ctx) error {
	if isCSV(c) {
		return h.createManyCSV(c)
	}
	if bulk, err := isBulk(c); err != nil || bulk {
		if err != nil {
			return err
		}
		return h.createMany(c)
	}
	var n NewSource
	if err := api.DecodeJSON(c, &n); err != nil {
		return err
	}
	s, err := h.st.Create(c.UserContext(), auth.PrincipalOf(c).TenantID, n)
	if err != nil {
		return err
	}
	c.Location("/v1/sources/" + s.PublicID)
	return api.Created(c, s)
}

func (h handlers) get(c *fiber.Ctx) error {
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	s, err := h.st.Get(c.UserContext(), auth.PrincipalOf(c).TenantID, ref)
	if err != nil {
		return err
	}
	return api.OK(c, s)
}

func (h handlers) update(c *fiber.Ctx) error {
	var p Patch
	if err := api.DecodeJSON(c, &p); err != nil {
		return err
	}
	body, err := api.ReadBody(c) // read once by DecodeJSON
	if err != nil {
		return err
	}
	if err := rejectNulls(body); err != nil {
		return err
	}
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	s, err := h.st.Update(c.UserContext(), auth.PrincipalOf(c).TenantID, ref, p)
	if err != nil {
		return err
	}
	return api.OK(c, s)
}

func (h handlers) delete(c *fiber.Ctx) error {
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	if err := h.st.Delete(c.UserContext(), auth.PrincipalOf(c).TenantID, ref); err != nil {
		return err
	}
	return api.NoContent(c)
}

func (h handlers) metrics(c *fiber.Ctx) error {
	list, err := h.st.Metrics(c.UserContext())
	if err != nil {
		return err
	}
	return api.OK(c, list)
}
