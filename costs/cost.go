package costs

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// The cost of a meter: its energy per settlement interval, priced with the
// supply and export tariffs assigned to it (or one given tariff), the lines
// grouped into local days or months. This file holds the pure part — how
// stretches are cut, lines filed into buckets and totals summed.
//
// Rules, in the order they apply:
//
//   - A settlement interval [s, s+15m) is priced by the tariff version in
//     effect at s: a stretch whose start is not on a quarter hour begins
//     with the next interval.
//   - Each stretch (one version of one assigned tariff) is priced on its
//     own with PriceMeter: block rates, DEMAND peaks and step_size count
//     from the stretch's start, as they would for a bill of that stretch.
//   - STANDING for a local day is charged by the stretch holding the day's
//     local midnight, so a day is charged once when the tariff changes
//     during it, and the costs of [a, b) and [b, c) add up to that of
//     [a, c).
//   - A line belongs to the bucket holding its start; a DEMAND line — one
//     per billing period — to the bucket holding its peak window.
//   - Bucket totals are exact sums of their lines; the invoice totals are
//     rounded once from them, so rounded buckets need not add up to the
//     rounded range total by a unit of the last place.

// SettlementInterval is the interval meters are priced at.
const SettlementInterval = 15 * time.Minute

// The bucket sizes of a cost answer.
const (
	BucketDay   = "day"
	BucketMonth = "month"
)

// bucketSteps maps the accepted bucket names (the energy route's names
// too) to query steps.
var bucketSteps = map[string]string{BucketDay: "1d", "1d": "1d", BucketMonth: "1mo", "1mo": "1mo"}

// Cost is the priced energy of a source or a site over [From, To).
type Cost struct {
	Source  string    `json:"source,omitempty"`
	Site    string    `json:"site,omitempty"`
	Sources []string  `json:"sources,omitempty"` // the site's members
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Bucket  string    `json:"bucket"`
	TZ      string    `json:"tz"`
	// Interval is the settlement interval, "15m".
	Interval string `json:"interval"`
	Currency string `json:"currency"`
	// Tariffs are the stretches priced, by source and start; Unpriced the
	// parts of the range that a kind priced elsewhere in it has no tariff
	// for (their energy is counted but not priced).
	Tariffs  []PricedStretch `json:"tariffs"`
	Unpriced []Stretch       `json:"unpriced"`
	Buckets  []CostBucket    `json:"buckets"`
	// Tiers names where the energy came from: rollup tiers, "raw".
	Tiers []string `json:"tiers"`
	// The range: measured energy, the worst quality of its buckets, exact
	// and invoice totals, and VAT by rate.
	ImportKWh decimal.Decimal   `json:"import_kwh"`
	ExportKWh decimal.Decimal   `json:"export_kwh"`
	Quality   query.Quality     `json:"quality"`
	Totals    tariffs.Totals    `json:"totals"`
	Invoice   tariffs.Totals    `json:"invoice_totals"`
	VAT       []tariffs.VATLine `json:"vat"`
}

// Stretch is a part [From, To) of a source's time for one kind of tariff.
type Stretch struct {
	Source string       `json:"source"`
	Kind   tariffs.Kind `json:"kind"`
	From   time.Time    `json:"from"`
	To     time.Time    `json:"to"`
}

// PricedStretch is a stretch priced by one version of one tariff.
type PricedStretch struct {
	Stretch
	TariffID     string `json:"tariff_id"`
	Version      int    `json:"version"`
	AssignmentID string `json:"assignment_id,omitempty"` // empty when tariff_id was given
	Timezone     string `json:"timezone"`
}

// CostBucket is one local day or month. Lines are every priced line that
// starts in it (for a site, each names its source); Sources, for a site on
// request, is each member's part.
type CostBucket struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Share
	Lines   []CostLine `json:"lines"`
	Sources []Share    `json:"sources,omitempty"`
}

// Share is the energy and cost of a bucket (or of one source's part of
// it): measured kWh, the worst quality of its settlement intervals, exact
// and invoice totals.
type Share struct {
	Source    string          `json:"source,omitempty"`
	ImportKWh decimal.Decimal `json:"import_kwh"`
	ExportKWh decimal.Decimal `json:"export_kwh"`
	Quality   query.Quality   `json:"quality"`
	Totals    tariffs.Totals  `json:"totals"`
	Invoice   tariffs.Totals  `json:"invoice_totals"`
}

// CostLine is a priced line with the tariff that priced it.
type CostLine struct {
	Source   string       `json:"source,omitempty"`
	Kind     tariffs.Kind `json:"kind"`
	TariffID string       `json:"tariff_id"`
	Version  int          `json:"version"`
	tariffs.Line
}

