package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// isBulk tells a bulk registration ({"sources": [...]}) from a single
// source: a source has no "sources" field. Malformed bodies are left to
// the single create, which reports them.
func isBulk(c *fiber.Ctx) (bool, error) {
	body, err := api.ReadBody(c)
	if err != nil {
		return false, err
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return false, nil
	}
	_, ok := fields["sources"]
	return ok, nil
}

// createMany answers a bulk registration: 200 with one result per item,
// whatever each item's outcome; an item that is not a JSON object makes
// the request malformed.
func (h handlers) createMany(c *fiber.Ctx) error {
	var req struct {
		Sources []json.RawMessage `json:"sources"`
	}
	if err := api.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.Sources == nil {
		return api.Validation("sources", "must be an array of sources")
	}
	if len(req.Sources) == 0 {
		return api.Validation("sources", "is empty; send at least one source")
	}
	if len(req.Sources) > MaxBulk {
		return tooMany(len(req.Sources))
	}
	items := make([]BulkItem, len(req.Sources))
	for i, raw := range req.Sources {
		field := fmt.Sprintf("sources[%d]", i)
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return api.Validation(field, "must be a JSON object")
		}
		items[i].Invalid = decodeItem(raw, field, &items[i].Source)
	}
	out, err := h.st.CreateMany(c.UserContext(), auth.PrincipalOf(c).TenantID, items)
	if err != nil {
		return err
	}
	return api.OK(c, out)
}

// decodeItem decodes one source as a single create would, naming the
// offending field of a rejected item.
func decodeItem(raw json.RawMessage, field string, n *NewSource) *api.Error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(n)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return api.Validation(typeErr.Field, "must be %s, not %s", typeErr.Type, typeErr.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return api.Validation(strings.Trim(name, `"`), "unknown field")
	}
	return api.Validation(field, "malformed: %v", err)
}
