package sessions

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/ingest"
)

const (
	// defaultPageLimit is the page size of the billing pull when the
	// caller sets no limit (at most api.MaxPageLimit).
	defaultPageLimit = 100
	// exportTimeout bounds one export's database read.
	exportTimeout = time.Hour
)

// Mount registers the session routes on an authenticated router.
//
// Lifecycle (scope ingest): POST /sessions, POST /sessions/{id}/stop, and
// the charger-native POST /ocpp/{chargeBoxId}/start-transaction,
// /stop-transaction (OCPP 1.6) and /transaction-event (OCPP 2.0.1), which
// answer {"ocpp": <the OCPP response payload>, "session": …}.
//
// Billing (scope billing): GET /sessions (the pull), GET /sessions/export,
// GET /sessions/{id}, GET /sessions/{id}/cdr; POST /sessions/{id}/reprice
// takes billing or admin.
func Mount(r fiber.Router, svc *Service, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	h := handlers{svc: svc, log: log}
	ingestScope, billing := auth.Require(auth.ScopeIngest), auth.Require(auth.ScopeBilling)
	r.Post("/sessions", ingestScope, h.start)
	r.Get("/sessions", billing, h.list)
	r.Get("/sessions/export", billing, h.export)
	r.Get("/sessions/:id", billing, h.get)
	r.Get("/sessions/:id/cdr", billing, h.cdr)
	r.Post("/sessions/:id/stop", ingestScope, h.stop)
	r.Post("/sessions/:id/reprice", auth.RequireAny(auth.ScopeBilling, auth.ScopeAdmin), h.reprice)
	r.Post("/ocpp/:chargeBoxId/start-transaction", ingestScope, h.startTransaction)
	r.Post("/ocpp/:chargeBoxId/stop-transaction", ingestScope, h.stopTransaction)
	r.Post("/ocpp/:chargeBoxId/transaction-event", ingestScope, h.transactionEvent)
	r.Put("/sources/:id/ocmf-public-key", auth.Require(auth.ScopeAdmin), h.setPublicKey)
	r.Get("/sources/:id/ocmf-public-key", auth.Require(auth.ScopeRead), h.publicKey)
}

type handlers struct {
	svc *Service
	log *slog.Logger
}

func tenantOf(c *fiber.Ctx) int64 { return auth.PrincipalOf(c).TenantID }

func (h handlers) start(c *fiber.Ctx) error {
	var n NewSession
	if err := api.DecodeJSON(c, &n); err != nil {
		return err
	}
	s, created, err := h.svc.Start(c.UserContext(), tenantOf(c), n)
	if err != nil {
		return err
	}
	c.Location("/v1/sessions/" + s.PublicID)
	if created {
		return api.Created(c, s.Summary())
	}
	return api.OK(c, s.Summary())
}

func (h handlers) stop(c *fiber.Ctx) error {
	var r StopSession
	if err := api.DecodeJSON(c, &r); err != nil {
		return err
	}
	s, err := h.svc.Stop(c.UserContext(), tenantOf(c), c.Params("id"), r)
	if err != nil {
		return err
	}
	return api.OK(c, s.Summary())
}

