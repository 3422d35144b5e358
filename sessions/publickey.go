package sessions

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/ocmf"
	"github.com/gridmetrics/gridmetrics/sources"
)

// The OCMF public key of a charger is kept in its source's metadata
// (PublicKeyMetadata), where pricing and verification read it; these
// routes set it after checking that it is a key OCMF records can be
// verified with, which a plain metadata update does not.

type publicKeyBody struct {
	PublicKey string `json:"public_key"`
}

// SetPublicKey registers the OCMF public key of source ref (public id or
// external id of a connector, or of a charge box for all its connectors):
// DER SubjectPublicKeyInfo in hex, base64 or PEM, at most
// ocmf.MaxPublicKeyBytes.
func (svc *Service) SetPublicKey(ctx context.Context, tenantID int64, ref, key string) error {
	key = strings.TrimSpace(key)
	if len(key) > ocmf.MaxPublicKeyBytes {
		return api.Validation("public_key", "is %d bytes; at most %d are allowed", len(key), ocmf.MaxPublicKeyBytes)
	}
	if _, err := ocmf.ParsePublicKey(key); err != nil {
		return api.Validation("public_key", "%v", err)
	}
	id, err := sources.LookupID(ctx, svc.store.db, tenantID, ref)
	if err != nil {
		return err
	}
	tag, err := svc.store.db.Exec(ctx, `UPDATE sources SET metadata = jsonb_set(metadata, ARRAY[$3::text], to_jsonb($4::text))
		WHERE tenant_id = $1 AND id = $2`, tenantID, id, PublicKeyMetadata, key)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 { // deleted since the lookup
		return api.NotFound("source", ref)
	}
	return nil
}

// PublicKey returns the OCMF public key registered on source ref (public
// id or external id), "" when none is.
func (svc *Service) PublicKey(ctx context.Context, tenantID int64, ref string) (string, error) {
	id, err := sources.LookupID(ctx, svc.store.db, tenantID, ref)
	if err != nil {
		return "", err
	}
	var key *string
	err = svc.store.db.QueryRow(ctx, `SELECT metadata ->> $3 FROM sources WHERE tenant_id = $1 AND id = $2`,
		tenantID, id, PublicKeyMetadata).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) { // deleted since the lookup
		return "", api.NotFound("source", ref)
	}
	if err != nil || key == nil {
		return "", err
	}
	return *key, nil
}

func (h handlers) setPublicKey(c *fiber.Ctx) error {
	var b publicKeyBody
	if err := api.DecodeJSON(c, &b); err != nil {
		return err
	}
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	if err := h.svc.SetPublicKey(c.UserContext(), tenantOf(c), ref, b.PublicKey); err != nil {
		return err
	}
	return api.NoContent(c)
}

func (h handlers) publicKey(c *fiber.Ctx) error {
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	key, err := h.svc.PublicKey(c.UserContext(), tenantOf(c), ref)
	if err != nil {
		return err
	}
	return api.OK(c, publicKeyBody{PublicKey: key})
}