// qualityRank orders the energy qualities, best first.
var qualityRank = map[query.Quality]int{query.Complete: 0, query.Interpolated: 1, query.Gap: 2, query.Partial: 3}

func worseQuality(a, b query.Quality) query.Quality {
	if a == "" || qualityRank[b] > qualityRank[a] {
		return b
	}
	return a
}

// kWhOf converts the energy engine's kWh to a decimal, to the mWh and
// halves away from zero as the energy routes round them: the float noise
// of interpolation goes, the meter's resolution stays. No energy and
// negative energy (power readings below zero) count as none.
func kWhOf(p *float64) decimal.Decimal {
	if p == nil || !(*p > 0) || math.IsInf(*p, 0) {
		return decimal.Zero
	}
	d, err := decimal.NewFromFloat64(*p)
	if err != nil {
		return decimal.Zero
	}
	return tariffs.RoundHalfUp(d, query.EnergyDecimals).Trim(0)
}

// costGrid is the buckets of a cost answer: Edges (UTC) bound bucket i by
// [Edges[i], Edges[i+1]); Starts and Ends are their nominal bounds in the
// answer's zone.
type costGrid struct {
	edges        []time.Time
	starts, ends []time.Time
}

// newCostGrid draws day or month buckets over [from, to) in loc.
func newCostGrid(bucket string, from, to time.Time, loc *time.Location) (costGrid, error) {
	step, _ := query.ParseStep(bucketSteps[bucket])
	b, err := step.Grid(from, to, loc, 0)
	if err != nil {
		return costGrid{}, err
	}
	g := costGrid{}
	for _, e := range b.Edges {
		g.edges = append(g.edges, time.UnixMicro(e).UTC())
	}
	for i := 0; i < b.Len(); i++ {
		g.starts, g.ends = append(g.starts, b.Start(i)), append(g.ends, b.End(i))
	}
	return g, nil
}

func (g costGrid) len() int { return len(g.starts) }

// index returns the bucket holding t, clamped to the grid.
func (g costGrid) index(t time.Time) int {
	i := sort.Search(len(g.edges), func(i int) bool { return g.edges[i].After(t) }) - 1
	return min(max(i, 0), g.len()-1)
}

// ledger files one source's energy and priced lines into the buckets.
type ledger struct {
	g      costGrid
	source string
	shares []Share
	lines  [][]CostLine
	sum    sum
}

func newLedger(g costGrid, source string) *ledger {
	l := &ledger{g: g, source: source, shares: make([]Share, g.len()), lines: make([][]CostLine, g.len())}
	for i := range l.shares {
		l.shares[i] = Share{Source: source, ImportKWh: decimal.Zero, ExportKWh: decimal.Zero}
	}
	return l
}

// addEnergy files measured energy per settlement interval (the rows of
// query.Service.EnergyIntervals).
func (l *ledger) addEnergy(rows []query.EnergyRow) {
	for _, r := range rows {
		s := &l.shares[l.g.index(r.Time)]
		s.ImportKWh = add(&l.sum, s.ImportKWh, kWhOf(r.ImportKWh), decimal.Decimal.Add)
		s.ExportKWh = add(&l.sum, s.ExportKWh, kWhOf(r.ExportKWh), decimal.Decimal.Add)
		s.Quality = worseQuality(s.Quality, r.Quality)
	}
}

// usageOf picks the settlement intervals of a stretch from a source's
// rows: those starting in [from, to).
func usageOf(rows []query.EnergyRow, from, to time.Time) []tariffs.IntervalEnergy {
	var out []tariffs.IntervalEnergy
	for _, r := range rows {
		if !r.Time.Before(from) && r.Time.Before(to) {
			out = append(out, tariffs.IntervalEnergy{Start: r.Time.UTC(), ImportKWh: kWhOf(r.ImportKWh), ExportKWh: kWhOf(r.ExportKWh)})
		}
	}
	return out
}

