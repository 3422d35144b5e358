package sites

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers the site routes on an authenticated router: reading
// takes the read scope, changing the admin scope, as for sources. The
// :site_id is the site's id, percent-encoded (see api.PathParam).
func Mount(r fiber.Router, st *Store) {
	h := handlers{st: st}
	r.Get("/sites", auth.Require(auth.ScopeRead), h.list)
	r.Post("/sites", auth.Require(auth.ScopeAdmin), h.create)
	r.Get("/sites/:site_id", auth.Require(auth.ScopeRead), h.get)
	r.Patch("/sites/:site_id", auth.Require(auth.ScopeAdmin), h.update)
	r.Delete("/sites/:site_id", auth.Require(auth.ScopeAdmin), h.delete)
}

type handlers struct{ st *Store }

func (h handlers) list(c *fiber.Ctx) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	list, total, err := h.st.List(c.UserContext(), auth.PrincipalOf(c).TenantID, page)
	if err != nil {
		return err
	}
	return api.List(c, list, api.PagePagination(page, total))
}

func (h handlers) create(c *fiber.Ctx) error {
	var n NewSite
	if err := api.DecodeJSON(c, &n); err != nil {
		return err
	}
	s, err := h.st.Create(c.UserContext(), auth.PrincipalOf(c).TenantID, n)
	if err != nil {
		return err
	}
	c.Location("/v1/sites/" + url.PathEscape(s.ID))
	return api.Created(c, s)
}

func (h handlers) get(c *fiber.Ctx) error {
	id, err := api.PathParam(c, "site_id")
	if err != nil {
		return err
	}
	s, err := h.st.Get(c.UserContext(), auth.PrincipalOf(c).TenantID, id)
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
	if err := api.RejectNulls(body, notNullable...); err != nil {
		return err
	}
	id, err := api.PathParam(c, "site_id")
	if err != nil {
		return err
	}
	s, err := h.st.Update(c.UserContext(), auth.PrincipalOf(c).TenantID, id, p)
	if err != nil {
		return err
	}
	return api.OK(c, s)
}

func (h handlers) delete(c *fiber.Ctx) error {
	id, err := api.PathParam(c, "site_id")
	if err != nil {
		return err
	}
	if err := h.st.Delete(c.UserContext(), auth.PrincipalOf(c).TenantID, id); err != nil {
		return err
	}
	return api.NoContent(c)
}
