// Package query answers questions about readings: raw readings with a
// cursor, downsampled series in any time zone, energy per bucket with a
// quality flag, per-site energy, power statistics and the latest readings.
//
// All ranges are half-open: from is inclusive, to exclusive.
//
// The work is split three ways. Buckets (buckets.go) draws the output grid
// in the requested zone. Plan (plan.go) decides, for one series, which
// parts of the range to read from which rollup tier and which from raw
// readings. The Engine (engine.go) folds the pieces read — raw samples and
// tier rows alike, both rollups.Summary values — into output buckets. The
// engine and the planner are pure; the store (store.go) holds the SQL, and
// http.go the routes.
package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/internal/settings"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Config configures the query service.
type Config struct {
	// MaxPoints bounds the points (rows, or buckets) of one response;
	// larger requests get a 400 that says to use a coarser bucket or the
	// cursor. Default 10 000.
	MaxPoints int
	// DefaultLimit is the page size of raw readings when the request has
	// no limit; default 1 000 (at most MaxPoints).
	DefaultLimit int
	// GapThreshold is the longest stretch between consecutive samples that
	// still counts as continuous data for energy quality and completeness;
	// default 15 minutes. Tier rows carry their longest gap, so energy
	// can read any tier; stats, whose completeness needs the time spent in
	// long gaps, read only tiers no wider than the threshold.
	GapThreshold time.Duration
	// Timeout bounds one query, streaming included; default 60 s.
	Timeout time.Duration
	// Logger receives errors met while streaming, when the status is
	// already sent; default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns the config with unset fields at their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxPoints <= 0 {
		c.MaxPoints = 10_000
	}
	if c.DefaultLimit <= 0 {
		c.DefaultLimit = 1_000
	}
	c.DefaultLimit = min(c.DefaultLimit, c.MaxPoints)
	if c.GapThreshold <= 0 {
		c.GapThreshold = 15 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the settings that cannot work. It checks c as it will
// run, so a zero that WithDefaults would replace is refused too: call it on
// WithDefaults' result, or on settings given in full (the command line).
func (c Config) Validate() error {
	return errors.Join(
		settings.Positive("query.MaxPoints", c.MaxPoints),
		settings.Positive("query.DefaultLimit", c.DefaultLimit),
		settings.Positive("query.GapThreshold", c.GapThreshold),
		settings.Positive("query.Timeout", c.Timeout),
	)
}

// Service answers queries for the HTTP routes.
type Service struct {
	store   store
	sources *sources.Store
	byName  map[string]sources.Metric
	byID    map[int16]sources.Metric
	cfg     Config
}

// NewService returns a service reading db; metrics is the catalogue
// (sources.Store.Metrics).
func NewService(db DB, st *sources.Store, metrics []sources.Metric, cfg Config) *Service {
	s := &Service{store: store{db}, sources: st, byName: map[string]sources.Metric{}, byID: map[int16]sources.Metric{}, cfg: cfg.WithDefaults()}
	for _, m := range metrics {
		s.byName[m.Name] = m
		s.byID[m.ID] = m
	}
	return s
}

// Meta describes an answer; it is rendered in the envelope's meta, and
// Tiers tells which rollup tiers (and "raw" for raw readings) answered.
type Meta struct {
	Source  string    `json:"source,omitempty"`
	Site    string    `json:"site,omitempty"`
	Sources []string  `json:"sources,omitempty"`
	Metric  string    `json:"metric,omitempty"`
	Unit    string    `json:"unit,omitempty"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	TZ      string    `json:"tz"`
	Bucket  string    `json:"bucket,omitempty"`
	Agg     []Agg     `json:"agg,omitempty"`
	Fill    Fill      `json:"fill,omitempty"`
	Tiers   []string  `json:"tiers"`

	ImportMethod   Method   `json:"import_method,omitempty"`
	ExportMethod   Method   `json:"export_method,omitempty"`
	TotalImportKWh *float64 `json:"total_import_kwh,omitempty"`
	TotalExportKWh *float64 `json:"total_export_kwh,omitempty"`
}

// Range is the common part of requests: the half-open range [From, To),
// the zone of the buckets ("" for the source's own) and the bucket
// ("" for raw readings, or the whole range for energy). RawOnly ignores
// the rollups, answering as if there were none (?tier=raw, for
// benchmarks and checks).
type Range struct {
	From, To time.Time
	TZ       string
	Bucket   string
	RawOnly  bool
}

func (r Range) validate() error {
	switch {
	case r.From.IsZero():
		return api.Validation("from", "is required (RFC 3339, e.g. 2025-01-31T00:00:00Z)")
	case r.To.IsZero():
		return api.Validation("to", "is required (RFC 3339, e.g. 2025-02-01T00:00:00Z)")
	case !r.From.Before(r.To):
		return api.Validation("to", "must be after from (the range is [from, to))")
	}
	if r.Bucket != "" {
		if _, ok := ParseStep(r.Bucket); !ok {
			return api.Validation("bucket", "%q is not a bucket (one of %s)", r.Bucket, stepNames())
		}
	}
	if r.TZ != "" {
		if _, err := api.ParseZone("tz", r.TZ); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a range the way the query routes do: from and to
// required and ordered, a known bucket, an IANA zone. Other ranged answers
// (availability) use it, so that every route reads a range alike.
func (r Range) Validate() error { return r.validate() }

// grid draws the buckets of a validated range in loc, refusing more than
// limit of them.
func (s *Service) grid(r Range, loc *time.Location, limit int, hint string) (Buckets, error) {
	if r.Bucket == "" {
		return Whole(r.From, r.To, loc), nil
	}
	step, _ := ParseStep(r.Bucket)
	g, err := step.Grid(r.From, r.To, loc, limit)
	if errors.Is(err, errTooManyBuckets) {
		return Buckets{}, &api.Error{Code: api.CodeValidation,
			Message: fmt.Sprintf("bucket: %s buckets over this range make more than %d points, the most one response holds; use a coarser bucket or a shorter range%s", r.Bucket, limit, hint),
			Details: map[string]any{"field": "bucket", "max_points": limit}}
	}
	return g, err
}

func (s *Service) metric(field, name string) (sources.Metric, error) {
	if name == "" {
		return sources.Metric{}, api.Validation(field, "is required (GET /v1/metrics lists them)")
	}
	m, ok := s.byName[name]
	if !ok {
		return sources.Metric{}, api.Validation(field, "%q is not in the catalogue (GET /v1/metrics lists them)", name)
	}
	return m, nil
}

// answer is an open query: its snapshot and its deadline. Close ends both.
type answer struct {
	r      reader
	cancel context.CancelFunc
	ctx    context.Context
}

func (s *Service) open(ctx context.Context) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	r, err := s.store.begin(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &answer{r: r, cancel: cancel, ctx: ctx}, nil
}

func (a *answer) close() {
	if a.cancel != nil {
		a.r.close()
		a.cancel()
		a.cancel = nil
	}
}

// plan decides where each part of the range is read from for a series.
func (s *Service) plan(ctx context.Context, r reader, series rollups.Series, g Buckets, rawOnly bool, maxWidth time.Duration) ([]Segment, error) {
	if rawOnly {
		return Plan(g, nil, 0), nil
	}
	states, err := r.tierStates(ctx, series)
	if err != nil {
		return nil, err
	}
	return Plan(g, states, maxWidth), nil
}

// run folds a series into buckets following a plan: the neighbour sample
// before the range, the segments, the neighbour at or after its end. It
// returns the number of pieces seen, neighbours included.
func (s *Service) run(ctx context.Context, r reader, series rollups.Series, g Buckets, plan []Segment, emit func(int, Bucket) error) (int, error) {
	i := 0
	eng := NewEngine(g, s.cfg.GapThreshold.Microseconds(), func(b Bucket) error {
		err := emit(i, b)
		i++
		return err
	})
	pieces := 0
	add := func(p rollups.Summary) error {
		pieces++
		return eng.Add(p)
	}
	from, to := g.Edges[0], g.Edges[len(g.Edges)-1]
	if p, ok, err := r.neighbour(ctx, series, from, true); err != nil {
		return 0, err
	} else if ok {
		if err := add(p); err != nil {
			return 0, err
		}
	}
	for _, seg := range plan {
		var err error
		if seg.Tier == nil {
			err = r.raw(ctx, series, seg.From, seg.To, func(t int64, v float64) error { return add(rollups.Point(t, v)) })
		} else {
			err = r.tier(ctx, *seg.Tier, series, seg.From, seg.To, add)
		}
		if err != nil {
			return 0, err
		}
	}
	if p, ok, err := r.neighbour(ctx, series, to, false); err != nil {
		return 0, err
	} else if ok {
		if err := add(p); err != nil {
			return 0, err
		}
	}
	return pieces, eng.Close()
}

// collect runs a series into a slice of buckets.
func (s *Service) collect(ctx context.Context, r reader, series rollups.Series, g Buckets, rawOnly bool, maxWidth time.Duration) ([]Bucket, []Segment, int, error) {
	plan, err := s.plan(ctx, r, series, g, rawOnly, maxWidth)
	if err != nil {
		return nil, nil, 0, err
	}
	out := make([]Bucket, 0, g.Len())
	n, err := s.run(ctx, r, series, g, plan, func(_ int, b Bucket) error {
		out = append(out, b)
		return nil
	})
	return out, plan, n, err
}

// source finds the tenant's source and the zone of the request.
func (s *Service) source(ctx context.Context, tenantID int64, id, tz string) (sources.Source, *time.Location, error) {
	src, err := s.sources.Get(ctx, tenantID, id)
	if err != nil {
		return src, nil, err
	}
	if tz == "" {
		tz = src.Timezone
	}
	loc, err := api.ParseZone("tz", tz)
	return src, loc, err
}

// ReadingsQuery asks for one series of one source: raw readings when
// Bucket is empty, else downsampled.
type ReadingsQuery struct {
	Range
	Source string // public id or external id
	Metric string
	// Agg and Fill apply to downsampled series; default avg and none.
	Agg  []Agg
	Fill Fill
	// Limit and Cursor page raw readings; Limit defaults to
	// Config.DefaultLimit and may not exceed Config.MaxPoints.
	Limit  int
	Cursor string
}

func (q *ReadingsQuery) validate(cfg Config) error {
	if err := q.Range.validate(); err != nil {
		return err
	}
	if q.Bucket == "" {
		switch {
		case len(q.Agg) > 0:
			return api.Validation("agg", "needs a bucket (one of %s)", stepNames())
		case q.Fill != "":
			return api.Validation("fill", "needs a bucket (one of %s)", stepNames())
		case q.Limit < 0:
			return api.Validation("limit", "must be positive")
		case q.Limit > cfg.MaxPoints:
			return &api.Error{Code: api.CodeValidation,
				Message: fmt.Sprintf("limit: %d is more than the %d points one response holds; page through the readings with next_cursor, or use a bucket", q.Limit, cfg.MaxPoints),
				Details: map[string]any{"field": "limit", "max_points": cfg.MaxPoints}}
		}
		if q.Limit == 0 {
			q.Limit = cfg.DefaultLimit
		}
		return nil
	}
	switch {
	case q.Limit != 0:
		return api.Validation("limit", "pages raw readings only; a downsampled series comes whole")
	case q.Cursor != "":
		return api.Validation("cursor", "pages raw readings only; a downsampled series comes whole")
	}
	if len(q.Agg) == 0 {
		q.Agg = []Agg{AggAvg}
	}
	for i, a := range q.Agg {
		if !slices.Contains(Aggs, a) {
			return api.Validation("agg", "%q is not an aggregate (one of %s)", a, aggNames())
		}
		if slices.Contains(q.Agg[:i], a) {
			return api.Validation("agg", "%q is asked for twice", a)
		}
	}
	if q.Fill == "" {
		q.Fill = FillNone
	}
	if !slices.Contains(Fills, q.Fill) {
		return api.Validation("fill", "%q is not a fill policy (none, null, previous or linear)", q.Fill)
	}
	return nil
}

// cursorPosition is what a raw-readings cursor holds: the series it pages
// and the time (µs) of the last reading served. The next page starts
// strictly after it, so a page never repeats or skips a reading present
// in both snapshots; a reading written behind the cursor later (a late
// correction) is not seen by this pull, which is inherent to cursors.
type cursorPosition struct {
	Source string `json:"s"`
	Metric string `json:"m"`
	After  int64  `json:"t"`
}

// RawPage is a prepared page of raw readings; Each streams them, Close
// releases the query (always call it).
type RawPage struct {
	Meta       Meta
	Limit      int
	NextCursor string

	a      *answer
	series rollups.Series
	from   int64
	to     int64
	loc    *time.Location
}

// Each calls f with each reading of the page in time order, then closes
// the page.
func (p *RawPage) Each(f func(t time.Time, v float64) error) error {
	defer p.Close()
	return p.a.r.raw(p.a.ctx, p.series, p.from, p.to, func(t int64, v float64) error {
		return f(time.UnixMicro(t).In(p.loc), v)
	})
}

// Close releases the page.
func (p *RawPage) Close() { p.a.close() }

// Series is a prepared downsampled series; Each streams its rows, Close
// releases it (always call it).
type Series struct {
	Meta Meta

	a      *answer
	series rollups.Series
	grid   Buckets
	plan   []Segment
	svc    *Service
}

// Each calls f with each row in time order, then closes the series.
func (s *Series) Each(f func(Row) error) error {
	defer s.Close()
	fill := newFiller(s.Meta.Agg, s.Meta.Fill, f)
	_, err := s.svc.run(s.a.ctx, s.a.r, s.series, s.grid, s.plan, func(i int, b Bucket) error {
		return fill.push(s.grid.Start(i), b)
	})
	if err != nil {
		return err
	}
	return fill.close()
}

// Close releases the series.
func (s *Series) Close() { s.a.close() }

// Raw prepares a page of raw readings (q.Bucket empty).
func (s *Service) Raw(ctx context.Context, tenantID int64, q ReadingsQuery) (*RawPage, error) {
	if err := q.validate(s.cfg); err != nil {
		return nil, err
	}
	if q.Bucket != "" {
		return nil, api.Validation("bucket", "raw readings take no bucket")
	}
	m, err := s.metric("metric", q.Metric)
	if err != nil {
		return nil, err
	}
	lower := q.From.UnixMicro()
	if q.Cursor != "" {
		var pos cursorPosition
		if err := api.DecodeCursor(q.Cursor, &pos); err != nil {
			return nil, err
		}
		if pos.Source != q.Source || pos.Metric != q.Metric {
			return nil, api.Validation("cursor", "belongs to another series; pass next_cursor with the query that returned it")
		}
		lower = max(lower, pos.After+1) // timestamps are whole microseconds
	}
	src, loc, err := s.source(ctx, tenantID, q.Source, q.TZ)
	if err != nil {
		return nil, err
	}
	a, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	series := rollups.Series{SourceID: src.ID, Metric: m.ID}
	p := &RawPage{a: a, series: series, from: lower, to: q.To.UnixMicro(), loc: loc, Limit: q.Limit,
		Meta: Meta{Source: src.PublicID, Metric: m.Name, Unit: m.Unit, From: q.From.In(loc), To: q.To.In(loc), TZ: loc.String(), Tiers: []string{"raw"}}}
	if lower < p.to {
		last, more, ok, err := a.r.pageEnd(a.ctx, series, lower, p.to, q.Limit)
		if err != nil {
			a.close()
			return nil, err
		}
		if ok {
			p.to = last + 1
		}
		if more {
			p.NextCursor = api.EncodeCursor(cursorPosition{Source: src.PublicID, Metric: m.Name, After: last})
		}
	}
	return p, nil
}

// Downsample prepares a downsampled series (q.Bucket set).
func (s *Service) Downsample(ctx context.Context, tenantID int64, q ReadingsQuery) (*Series, error) {
	if err := q.validate(s.cfg); err != nil {
		return nil, err
	}
	if q.Bucket == "" {
		return nil, api.Validation("bucket", "is required for a downsampled series")
	}
	m, err := s.metric("metric", q.Metric)
	if err != nil {
		return nil, err
	}
	src, loc, err := s.source(ctx, tenantID, q.Source, q.TZ)
	if err != nil {
		return nil, err
	}
	g, err := s.grid(q.Range, loc, s.cfg.MaxPoints, "")
	if err != nil {
		return nil, err
	}
	a, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	series := rollups.Series{SourceID: src.ID, Metric: m.ID}
	plan, err := s.plan(a.ctx, a.r, series, g, q.RawOnly, 0)
	if err != nil {
		a.close()
		return nil, err
	}
	return &Series{a: a, series: series, grid: g, plan: plan, svc: s,
		Meta: Meta{Source: src.PublicID, Metric: m.Name, Unit: m.Unit, From: q.From.In(loc), To: q.To.In(loc), TZ: loc.String(),
			Bucket: q.Bucket, Agg: q.Agg, Fill: q.Fill, Tiers: Tiers(plan)}}, nil
}

// EnergyQuery asks for a source's energy per bucket (the whole range as
// one bucket when Bucket is empty).
type EnergyQuery struct {
	Range
	Source string
}

// Energy is an energy answer; rows add up to the totals in Meta.
type Energy struct {
	Meta Meta
	Rows []EnergyRow
}

// energyOf computes both directions of one source over a grid.
func (s *Service) energyOf(ctx context.Context, r reader, sourceID int64, g Buckets, rawOnly bool, tiers map[string]bool) (imp, exp DirectionResult, err error) {
	out := make([]DirectionResult, len(Directions))
	for i, d := range Directions {
		out[i].Method = MethodNone
		for _, try := range []struct {
			metric string
			method Method
		}{{d.Counter, MethodCounter}, {d.Power, MethodPower}} {
			m, ok := s.byName[try.metric]
			if !ok {
				continue
			}
			// Any tier will do: rows carry their longest gap, which is all
			// the quality flags need.
			buckets, plan, n, err := s.collect(ctx, r, rollups.Series{SourceID: sourceID, Metric: m.ID}, g, rawOnly, 0)
			if err != nil {
				return imp, exp, err
			}
			if n > 0 {
				out[i] = DirectionResult{Method: try.method, Buckets: buckets}
				for _, t := range Tiers(plan) {
					tiers[t] = true
				}
				break
			}
		}
	}
	return out[0], out[1], nil
}

func totals(rows []EnergyRow) (imp, exp *float64) {
	for _, r := range rows {
		for _, d := range []struct{ dst, src **float64 }{{&imp, &r.ImportKWh}, {&exp, &r.ExportKWh}} {
			if *d.src != nil {
				v := **d.src
				if *d.dst != nil {
					v += **d.dst
				}
				*d.dst = &v
			}
		}
	}
	return imp, exp
}

// Energy computes a source's imported and exported energy per bucket.
func (s *Service) Energy(ctx context.Context, tenantID int64, q EnergyQuery) (*Energy, error) {
	if err := q.Range.validate(); err != nil {
		return nil, err
	}
	src, loc, err := s.source(ctx, tenantID, q.Source, q.TZ)
	if err != nil {
		return nil, err
	}
	g, err := s.grid(q.Range, loc, s.cfg.MaxPoints, "")
	if err != nil {
		return nil, err
	}
	a, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	defer a.close()
	tiers := map[string]bool{}
	imp, exp, err := s.energyOf(a.ctx, a.r, src.ID, g, q.RawOnly, tiers)
	if err != nil {
		return nil, err
	}
	rows := energyRows(g, imp, exp)
	e := &Energy{Rows: rows, Meta: Meta{Source: src.PublicID, From: q.From.In(loc), To: q.To.In(loc), TZ: loc.String(), Bucket: q.Bucket,
		Tiers: tierNames(tiers), ImportMethod: imp.Method, ExportMethod: exp.Method}}
	e.Meta.TotalImportKWh, e.Meta.TotalExportKWh = totals(rows)
	return e, nil
}

// SiteEnergyQuery asks for the energy of a site: the sum over its member
// sources. The members are the site's sources (price feeds excepted)
// whose parent is not itself in the site — a charger counts, its
// connectors, metered inside it, do not — or, with Kind, every source of
// the site of that kind. With Breakdown each member's rows come too.
type SiteEnergyQuery struct {
	Range
	Site      string
	Kind      string
	Breakdown bool
}

// SourceEnergy is one member's part of a site's energy.
type SourceEnergy struct {
	Source       string      `json:"source"`
	ImportMethod Method      `json:"import_method"`
	ExportMethod Method      `json:"export_method"`
	Rows         []EnergyRow `json:"rows"`
}

// SiteEnergy is a site's energy: per bucket totals and, on request, each
// member's rows.
type SiteEnergy struct {
	Meta      Meta
	Rows      []EnergyRow
	Breakdown []SourceEnergy
}

// maxSiteWork bounds the member-buckets one site query computes, in units
// of MaxPoints.
const maxSiteWork = 100

// SiteEnergy computes a site's energy. The zone defaults to the members'
// common zone, or UTC when they differ.
func (s *Service) SiteEnergy(ctx context.Context, tenantID int64, q SiteEnergyQuery) (*SiteEnergy, error) {
	if err := q.Range.validate(); err != nil {
		return nil, err
	}
	if q.Kind != "" && (!slices.Contains(sources.Kinds, sources.Kind(q.Kind)) || q.Kind == string(sources.KindPriceFeed)) {
		return nil, api.Validation("kind", "%q is not a metered source kind (meter, charger, connector, inverter or battery)", q.Kind)
	}
	a, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	defer a.close()
	members, found, err := a.r.siteSources(a.ctx, tenantID, q.Site, q.Kind)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, api.NotFound("site", q.Site)
	}
	tz := q.TZ
	if tz == "" {
		tz = "UTC"
		if len(members) > 0 && !slices.ContainsFunc(members, func(m siteSource) bool { return m.Timezone != members[0].Timezone }) {
			tz = members[0].Timezone
		}
	}
	loc, err := api.ParseZone("tz", tz)
	if err != nil {
		return nil, err
	}
	limit, hint := s.cfg.MaxPoints, ""
	if q.Breakdown {
		limit, hint = s.cfg.MaxPoints/(len(members)+1), ", or leave out breakdown"
	}
	g, err := s.grid(q.Range, loc, max(limit, 1), hint)
	if err != nil {
		return nil, err
	}
	if g.Len()*len(members) > maxSiteWork*s.cfg.MaxPoints {
		return nil, api.Validation("bucket", "%d sources × %d buckets is too much work for one request; use a coarser bucket, a shorter range or kind=", len(members), g.Len())
	}
	out := &SiteEnergy{Rows: make([]EnergyRow, g.Len()),
		Meta: Meta{Site: q.Site, Sources: []string{}, From: q.From.In(loc), To: q.To.In(loc), TZ: loc.String(), Bucket: q.Bucket}}
	for i := range out.Rows {
		out.Rows[i] = EnergyRow{Time: g.Start(i), End: g.End(i)}
	}
	tiers := map[string]bool{}
	for _, m := range members {
		imp, exp, err := s.energyOf(a.ctx, a.r, m.ID, g, q.RawOnly, tiers)
		if err != nil {
			return nil, err
		}
		rows := energyRows(g, imp, exp)
		measured := imp.Method != MethodNone || exp.Method != MethodNone
		addRows(out.Rows, rows, measured)
		out.Meta.Sources = append(out.Meta.Sources, m.PublicID)
		if q.Breakdown {
			out.Breakdown = append(out.Breakdown, SourceEnergy{Source: m.PublicID, ImportMethod: imp.Method, ExportMethod: exp.Method, Rows: rows})
		}
	}
	for i := range out.Rows {
		if out.Rows[i].Quality == "" {
			out.Rows[i].Quality = Partial // no member measures anything
		}
	}
	out.Meta.Tiers = tierNames(tiers)
	out.Meta.TotalImportKWh, out.Meta.TotalExportKWh = totals(out.Rows)
	return out, nil
}

// StatsQuery asks for a source's power statistics over [From, To).
type StatsQuery struct {
	Range
	Source string
}

// Stats computes peak and average power, energy, load factor, sample
// count and completeness of a source over a range.
func (s *Service) Stats(ctx context.Context, tenantID int64, q StatsQuery) (Stats, Meta, error) {
	if q.Bucket != "" {
		return Stats{}, Meta{}, api.Validation("bucket", "stats cover the whole range; use /energy for buckets")
	}
	if err := q.Range.validate(); err != nil {
		return Stats{}, Meta{}, err
	}
	src, loc, err := s.source(ctx, tenantID, q.Source, q.TZ)
	if err != nil {
		return Stats{}, Meta{}, err
	}
	a, err := s.open(ctx)
	if err != nil {
		return Stats{}, Meta{}, err
	}
	defer a.close()
	g := Whole(q.From, q.To, loc)
	tiers := map[string]bool{}
	whole := func(metric string) (Bucket, rollups.Series, error) {
		series := rollups.Series{SourceID: src.ID, Metric: s.byName[metric].ID}
		buckets, plan, _, err := s.collect(a.ctx, a.r, series, g, q.RawOnly, s.cfg.GapThreshold)
		if err != nil {
			return Bucket{}, series, err
		}
		for _, t := range Tiers(plan) {
			tiers[t] = true
		}
		return buckets[0], series, nil
	}
	power, powerSeries, err := whole("power_import")
	if err != nil {
		return Stats{}, Meta{}, err
	}
	counter, _, err := whole("energy_import")
	if err != nil {
		return Stats{}, Meta{}, err
	}
	st := statsOf(q.From.In(loc), q.To.In(loc), power, counter)
	if power.N > 0 {
		at := power.MaxFrom
		if power.MaxFrom != power.MaxTo {
			// The peak came from a tier row: find its sample.
			t, ok, err := a.r.peakTime(a.ctx, powerSeries, power.MaxFrom, power.MaxTo, power.Max)
			if err != nil {
				return Stats{}, Meta{}, err
			}
			if ok {
				at = t
			}
		}
		pt := time.UnixMicro(at).In(loc)
		st.PeakTime = &pt
	}
	return st, Meta{Source: src.PublicID, From: st.From, To: st.To, TZ: loc.String(), Tiers: tierNames(tiers)}, nil
}

// maxLatestSources bounds the sources of one latest-readings request.
const maxLatestSources = 100

// Latest returns the newest reading of each requested series, from
// latest_readings: every metric of the sources (public or external ids),
// or only the named ones. A source that is not the tenant's is a NOT_FOUND.
func (s *Service) Latest(ctx context.Context, tenantID int64, sourceIDs, metricNames []string) ([]LatestReading, error) {
	switch {
	case len(sourceIDs) == 0:
		return nil, api.Validation("source", "is required: one source id or several separated by commas")
	case len(sourceIDs) > maxLatestSources:
		return nil, api.Validation("source", "%d sources; at most %d per request", len(sourceIDs), maxLatestSources)
	}
	var metrics []int16
	for _, name := range metricNames {
		m, err := s.metric("metric", name)
		if err != nil {
			return nil, err
		}
		metrics = append(metrics, m.ID)
	}
	ids, err := s.sources.IDs(ctx, tenantID, sourceIDs)
	if err != nil {
		return nil, err
	}
	list := make([]int64, 0, len(ids))
	for _, ref := range sourceIDs {
		id, ok := ids[ref]
		if !ok {
			return nil, api.NotFound("source", ref)
		}
		list = append(list, id)
	}
	out := []LatestReading{}
	err = s.store.latest(ctx, tenantID, list, metrics, func(source string, metric int16, t time.Time, v float64) {
		m := s.byID[metric]
		out = append(out, LatestReading{Source: source, Metric: m.Name, Unit: m.Unit, Time: t.UTC(), Value: v})
	})
	return out, err
}
