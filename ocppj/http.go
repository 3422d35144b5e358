package ocppj

import (
	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// MountAPI registers PUT /sources/:id/ocpp-password (scope admin) on an
// authenticated router: it sets the password a charger (id: its src_… id
// or external id, the chargeBoxId) connects with, and answers 204. The
// password is stored hashed and never shown again; the box's open
// connection on this server, authenticated by the old one, is closed.
func (s *Server) MountAPI(r fiber.Router) {
	r.Put("/sources/:id/ocpp-password", auth.Require(auth.ScopeAdmin), s.setPassword)
}

type passwordBody struct {
	Password *string `json:"password"`
}

func (s *Server) setPassword(c *fiber.Ctx) error {
	var b passwordBody
	if err := api.DecodeJSON(c, &b); err != nil {
		return err
	}
	if b.Password == nil {
		return api.Validation("password", "is required")
	}
	if err := validatePassword(*b.Password); err != nil {
		return err
	}
	hash, err := hashPassword(*b.Password)
	if err != nil {
		return err
	}
	tenant := auth.PrincipalOf(c).TenantID
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	box, err := s.Store.SetPassword(c.UserContext(), tenant, ref, hash)
	if err != nil {
		return err
	}
	if old := s.hub.get(tenant, box); old != nil {
		old.close(websocket.ClosePolicyViolation, "the charge box's password changed")
	}
	return api.NoContent(c)
}
