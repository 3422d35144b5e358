package query

import (
	"bufio"
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers the query routes on an authenticated router; all need
// the read scope.
//
//	GET /sources/{id}/readings  raw readings (cursor-paged) or, with bucket, a downsampled series
//	GET /sources/{id}/energy    imported and exported kWh per bucket, with a quality flag
//	GET /sources/{id}/stats     peak and average power, energy, load factor, completeness
//	GET /sites/{site_id}/energy the sum over a site's sources, per source on request
//	GET /readings/latest        the newest reading of each series (latest_readings)
//
// Ranges are half-open: from (inclusive) and to (exclusive), RFC 3339.
// Series answers come as the JSON envelope, or — with format=csv|arrow or
// Accept: text/csv or application/vnd.apache.arrow.stream — streamed as
// CSV or an Arrow IPC stream; the metadata of a streamed answer travels
// in headers (X-Gridmetrics-Tiers, X-Next-Cursor).
//
// tier=raw makes an answer ignore the rollup tiers: the answer a server
// without rollups would give, for benchmarks and cross-checks.
func Mount(r fiber.Router, svc *Service) {
	h := handlers{svc: svc}
	r.Get("/sources/:id/readings", auth.Require(auth.ScopeRead), h.readings)
	r.Get("/sources/:id/energy", auth.Require(auth.ScopeRead), h.energy)
	r.Get("/sources/:id/stats", auth.Require(auth.ScopeRead), h.stats)
	r.Get("/sites/:site_id/energy", auth.Require(auth.ScopeRead), h.siteEnergy)
	r.Get("/readings/latest", auth.Require(auth.ScopeRead), h.latest)
}

type handlers struct{ svc *Service }

// The headers that carry a streamed answer's metadata.
const (
	HeaderTiers      = "X-Gridmetrics-Tiers"
	HeaderNextCursor = "X-Next-Cursor"
)

// Query parameters each route accepts; others are refused, so that a typo
// is not silently ignored. Parameters starting with "_" (cache busters)
// pass.
var (
	rangeParams    = []string{"from", "to", "tz", "bucket", "tier", "format"}
	readingsParams = append([]string{"metric", "agg", "fill", "limit", "cursor"}, rangeParams...)
	siteParams     = append([]string{"kind", "breakdown"}, rangeParams...)
	latestParams   = []string{"source", "metric", "format"}
)

// param returns a query parameter. Fiber's values point into the
// request's buffer; answers stream after the handler returns and keep
// some of them (the zone's name, the bucket), so they are copied.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Query(name)) }

func timeParam(c *fiber.Ctx, name string) (time.Time, error) {
	t, err := api.QueryTime(c, name)
	return t.Truncate(time.Microsecond), err // the database keeps microseconds
}

func rangeOf(c *fiber.Ctx) (Range, error) {
	from, err := timeParam(c, "from")
	if err != nil {
		return Range{}, err
	}
	to, err := timeParam(c, "to")
	if err != nil {
		return Range{}, err
	}
	r := Range{From: from, To: to, TZ: param(c, "tz"), Bucket: param(c, "bucket")}
	switch tier := param(c, "tier"); tier {
	case "":
	case "raw":
		r.RawOnly = true
	default:
		return Range{}, api.Validation("tier", "%q: only raw is accepted (answer from raw readings, ignoring rollups)", tier)
	}
	return r, nil
}

// ParseRange reads from, to, tz and bucket of a ranged request the way
// the query routes do, refusing parameters not in allowed; other ranged
// answers (availability) use it. The range is not validated yet
// (Range.Validate).
func ParseRange(c *fiber.Ctx, allowed []string) (Range, error) {
	if err := api.RejectUnknownParams(c, allowed); err != nil {
		return Range{}, err
	}
	return rangeOf(c)
}

// formatOf reads format=, else the Accept header; JSON by default.
// rangedRequest checks a series request's parameters and reads its format
// and time range.
func rangedRequest(c *fiber.Ctx, allowed []string) (Format, Range, error) {
	if err := api.RejectUnknownParams(c, allowed); err != nil {
		return "", Range{}, err
	}
	f, err := formatOf(c)
	if err != nil {
		return "", Range{}, err
	}
	r, err := rangeOf(c)
	return f, r, err
}

func formatOf(c *fiber.Ctx) (Format, error) {
	switch f := param(c, "format"); f {
	case "":
	case "json", "csv", "arrow":
		return Format(f), nil
	default:
		return "", api.Validation("format", "%q is not a format (json, csv or arrow)", f)
	}
	accept := c.Get(fiber.HeaderAccept)
	switch {
	case strings.Contains(accept, mediaArrow):
		return FormatArrow, nil
	case strings.Contains(accept, mediaCSV):
		return FormatCSV, nil
	}
	return FormatJSON, nil
}

func jsonOnly(c *fiber.Ctx) error {
	f, err := formatOf(c)
	if err == nil && f != FormatJSON {
		err = api.Validation("format", "this route answers JSON only")
	}
	return err
}

// list splits comma-separated values of a parameter, repeated or not.
func list(c *fiber.Ctx, name string) []string {
	var out []string
	for _, v := range c.Context().QueryArgs().PeekMulti(name) {
		for _, s := range strings.Split(string(v), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// envelopeMeta is the envelope's meta: the request id and the answer's.
type envelopeMeta struct {
	RequestID string `json:"request_id"`
	Meta
}

func (h handlers) readings(c *fiber.Ctx) error {
	f, r, err := rangedRequest(c, readingsParams)
	if err != nil {
		return err
	}
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	q := ReadingsQuery{Range: r, Source: ref, Metric: param(c, "metric"), Fill: Fill(param(c, "fill")), Cursor: param(c, "cursor")}
	for _, a := range list(c, "agg") {
		q.Agg = append(q.Agg, Agg(a))
	}
	if s := param(c, "limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 {
			return api.Validation("limit", "%q is not a positive integer", s)
		}
	}
	tenant := auth.PrincipalOf(c).TenantID
	if q.Bucket == "" {
		p, err := h.svc.Raw(c.UserContext(), tenant, q)
		if err != nil {
			return err
		}
		cols := []column{{"time", colTime, 0}, {"value", colFloat, UnitDecimals(p.Meta.Unit)}}
		rows := func(tw tableWriter) error {
			cells := make([]cell, 2)
			return p.Each(func(t time.Time, v float64) error {
				cells[0], cells[1] = cell{t: t}, floatCell(v, true)
				return tw.row(cells)
			})
		}
		if p.NextCursor != "" {
			c.Set(HeaderNextCursor, p.NextCursor)
		}
		return h.render(c, f, cols, p.Meta, api.Pagination{Limit: p.Limit, NextCursor: p.NextCursor}, rows, p.Close)
	}
	s, err := h.svc.Downsample(c.UserContext(), tenant, q)
	if err != nil {
		return err
	}
	cols := []column{{"time", colTime, 0}}
	for _, a := range s.Meta.Agg {
		kind := colFloat
		if a == AggCount {
			kind = colInt
		}
		cols = append(cols, column{string(a), kind, UnitDecimals(s.Meta.Unit)})
	}
	rows := func(tw tableWriter) error {
		cells := make([]cell, len(cols))
		return s.Each(func(r Row) error {
			cells[0] = cell{t: r.Time}
			for i, a := range s.Meta.Agg {
				if a == AggCount {
					cells[i+1] = cell{i: int64(r.Values[i])}
				} else {
					cells[i+1] = floatCell(r.Values[i], r.Valid[i])
				}
			}
			return tw.row(cells)
		})
	}
	return h.render(c, f, cols, s.Meta, nil, rows, s.Close)
}

var energyColumns = []column{{"time", colTime, 0}, {"end", colTime, 0}, {"import_kwh", colFloat, EnergyDecimals}, {"export_kwh", colFloat, EnergyDecimals}, {"quality", colString, 0}}

func energyCells(cells []cell, r EnergyRow) {
	cells[0], cells[1] = cell{t: r.Time}, cell{t: r.End}
	cells[2], cells[3] = ptrCell(r.ImportKWh), ptrCell(r.ExportKWh)
	cells[4] = cell{s: string(r.Quality)}
}

func (h handlers) energy(c *fiber.Ctx) error {
	f, r, err := rangedRequest(c, rangeParams)
	if err != nil {
		return err
	}
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	e, err := h.svc.Energy(c.UserContext(), auth.PrincipalOf(c).TenantID, EnergyQuery{Range: r, Source: ref})
	if err != nil {
		return err
	}
	rows := func(tw tableWriter) error {
		cells := make([]cell, len(energyColumns))
		for _, r := range e.Rows {
			energyCells(cells, r)
			if err := tw.row(cells); err != nil {
				return err
			}
		}
		return nil
	}
	return h.render(c, f, energyColumns, e.Meta, nil, rows, func() {})
}

// sourcePart is one member's share of a site's bucket in JSON.
type sourcePart struct {
	Source    string   `json:"source"`
	ImportKWh *float64 `json:"import_kwh"`
	ExportKWh *float64 `json:"export_kwh"`
	Quality   Quality  `json:"quality"`
}

type siteRow struct {
	EnergyRow
	Sources []sourcePart `json:"sources,omitempty"`
}

func (h handlers) siteEnergy(c *fiber.Ctx) error {
	f, r, err := rangedRequest(c, siteParams)
	if err != nil {
		return err
	}
	q := SiteEnergyQuery{Range: r, Site: strings.Clone(c.Params("site_id")), Kind: param(c, "kind")}
	if q.Breakdown, err = api.QueryBool(c, "breakdown"); err != nil {
		return err
	}
	e, err := h.svc.SiteEnergy(c.UserContext(), auth.PrincipalOf(c).TenantID, q)
	if err != nil {
		return err
	}
	if f == FormatJSON {
		rows := make([]siteRow, len(e.Rows))
		for i, r := range e.Rows {
			rows[i].EnergyRow = r.rounded()
			for _, s := range e.Breakdown {
				sr := s.Rows[i].rounded()
				rows[i].Sources = append(rows[i].Sources, sourcePart{Source: s.Source, ImportKWh: sr.ImportKWh, ExportKWh: sr.ExportKWh, Quality: sr.Quality})
			}
		}
		return c.JSON(struct {
			Data []siteRow    `json:"data"`
			Meta envelopeMeta `json:"meta"`
		}{rows, envelopeMeta{api.RequestID(c), e.Meta.rounded()}})
	}
	if !q.Breakdown {
		rows := func(tw tableWriter) error {
			cells := make([]cell, len(energyColumns))
			for _, r := range e.Rows {
				energyCells(cells, r)
				if err := tw.row(cells); err != nil {
					return err
				}
			}
			return nil
		}
		return h.render(c, f, energyColumns, e.Meta, nil, rows, func() {})
	}
	// The breakdown in CSV and Arrow is long: one row per bucket and member.
	cols := append([]column{{"source", colString, 0}}, energyColumns...)
	rows := func(tw tableWriter) error {
		cells := make([]cell, len(cols))
		for i := range e.Rows {
			for _, s := range e.Breakdown {
				cells[0] = cell{s: s.Source}
				energyCells(cells[1:], s.Rows[i])
				if err := tw.row(cells); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return h.render(c, f, cols, e.Meta, nil, rows, func() {})
}

func (h handlers) stats(c *fiber.Ctx) error {
	if err := api.RejectUnknownParams(c, rangeParams); err != nil {
		return err
	}
	if err := jsonOnly(c); err != nil {
		return err
	}
	r, err := rangeOf(c)
	if err != nil {
		return err
	}
	ref, err := api.PathParam(c, "id")
	if err != nil {
		return err
	}
	st, meta, err := h.svc.Stats(c.UserContext(), auth.PrincipalOf(c).TenantID, StatsQuery{Range: r, Source: ref})
	if err != nil {
		return err
	}
	return c.JSON(struct {
		Data Stats        `json:"data"`
		Meta envelopeMeta `json:"meta"`
	}{st.rounded(), envelopeMeta{api.RequestID(c), meta.rounded()}})
}

func (h handlers) latest(c *fiber.Ctx) error {
	if err := api.RejectUnknownParams(c, latestParams); err != nil {
		return err
	}
	if err := jsonOnly(c); err != nil {
		return err
	}
	out, err := h.svc.Latest(c.UserContext(), auth.PrincipalOf(c).TenantID, list(c, "source"), list(c, "metric"))
	if err != nil {
		return err
	}
	for i := range out {
		out[i] = out[i].rounded()
	}
	return api.OK(c, out)
}

// render writes a table answer. JSON is built in memory — at most
// Config.MaxPoints rows — so that an error met on the way still gets a
// proper error response. CSV and Arrow are streamed (api.Stream): the
// status and the headers go first, then rows as they are computed; an
// error after that aborts the answer — the client sees it cut short,
// without the end of a chunked body — and is logged. release frees the
// query.
func (h handlers) render(c *fiber.Ctx, f Format, cols []column, meta Meta, pagination any, rows func(tableWriter) error, release func()) error {
	c.Set(HeaderTiers, strings.Join(meta.Tiers, ","))
	if f == FormatJSON {
		defer release()
		var buf bytes.Buffer
		tw := newJSONWriter(&buf, cols)
		if err := rows(tw); err != nil {
			return err
		}
		if err := tw.close(envelopeMeta{api.RequestID(c), meta.rounded()}, pagination); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(fiber.StatusOK).Send(buf.Bytes())
	}
	ct := mediaArrow
	if f == FormatCSV {
		ct = mediaCSV + "; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Status(fiber.StatusOK)
	tz := meta.TZ
	// The query runs under the request's context, which the stream keeps
	// alive and cancels when the client goes away.
	api.Stream(c, func(_ context.Context, w *bufio.Writer) error {
		defer release()
		tw, err := newTableWriter(f, w, cols, tz)
		if err != nil {
			return err
		}
		if err := rows(tw); err != nil {
			return err
		}
		return tw.close(nil, nil)
	})
	return nil
}
