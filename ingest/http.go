package ingest

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Media types accepted on POST /v1/readings.
const (
	MediaJSON  = "application/json"
	MediaCSV   = "text/csv"
	MediaArrow = "application/vnd.apache.arrow.stream"
)

// Mount registers the ingest routes on an authenticated router.
func Mount(r fiber.Router, s *Service) {
	h := handlers{s: s}
	r.Post("/readings", auth.Require(auth.ScopeIngest), h.readings)
	r.Post("/ocpp/:chargeBoxId/meter-values", auth.Require(auth.ScopeIngest), h.ocppMeterValues)
}

type handlers struct{ s *Service }

func (h handlers) readings(c *fiber.Ctx) error {
	body, err := api.ReadBody(c)
	if err != nil {
		return err
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil {
		mt = ""
	}
	var decode func(body []byte, maxRows int) ([]Row, Rejections, error)
	switch mt {
	case MediaJSON:
		decode = decodeJSON
	case MediaCSV:
		decode = decodeCSV
	case MediaArrow:
		decode = func(body []byte, maxRows int) ([]Row, Rejections, error) {
			return decodeArrow(body, arrowBudgetOf(body), maxRows)
		}
	default:
		return api.Validation("Content-Type", "%q is not accepted; send %s, %s or %s", c.Get(fiber.HeaderContentType), MediaJSON, MediaCSV, MediaArrow)
	}
	rows, rejected, err := decode(body, h.s.MaxRows())
	if err != nil {
		return decodeError(err)
	}
	return h.answer(c, rows, rejected, RegisterMeters)
}

// decodeError is the answer to a body a decoder refused: 413 for one past
// a bound, naming it; 400 otherwise.
func decodeError(err error) error {
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return &api.Error{Code: api.CodeTooLarge, Message: tl.Message, Details: map[string]any{"limit": tl.Limit}}
	}
	return api.Validation("", "%v", err)
}

func (h handlers) ocppMeterValues(c *fiber.Ctx) error {
	box := c.Params("chargeBoxId")
	if err := ValidateChargeBox(box); err != nil {
		return err
	}
	body, err := api.ReadBody(c)
	if err != nil {
		return err
	}
	res, err := h.s.OCPPMeterValues(c.UserContext(), auth.PrincipalOf(c).TenantID, box, body)
	if err != nil {
		return err
	}
	return api.OK(c, res)
}

// OCPPMeterValues writes the readings of an OCPP MeterValues payload (either
// edition) of charge box box and returns once they are committed: the one
// code path of the HTTP route and the OCPP-J endpoint. A payload without a
// valid reading is a VALIDATION_ERROR listing the rejected values.
func (s *Service) OCPPMeterValues(ctx context.Context, tenantID int64, box string, payload []byte) (Result, error) {
	if err := ValidateChargeBox(box); err != nil {
		return Result{}, err
	}
	mv, err := DecodeOCPPMeterValues(box, payload)
	if err != nil {
		return Result{}, api.Validation("", "%v", err)
	}
	res, err := s.ingestAll(ctx, tenantID, mv.Rows, Rejections{List: mv.Rejected, Total: mv.RejectedTotal}, RegisterCharger(box))
	if err != nil || s.Signed == nil || len(mv.Signed) == 0 {
		return res, err
	}
	// After the readings: the plain values are written whatever becomes
	// of the records.
	refused, err := s.Signed.StoreSigned(ctx, tenantID, box, mv.ConnectorID, mv.TransactionID, mv.Signed)
	if err != nil {
		return Result{}, err
	}
	res.RejectedTotal = max(res.RejectedTotal, len(res.Rejected))
	for _, e := range refused {
		res.RejectedTotal++
		if len(res.Rejected) < MaxRejected {
			res.Rejected = append(res.Rejected, e)
		}
	}
	return res, nil
}

// ValidateChargeBox checks an OCPP charge box id taken from a route: 1 to
// 100 bytes of printable text without spaces or slashes (it names a source
// and a part of its connectors' external ids).
func ValidateChargeBox(box string) error {
	ok := box != "" && len(box) <= 100 && utf8.ValidString(box)
	for _, r := range box {
		if !ok {
			break
		}
		ok = r != '/' && !unicode.IsSpace(r) && unicode.IsPrint(r)
	}
	if !ok {
		return api.Validation("chargeBoxId", "%q is not a charge box id: 1 to 100 bytes of printable text without spaces or slashes", box)
	}
	return nil
}

// RegisterCharger registers a charge box and its connectors on first
// sight, for tenants with auto-registration on: chargers cannot be
// registered by hand at fleet scale. The resolver applies the tenant's
// flag and the cap on connectors per box (sources.Resolver). The session
// routes of the same charge box use it too.
func RegisterCharger(box string) sources.Register {
	return func(missing []string) []sources.NewSource {
		out := []sources.NewSource{{ExternalID: box, Kind: sources.KindCharger}}
		for _, ref := range missing {
			if ref != box {
				out = append(out, sources.NewSource{ExternalID: ref, Kind: sources.KindConnector, Parent: &box})
			}
		}
		return out
	}
}

func (h handlers) answer(c *fiber.Ctx, rows []Row, rejected Rejections, register sources.Register) error {
	res, err := h.s.ingestAll(c.UserContext(), auth.PrincipalOf(c).TenantID, rows, rejected, register)
	if err != nil {
		return err
	}
	return api.OK(c, res)
}

// ingestAll writes decoded rows; a request with no row, or none valid, is
// a VALIDATION_ERROR.
func (s *Service) ingestAll(ctx context.Context, tenantID int64, rows []Row, rejected Rejections, register sources.Register) (Result, error) {
	if len(rows) == 0 && rejected.Total == 0 {
		return Result{}, api.Validation("", "the request holds no readings")
	}
	res, err := s.IngestRejections(ctx, tenantID, rows, rejected, register)
	if err != nil {
		return Result{}, err
	}
	if res.Accepted == 0 {
		return Result{}, &api.Error{Code: api.CodeValidation, Message: fmt.Sprintf("no valid reading among %d rows", res.RejectedTotal),
			Details: map[string]any{"rejected": res.Rejected, "rejected_total": res.RejectedTotal, "rejected_listed_max": MaxRejected}}
	}
	return res, nil
}