// price prices one stretch's settlement intervals (contiguous, in time
// order) with its tariff version and files the lines into the buckets.
func (l *ledger) price(s tariffs.AssignedVersion, kind tariffs.Kind, usage []tariffs.IntervalEnergy, feed tariffs.PriceFeed) error {
	if len(usage) == 0 {
		return nil
	}
	first := usage[0].Start
	end := usage[len(usage)-1].Start.Add(SettlementInterval)
	var breaks []time.Time
	for _, e := range l.g.edges {
		if e.After(first) && e.Before(end) {
			breaks = append(breaks, e)
		}
	}
	// The first day's STANDING belongs to the stretch before when this one
	// starts after that day's midnight: cut it off to drop it.
	if s.Tariff.Extension != nil {
		if loc, err := time.LoadLocation(s.Tariff.Extension.TimeZone); err == nil {
			y, m, d := first.In(loc).Date()
			if next := time.Date(y, m, d+1, 0, 0, 0, 0, loc).UTC(); !time.Date(y, m, d, 0, 0, 0, 0, loc).Equal(first) && next.Before(end) {
				breaks = append(breaks, next)
			}
		}
	}
	slices.SortFunc(breaks, time.Time.Compare)
	breaks = slices.CompactFunc(breaks, time.Time.Equal)
	r, err := tariffs.PriceMeter(s.Tariff, tariffs.MeterUsage{Interval: SettlementInterval, Intervals: usage, Breaks: breaks}, feed)
	if err != nil {
		return err
	}
	for _, ln := range r.Lines {
		if ln.Component == tariffs.Standing && ln.PeriodStart.Before(first) {
			continue
		}
		at := ln.PeriodStart
		if ln.Component == tariffs.Demand && !ln.PeakAt.IsZero() {
			at = ln.PeakAt
		}
		i := l.g.index(at)
		l.lines[i] = append(l.lines[i], CostLine{Kind: kind, TariffID: s.TariffID, Version: s.Version, Line: ln})
		addLine(&l.sum, &l.shares[i].Totals, kind, ln)
	}
	return l.sum.err
}

// addLine adds a line's amounts to totals by dimension.
func addLine(s *sum, t *tariffs.Totals, kind tariffs.Kind, l tariffs.Line) {
	a := tariffs.Amount{ExclVAT: l.ExclVAT, InclVAT: l.InclVAT}
	switch {
	case l.Component == tariffs.Standing:
		t.Standing = add(s, t.Standing, a, tariffs.Amount.Add)
	case l.Component == tariffs.Demand:
		t.Demand = add(s, t.Demand, a, tariffs.Amount.Add)
	case kind == tariffs.KindExport:
		t.Export = add(s, t.Export, a, tariffs.Amount.Add)
	default:
		t.Energy = add(s, t.Energy, a, tariffs.Amount.Add)
	}
	t.Total = add(s, t.Total, a, tariffs.Amount.Add)
}

// sum is addition with a sticky error, so that a bucket's figures can be
// added as formulas and checked once: after the first failure (a sum
// beyond the 19 digits of a decimal) err keeps it.
type sum struct{ err error }

// add returns plus(a, b), or a unchanged once an addition has failed.
func add[T, U any](s *sum, a T, b U, plus func(T, U) (T, error)) T {
	if s.err != nil {
		return a
	}
	r, err := plus(a, b)
	if err != nil {
		s.err = err
		return a
	}
	return r
}

// assemble fills a cost's buckets and totals from its sources' ledgers.
// On a site (site true) lines name their source, and with breakdown each
// bucket lists every member's share.
func assemble(out *Cost, g costGrid, ledgers []*ledger, site, breakdown bool) error {
	var s sum
	minor, ok := tariffs.MinorUnits(out.Currency)
	if !ok {
		minor = 2
	}
	vat := []tariffs.VATLine{}
	out.Buckets = make([]CostBucket, g.len())
	out.ImportKWh, out.ExportKWh = decimal.Zero, decimal.Zero
	for i := range out.Buckets {
		b := CostBucket{Start: g.starts[i], End: g.ends[i], Share: Share{ImportKWh: decimal.Zero, ExportKWh: decimal.Zero}, Lines: []CostLine{}}
		for _, l := range ledgers {
			sh := l.shares[i]
			sh.Invoice = sh.Totals.Round(minor)
			b.ImportKWh = add(&s, b.ImportKWh, sh.ImportKWh, decimal.Decimal.Add)
			b.ExportKWh = add(&s, b.ExportKWh, sh.ExportKWh, decimal.Decimal.Add)
			b.Quality = worseQuality(b.Quality, sh.Quality)
			b.Totals = add(&s, b.Totals, sh.Totals, tariffs.Totals.Add)
			for _, ln := range l.lines[i] {
				if site {
					ln.Source = l.source
				}
				b.Lines = append(b.Lines, ln)
				vat = add(&s, vat, ln.Line, tariffs.AddVAT)
			}
			if breakdown {
				b.Sources = append(b.Sources, sh)
			}
		}
		if b.Quality == "" {
			b.Quality = query.Partial // a site without members
		}
		slices.SortStableFunc(b.Lines, func(x, y CostLine) int { return x.PeriodStart.Compare(y.PeriodStart) })
		b.Invoice = b.Totals.Round(minor)
		out.ImportKWh = add(&s, out.ImportKWh, b.ImportKWh, decimal.Decimal.Add)
		out.ExportKWh = add(&s, out.ExportKWh, b.ExportKWh, decimal.Decimal.Add)
		out.Quality = worseQuality(out.Quality, b.Quality)
		out.Totals = add(&s, out.Totals, b.Totals, tariffs.Totals.Add)
		out.Buckets[i] = b
	}
	out.Invoice = out.Totals.Round(minor)
	out.VAT = vat
	return s.err
}

