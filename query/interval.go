package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/rollups"
)

// This file is the Go entry point of the energy engine for other packages
// — the cost of a meter under its tariffs (package costs) — which need
// energy per settlement interval rather than an HTTP answer.

// Snapshot is a read-only view of the readings and rollups as of one
// instant, for an answer made of several reads that must agree with each
// other (a cost reads every member's energy and every price feed): what
// is written meanwhile is not half-seen. Its reads share the deadline of
// one query (Config.Timeout). Close ends it.
type Snapshot struct {
	s *Service
	a *answer
}

// Snapshot opens a snapshot.
func (s *Service) Snapshot(ctx context.Context) (*Snapshot, error) {
	a, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	return &Snapshot{s: s, a: a}, nil
}

// Close ends the snapshot.
func (sn *Snapshot) Close() { sn.a.close() }

// MaxIntervals bounds the intervals of one EnergyIntervals call: 400 days
// of 15-minute intervals and a little more, the longest range a tariff
// prices at once (tariffs.MaxMeterSpan).
const MaxIntervals = 40_000

// IntervalQuery asks for a source's energy per fixed interval over the
// half-open range [From, To).
type IntervalQuery struct {
	// SourceID is the source's internal id (sources.Source.ID). The caller
	// has resolved it within the tenant: this method does not check.
	SourceID int64
	From, To time.Time
	// Interval is the width of the intervals: whole minutes that divide a
	// day, such as 15 minutes. Intervals start where the local clock of
	// Loc shows a multiple of it; the first and last are clipped to the
	// range.
	Interval time.Duration
	// Loc is the zone of the interval grid; nil means UTC.
	Loc *time.Location
	// RawOnly ignores the rollup tiers, as tier=raw does.
	RawOnly bool
}

// EnergyIntervals computes a source's imported and exported energy per
// interval with the same engine and the same plan over rollup tiers as
// the energy route: rows add up to the range's energy, each with its
// quality. At most MaxIntervals intervals.
func (sn *Snapshot) EnergyIntervals(q IntervalQuery) (*Energy, error) {
	switch {
	case q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To):
		return nil, api.Validation("to", "must be after from (the range is [from, to))")
	case q.Interval < time.Minute || q.Interval%time.Minute != 0 || (24*time.Hour)%q.Interval != 0:
		return nil, fmt.Errorf("energy intervals: %s is not a whole number of minutes dividing a day", q.Interval)
	}
	loc := q.Loc
	if loc == nil {
		loc = time.UTC
	}
	step := Step{Name: q.Interval.String(), width: q.Interval}
	g, err := step.Grid(q.From, q.To, loc, MaxIntervals)
	if errors.Is(err, errTooManyBuckets) {
		return nil, api.Validation("to", "the range holds more than %d intervals of %s; use a shorter range", MaxIntervals, q.Interval)
	}
	if err != nil {
		return nil, err
	}
	tiers := map[string]bool{}
	imp, exp, err := sn.s.energyOf(sn.a.ctx, sn.a.r, q.SourceID, g, q.RawOnly, tiers)
	if err != nil {
		return nil, err
	}
	rows := energyRows(g, imp, exp)
	e := &Energy{Rows: rows, Meta: Meta{From: q.From.In(loc), To: q.To.In(loc), TZ: loc.String(), Bucket: step.Name,
		Tiers: tierNames(tiers), ImportMethod: imp.Method, ExportMethod: exp.Method}}
	e.Meta.TotalImportKWh, e.Meta.TotalExportKWh = totals(rows)
	return e, nil
}

// Member is a source counted in a site's energy.
type Member struct {
	ID       int64
	PublicID string
	Kind     string
	Timezone string
}

// SiteMembers lists the sources a site's energy sums, by public id, with
// the rule of SiteEnergyQuery: the site's sources (price feeds excepted)
// whose parent is not itself in the site. A site where the tenant has no
// source at all is NOT_FOUND.
func (sn *Snapshot) SiteMembers(tenantID int64, site string) ([]Member, error) {
	list, found, err := sn.a.r.siteSources(sn.a.ctx, tenantID, site, "")
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, api.NotFound("site", site)
	}
	out := make([]Member, len(list))
	for i, m := range list {
		out[i] = Member(m)
	}
	return out, nil
}

// Samples calls f with the raw readings of one metric of a source in
// [from, to), in time order. sourceID is the internal id, resolved by the
// caller within the tenant.
func (sn *Snapshot) Samples(sourceID int64, metric string, from, to time.Time, f func(t time.Time, v float64) error) error {
	m, err := sn.s.metric("metric", metric)
	if err != nil {
		return err
	}
	return sn.a.r.raw(sn.a.ctx, rollups.Series{SourceID: sourceID, Metric: m.ID}, from.UnixMicro(), to.UnixMicro(), func(t int64, v float64) error {
		return f(time.UnixMicro(t).UTC(), v)
	})
}
