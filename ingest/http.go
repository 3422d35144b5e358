package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

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
	body, err := h.body(c)
	if err != nil {
		return err
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil {
		mt = ""
	}
	var decode func([]byte) ([]Row, []RowError, error)
	switch mt {
	case MediaJSON:
		decode = DecodeJSON
	case MediaCSV:
		decode = DecodeCSV
	case MediaArrow:
		decode = DecodeArrow
	default:
		return api.Validation("Content-Type", "%q is not accepted; send %s, %s or %s", c.Get(fiber.HeaderContentType), MediaJSON, MediaCSV, MediaArrow)
	}
	rows, rejected, err := decode(body)
	if err != nil {
		return api.Validation("", "%v", err)
	}
	p := auth.PrincipalOf(c)
	var register sources.Register
	if on, err := h.s.Resolver.AutoRegister(c.UserContext(), p.TenantID); err != nil {
		return err
	} else if on {
		register = registerMeters
	}
	return h.answer(c, rows, rejected, register)
}

func (h handlers) ocppMeterValues(c *fiber.Ctx) error {
	box := c.Params("chargeBoxId")
	if box == "" || len(box) > 100 || strings.ContainsAny(box, "/ \t\r\n") {
		return api.Validation("chargeBoxId", "%q is not a charge box id", box)
	}
	body, err := h.body(c)
	if err != nil {
		return err
	}
	mv, err := DecodeOCPPMeterValues(box, body)
	if err != nil {
		return api.Validation("", "%v", err)
	}
	return h.answer(c, mv.Rows, mv.Rejected, RegisterCharger(box))
}

// RegisterCharger registers a charge box and its connectors on first
// sight: chargers cannot be registered by hand at fleet scale. The session
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

func (h handlers) answer(c *fiber.Ctx, rows []Row, rejected []RowError, register sources.Register) error {
	if len(rows) == 0 && len(rejected) == 0 {
		return api.Validation("", "the request holds no readings")
	}
	res, err := h.s.Ingest(c.UserContext(), auth.PrincipalOf(c).TenantID, rows, rejected, register)
	if err != nil {
		return err
	}
	if res.Accepted == 0 {
		return &api.Error{Code: api.CodeValidation, Message: fmt.Sprintf("no valid reading among %d rows", len(res.Rejected)),
			Details: map[string]any{"rejected": res.Rejected}}
	}
	return api.OK(c, res)
}

// body returns the request body, decompressed when it is gzip, bounded by
// MaxBody either way.
func (h handlers) body(c *fiber.Ctx) ([]byte, error) {
	// The raw body: Fiber's Ctx.Body would decompress it without a bound.
	body := c.Request().Body()
	switch strings.ToLower(c.Get(fiber.HeaderContentEncoding)) {
	case "", "identity":
		return body, nil
	case "gzip":
	default:
		return nil, api.Validation("Content-Encoding", "%q is not accepted; send gzip or nothing", c.Get(fiber.HeaderContentEncoding))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, api.Validation("", "body is not valid gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(h.s.MaxBody)+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, api.Validation("", "body is not valid gzip: %v", err)
	} else if err != nil {
		return nil, api.Validation("", "gzip body is truncated")
	}
	if len(out) > h.s.MaxBody {
		return nil, &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("decompressed body exceeds %d bytes", h.s.MaxBody)}
	}
	return out, nil
}
