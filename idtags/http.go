package idtags

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers the policy routes (scope admin) on the /v1 router:
// GET and PUT /ocpp/id-tag-policy, GET /ocpp/id-tags, PUT and DELETE
// /ocpp/id-tags/{tag}. Their bodies are the OCPP class's (api.ReadBody).
func Mount(r fiber.Router, svc *Service) {
	h := handlers{svc: svc}
	admin := auth.Require(auth.ScopeAdmin)
	r.Get("/ocpp/id-tag-policy", admin, h.policy)
	r.Put("/ocpp/id-tag-policy", admin, h.setPolicy)
	r.Get("/ocpp/id-tags", admin, h.list)
	r.Put("/ocpp/id-tags/:tag", admin, h.put)
	r.Delete("/ocpp/id-tags/:tag", admin, h.delete)
}

type handlers struct{ svc *Service }

func tenantOf(c *fiber.Ctx) int64 { return auth.PrincipalOf(c).TenantID }

type policyBody struct {
	Mode Mode `json:"mode"`
}

func (h handlers) policy(c *fiber.Ctx) error {
	mode, err := h.svc.Policy(c.UserContext(), tenantOf(c))
	if err != nil {
		return err
	}
	return api.OK(c, policyBody{Mode: mode})
}

func (h handlers) setPolicy(c *fiber.Ctx) error {
	var b policyBody
	if err := api.DecodeJSON(c, &b); err != nil {
		return err
	}
	if b.Mode != AcceptAll && b.Mode != List {
		return api.Validation("mode", "%q is not accept_all or list", b.Mode)
	}
	if err := h.svc.SetPolicy(c.UserContext(), tenantOf(c), b.Mode); err != nil {
		return err
	}
	return api.OK(c, b)
}

func (h handlers) list(c *fiber.Ctx) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	list, total, err := h.svc.Store().List(c.UserContext(), tenantOf(c), page)
	if err != nil {
		return err
	}
	return api.List(c, list, api.PagePagination(page, total))
}

// maxNote is the longest note kept with a tag.
const maxNote = 200

type tagBody struct {
	Status    TagStatus  `json:"status"`
	ExpiresAt *time.Time `json:"expires_at"`
	Note      string     `json:"note"`
}

// tagParam reads the {tag} of the path: 1 to MaxTagLength printable ASCII
// characters, as OCPP's CiString and identifierString are.
func tagParam(c *fiber.Ctx) (string, error) {
	tag, err := url.PathUnescape(c.Params("tag"))
	if err != nil {
		return "", api.Validation("tag", "the tag in the path is not properly escaped")
	}
	if err := ValidateTag(tag); err != nil {
		return "", err
	}
	return tag, nil
}

// ValidateTag checks an id tag given to the API.
func ValidateTag(tag string) error {
	if len(tag) < 1 || len(tag) > MaxTagLength {
		return api.Validation("tag", "must be 1 to %d characters, got %d", MaxTagLength, len(tag))
	}
	for i := 0; i < len(tag); i++ {
		if tag[i] < 0x20 || tag[i] > 0x7e {
			return api.Validation("tag", "must be printable ASCII (OCPP CiString)")
		}
	}
	return nil
}

func (h handlers) put(c *fiber.Ctx) error {
	tag, err := tagParam(c)
	if err != nil {
		return err
	}
	var b tagBody
	if err := api.DecodeJSON(c, &b); err != nil {
		return err
	}
	if b.Status != TagAccepted && b.Status != TagBlocked {
		return api.Validation("status", "%q is not accepted or blocked", b.Status)
	}
	if len(b.Note) > maxNote {
		return api.Validation("note", "must be at most %d bytes, got %d", maxNote, len(b.Note))
	}
	if b.ExpiresAt != nil {
		at := b.ExpiresAt.UTC()
		b.ExpiresAt = &at
	}
	t, created, err := h.svc.Put(c.UserContext(), tenantOf(c), Tag{Tag: tag, Status: b.Status, ExpiresAt: b.ExpiresAt, Note: b.Note})
	if err != nil {
		return err
	}
	if created {
		return api.Created(c, t)
	}
	return api.OK(c, t)
}

func (h handlers) delete(c *fiber.Ctx) error {
	tag, err := tagParam(c)
	if err != nil {
		return err
	}
	if err := h.svc.Store().Delete(c.UserContext(), tenantOf(c), tag); err != nil {
		return err
	}
	return api.NoContent(c)
}