func (h handlers) reprice(c *fiber.Ctx) error {
	s, err := h.svc.Reprice(c.UserContext(), tenantOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	d := Detail{Summary: s.Summary(), Price: s.Price, Events: s.Events}
	return api.OK(c, d)
}

func (h handlers) get(c *fiber.Ctx) error {
	d, err := h.svc.Get(c.UserContext(), tenantOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return api.OK(c, d)
}

func (h handlers) cdr(c *fiber.Ctx) error {
	cdr, err := h.svc.CDR(c.UserContext(), tenantOf(c), c.Params("id"))
	if err != nil {
		return err
	}
	return api.OK(c, cdr)
}

// parseTime reads an optional RFC 3339 query parameter, in UTC.
func parseTime(c *fiber.Ctx, name string) (time.Time, error) {
	t, err := api.QueryTime(c, name)
	return t.UTC(), err
}

// parseFilter reads the filters shared by the pull and the export: status,
// source, site_id, from and to (on the start time, [from, to)),
// updated_since (inclusive).
func parseFilter(c *fiber.Ctx) (Filter, error) {
	f := Filter{Status: Status(c.Query("status")), Source: c.Query("source"), SiteID: c.Query("site_id")}
	if f.Status != "" {
		ok := false
		for _, s := range Statuses {
			ok = ok || s == f.Status
		}
		if !ok {
			return Filter{}, api.Validation("status", "%q is not a status (active, completed, priced, failed)", f.Status)
		}
	}
	var err error
	if f.From, err = parseTime(c, "from"); err != nil {
		return Filter{}, err
	}
	if f.To, err = parseTime(c, "to"); err != nil {
		return Filter{}, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return Filter{}, api.Validation("to", "must be after from")
	}
	if f.UpdatedSince, err = parseTime(c, "updated_since"); err != nil {
		return Filter{}, err
	}
	return f, nil
}

// feedPagination is the pagination of the billing pull: the cursor to
// continue with, and whether more is there now.
type feedPagination struct {
	Limit      int    `json:"limit"`
	NextCursor string `json:"next_cursor"`
	HasMore    bool   `json:"has_more"`
}

type feedEnvelope struct {
	Data       []Summary      `json:"data"`
	Meta       api.Meta       `json:"meta"`
	Pagination feedPagination `json:"pagination"`
}

func (h handlers) list(c *fiber.Ctx) error {
	f, err := parseFilter(c)
	if err != nil {
		return err
	}
	limit := defaultPageLimit
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > api.MaxPageLimit {
			return api.Validation("limit", "%q must be an integer from 1 to %d", s, api.MaxPageLimit)
		}
	}
	p, err := h.svc.List(c.UserContext(), tenantOf(c), f, c.Query("cursor"), limit)
	if err != nil {
		return err
	}
	return c.Status(http.StatusOK).JSON(feedEnvelope{Data: p.Sessions, Meta: api.Meta{RequestID: api.RequestID(c)},
		Pagination: feedPagination{Limit: limit, NextCursor: p.NextCursor, HasMore: p.HasMore}})
}

func (h handlers) export(c *fiber.Ctx) error {
	f, err := parseFilter(c)
	if err != nil {
		return err
	}
	if f.Status != "" && f.Status != StatusPriced {
		return api.Validation("status", "the export holds priced sessions only")
	}
	if f.From.IsZero() || f.To.IsZero() {
		return api.Validation("from", "from and to are required: the export covers sessions started in [from, to)")
	}
	format := ExportFormat(c.Query("format", string(FormatNDJSON)))
	switch format {
	case FormatNDJSON, FormatCSV, FormatArrow:
	default:
		return api.Validation("format", "%q is not ndjson, csv or arrow", format)
	}
	tenant := tenantOf(c)
	st := h.svc.exportStore(c.UserContext())
	c.Set(fiber.HeaderContentType, format.MediaType())
	c.Status(http.StatusOK)
	// The rows are read while the body is written, after the handler has
	// returned, under the stream's context: cancelled when the client goes
	// away, bounded here. A failure aborts the answer (api.Stream).
	api.Stream(c, func(ctx context.Context, w *bufio.Writer) error {
		ctx, cancel := context.WithTimeout(ctx, exportTimeout)
		defer cancel()
		return h.svc.exportFrom(ctx, st, tenant, f, format, w)
	})
	return nil
}

// ocppAnswer is the answer of the OCPP routes: the OCPP response payload to
// hand back to the charger, the session, and what became of the meter
// values the message carried.
type ocppAnswer struct {
	OCPP     any            `json:"ocpp"`
	Session  Summary        `json:"session"`
	Readings *ingest.Result `json:"readings,omitempty"`
	Events   []Event        `json:"events,omitempty"`
}

func (h handlers) startTransaction(c *fiber.Ctx) error {
	body, err := api.ReadBody(c)
	if err != nil {
		return err
	}
	r, err := h.svc.OCPPStartTransaction16(c.UserContext(), tenantOf(c), c.Params("chargeBoxId"), body)
	if err != nil {
		return err
	}
	return api.OK(c, ocppAnswer{OCPP: r.OCPP, Session: r.Session.Summary()})
}

func (h handlers) stopTransaction(c *fiber.Ctx) error {
	body, err := api.ReadBody(c)
	if err != nil {
		return err
	}
	r, err := h.svc.OCPPStopTransaction16(c.UserContext(), tenantOf(c), c.Params("chargeBoxId"), body)
	if err != nil {
		return err
	}
	return api.OK(c, ocppAnswer{OCPP: r.OCPP, Session: r.Session.Summary(), Readings: r.Readings})
}

func (h handlers) transactionEvent(c *fiber.Ctx) error {
	body, err := api.ReadBody(c)
	if err != nil {
		return err
	}
	r, err := h.svc.OCPPTransactionEvent201(c.UserContext(), tenantOf(c), c.Params("chargeBoxId"), body)
	if err != nil {
		return err
	}
	return api.OK(c, ocppAnswer{OCPP: r.OCPP, Session: r.Session.Summary(), Readings: r.Readings, Events: r.Session.Events})
}