// versionStretches cuts [from, to) by which version of a tariff is in
// effect — the highest-numbered one whose valid_from is at or before the
// instant, until its end_date_time — as AssignedTariffs does for an
// assigned tariff. Times without a version are left out.
func versionStretches(tariffID string, versions []tariffs.Version, from, to time.Time) []tariffs.AssignedVersion {
	cuts := []time.Time{from}
	for _, v := range versions {
		if v.ValidFrom.After(from) && v.ValidFrom.Before(to) {
			cuts = append(cuts, v.ValidFrom)
		}
	}
	slices.SortFunc(cuts, time.Time.Compare)
	cuts = slices.CompactFunc(cuts, time.Time.Equal)
	cuts = append(cuts, to)
	var out []tariffs.AssignedVersion
	for i := 0; i+1 < len(cuts); i++ {
		var v *tariffs.Version
		for j := range versions {
			if !versions[j].ValidFrom.After(cuts[i]) && (v == nil || versions[j].Version > v.Version) {
				v = &versions[j]
			}
		}
		if v == nil {
			continue
		}
		end := cuts[i+1]
		if e := v.Tariff.EndDateTime; !e.IsZero() && e.Before(end) {
			if !e.After(cuts[i]) {
				continue
			}
			end = e
		}
		if n := len(out); n > 0 && out[n-1].Version == v.Version && out[n-1].To.Equal(cuts[i]) {
			out[n-1].To = end
			continue
		}
		out = append(out, tariffs.AssignedVersion{From: cuts[i], To: end, TariffID: tariffID, Version: v.Version, Tariff: v.Tariff})
	}
	return out
}

// uncovered returns the parts of [from, to) that no stretch covers; the
// stretches are in time order without overlap.
func uncovered(stretches []tariffs.AssignedVersion, from, to time.Time) [][2]time.Time {
	var out [][2]time.Time
	at := from
	for _, s := range stretches {
		if s.From.After(at) {
			out = append(out, [2]time.Time{at, s.From})
		}
		if s.To.After(at) {
			at = s.To
		}
	}
	if at.Before(to) {
		out = append(out, [2]time.Time{at, to})
	}
	return out
}

// settleStretch snaps a stretch to settlement intervals: those whose start lies
// in [from, to).
func settleStretch(from, to time.Time) (time.Time, time.Time) {
	ceil := func(t time.Time) time.Time {
		if f := t.Truncate(SettlementInterval); !f.Equal(t) {
			return f.Add(SettlementInterval)
		}
		return t
	}
	return ceil(from), ceil(to)
}

// feedLookback is how far before a range a price feed is read for the
// price in force at its start: a daily price is the coarsest expected.
const feedLookback = 24 * time.Hour

// feedSeries turns the readings of a price_feed source's price series into
// a PriceSeries. A reading holds for the feed's resolution: the most
// common spacing of consecutive readings (the shorter on a tie; spacings
// beyond feedLookback are gaps, not a resolution), or an hour for a
// lone reading. So a missing reading of a regular feed is a missing price,
// never the previous price stretched.
func feedSeries(points []tariffs.PricePoint) tariffs.PriceSeries {
	count := map[time.Duration]int{}
	for i := 1; i < len(points); i++ {
		if d := points[i].Start.Sub(points[i-1].Start); d > 0 && d <= feedLookback {
			count[d]++
		}
	}
	res, best := time.Hour, 0
	for d, n := range count {
		if n > best || n == best && d < res {
			res, best = d, n
		}
	}
	return tariffs.PriceSeries{Resolution: res, Points: points}
}

// probeFeed is a PriceFeed that remembers the first price it could not
// find, so the error can name the interval.
type probeFeed struct {
	feed      tariffs.PriceFeed
	missing   time.Time
	missingOf string
}

// PriceAt looks the price up in the wrapped feed.
func (p *probeFeed) PriceAt(feed string, t time.Time) (decimal.Decimal, error) {
	d, err := p.feed.PriceAt(feed, t)
	if err != nil && p.missing.IsZero() {
		p.missing, p.missingOf = t, feed
	}
	return d, err
}

// dynamicFeeds lists the price feeds a tariff's dynamic components read.
func dynamicFeeds(t *tariffs.Tariff) []string {
	var out []string
	for _, e := range t.Elements {
		for _, c := range e.PriceComponents {
			if c.Dynamic != nil && !slices.Contains(out, c.Dynamic.PriceFeed) {
				out = append(out, c.Dynamic.PriceFeed)
			}
		}
	}
	return out
}
