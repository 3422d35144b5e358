package costs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// MeterData opens the snapshot a cost request reads its energy in, so
// that readings written meanwhile are not half-seen (QueryMeters).
type MeterData interface {
	Snapshot(ctx context.Context) (MeterSnapshot, error)
}

// MeterSnapshot is what a cost needs from the energy engine, in one
// snapshot (*query.Snapshot): energy per settlement interval, a site's
// members, and the readings of price feeds.
type MeterSnapshot interface {
	EnergyIntervals(q query.IntervalQuery) (*query.Energy, error)
	SiteMembers(tenantID int64, site string) ([]query.Member, error)
	Samples(sourceID int64, metric string, from, to time.Time, f func(t time.Time, v float64) error) error
	Close()
}

// QueryMeters is MeterData from the query service.
type QueryMeters struct{ Query *query.Service }

// Snapshot opens a snapshot of the query service.
func (q QueryMeters) Snapshot(ctx context.Context) (MeterSnapshot, error) {
	sn, err := q.Query.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return sn, nil
}

// Service prices the energy of sources and sites with their tariffs.
type Service struct {
	Tariffs *tariffs.Store
	Sources *sources.Store
	Meters  MeterData
}

// Request asks for the cost of a source or a site over the half-open
// range [From, To): From inclusive, To exclusive, both on a quarter hour.
type Request struct {
	From, To time.Time
	// Bucket is "day" or "month" (default), local to TZ.
	Bucket string
	// TZ is the IANA zone of the buckets; default the zone of the tariffs
	// when they share one, else the source's (a site's members' common
	// zone, else UTC).
	TZ string
	// TariffID prices with this tariff (its version in effect at each
	// instant) instead of the assigned supply and export tariffs.
	TariffID string
	// Breakdown adds each member's share to a site's buckets.
	Breakdown bool
}

// maxSiteSourceDays bounds a site request: members × days of range.
const maxSiteSourceDays = 40_000

func (r *Request) validate() error {
	switch {
	case r.From.IsZero():
		return api.Validation("from", "is required (RFC 3339, e.g. 2026-03-01T00:00:00Z)")
	case r.To.IsZero():
		return api.Validation("to", "is required (RFC 3339, e.g. 2026-04-01T00:00:00Z)")
	case !r.From.Before(r.To):
		return api.Validation("to", "must be after from (the range is [from, to))")
	case !r.From.Equal(r.From.Truncate(SettlementInterval)):
		return api.Validation("from", "must be on a quarter hour: meters are priced per %s settlement interval", SettlementInterval)
	case !r.To.Equal(r.To.Truncate(SettlementInterval)):
		return api.Validation("to", "must be on a quarter hour: meters are priced per %s settlement interval", SettlementInterval)
	case r.To.Sub(r.From) > tariffs.MaxMeterSpan:
		return api.Validation("to", "the range may span at most %d days", int(tariffs.MaxMeterSpan/(24*time.Hour)))
	}
	if r.Bucket == "" {
		r.Bucket = BucketMonth
	}
	if _, ok := bucketSteps[r.Bucket]; !ok {
		return api.Validation("bucket", "%q is not a cost bucket (day or month)", r.Bucket)
	}
	if r.Bucket == "1d" {
		r.Bucket = BucketDay
	} else if r.Bucket == "1mo" {
		r.Bucket = BucketMonth
	}
	if r.TZ != "" {
		if _, err := api.ParseZone("tz", r.TZ); err != nil {
			return err
		}
	}
	return nil
}

// meter is one source being priced and the stretches that price it.
type meter struct {
	query.Member
	stretches []kindStretch
}

type kindStretch struct {
	kind tariffs.Kind
	tariffs.AssignedVersion
}

// SourceCost prices the energy of a source (public id or external id). A
// source of another tenant is NOT_FOUND; one with no supply or export
// tariff over the range (and no tariff_id) is a CONFLICT that says so.
func (s *Service) SourceCost(ctx context.Context, tenantID int64, ref string, r Request) (*Cost, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	src, err := s.Sources.Get(ctx, tenantID, ref)
	if err != nil {
		return nil, err
	}
	fixed, err := s.fixedTariff(ctx, tenantID, r)
	if err != nil {
		return nil, err
	}
	m := &meter{Member: query.Member{ID: src.ID, PublicID: src.PublicID, Kind: string(src.Kind), Timezone: src.Timezone}}
	if err := s.plan(ctx, tenantID, m, r, fixed); err != nil {
		return nil, err
	}
	if len(m.stretches) == 0 {
		return nil, s.noTariff(ctx, tenantID, m, r)
	}
	out := &Cost{Source: src.PublicID}
	sn, err := s.Meters.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer sn.Close()
	return out, s.price(ctx, sn, tenantID, out, []*meter{m}, src.Timezone, r, false)
}

// SiteCost prices a site's energy: the sum over its members, the sources
// the site's energy sums. Members without a tariff are listed in
// Unpriced; a site where no member has one is a CONFLICT.
func (s *Service) SiteCost(ctx context.Context, tenantID int64, site string, r Request) (*Cost, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	sn, err := s.Meters.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer sn.Close()
	members, err := sn.SiteMembers(tenantID, site)
	if err != nil {
		return nil, err
	}
	days := int(r.To.Sub(r.From).Hours()/24) + 1
	if len(members)*days > maxSiteSourceDays {
		return nil, api.Validation("to", "%d sources × %d days is too much work for one request; use a shorter range", len(members), days)
	}
	fixed, err := s.fixedTariff(ctx, tenantID, r)
	if err != nil {
		return nil, err
	}
	meters := make([]*meter, len(members))
	priced := false
	for i, mb := range members {
		meters[i] = &meter{Member: mb}
		if err := s.plan(ctx, tenantID, meters[i], r, fixed); err != nil {
			return nil, err
		}
		priced = priced || len(meters[i].stretches) > 0
	}
	if !priced {
		return nil, api.Errorf(api.CodeConflict, "no source of site %s has a supply or export tariff over [%s, %s); assign one, or pass tariff_id",
			site, rfc3339(r.From), rfc3339(r.To))
	}
	tz := "UTC"
	if len(members) > 0 && !slices.ContainsFunc(members, func(m query.Member) bool { return m.Timezone != members[0].Timezone }) {
		tz = members[0].Timezone
	}
	out := &Cost{Site: site, Sources: []string{}}
	for _, m := range members {
		out.Sources = append(out.Sources, m.PublicID)
	}
	return out, s.price(ctx, sn, tenantID, out, meters, tz, r, true)
}

// fixedTariff returns the stretches of the tariff given by tariff_id, or
// nil for the assigned ones.
func (s *Service) fixedTariff(ctx context.Context, tenantID int64, r Request) ([]kindStretch, error) {
	if r.TariffID == "" {
		return nil, nil
	}
	st, err := s.Tariffs.Get(ctx, tenantID, r.TariffID)
	if err != nil {
		return nil, err
	}
	if st.Kind == tariffs.KindCharging {
		return nil, api.Errorf(api.CodeConflict, "tariff %s is a charging tariff: it prices charging sessions, not a meter's energy; pass a supply or export tariff", st.PublicID)
	}
	var versions []tariffs.Version
	for page := 1; ; page++ {
		list, total, err := s.Tariffs.Versions(ctx, tenantID, st.PublicID, api.PageRequest{Page: page, Limit: 1000})
		if err != nil {
			return nil, err
		}
		versions = append(versions, list...)
		if len(list) == 0 || int64(len(versions)) >= total {
			break
		}
	}
	var out []kindStretch
	for _, v := range versionStretches(st.PublicID, versions, r.From, r.To) {
		out = append(out, kindStretch{st.Kind, v})
	}
	if len(out) == 0 {
		return nil, api.Errorf(api.CodeConflict, "tariff %s has no version in effect over [%s, %s) (a start_date_time in the tariff sets when a version takes effect)",
			st.PublicID, rfc3339(r.From), rfc3339(r.To))
	}
	return out, nil
}

// plan finds the stretches that price a meter: the fixed tariff's, or its
// assigned supply and export tariffs'.
func (s *Service) plan(ctx context.Context, tenantID int64, m *meter, r Request, fixed []kindStretch) error {
	if fixed != nil {
		m.stretches = fixed
		return nil
	}
	for _, kind := range []tariffs.Kind{tariffs.KindSupply, tariffs.KindExport} {
		list, err := s.Tariffs.AssignedTariffs(ctx, tenantID, m.ID, kind, r.From, r.To)
		if err != nil {
			return err
		}
		for _, v := range list {
			m.stretches = append(m.stretches, kindStretch{kind, v})
		}
	}
	return nil
}

// noTariff explains why a source has nothing to price it.
func (s *Service) noTariff(ctx context.Context, tenantID int64, m *meter, r Request) error {
	charging, err := s.Tariffs.AssignedTariffs(ctx, tenantID, m.ID, tariffs.KindCharging, r.From, r.To)
	if err != nil {
		return err
	}
	span := fmt.Sprintf("[%s, %s)", rfc3339(r.From), rfc3339(r.To))
	if len(charging) > 0 {
		return &api.Error{Code: api.CodeConflict,
			Message: fmt.Sprintf("source %s has only a charging tariff (%s) over %s: charging tariffs price charging sessions, not a meter's energy; assign a supply or export tariff, or pass tariff_id",
				m.PublicID, charging[0].TariffID, span),
			Details: map[string]string{"tariff_id": charging[0].TariffID}}
	}
	return api.Errorf(api.CodeConflict, "source %s has no supply or export tariff over %s; assign one, or pass tariff_id", m.PublicID, span)
}

// price computes the energy of each meter, prices its stretches and fills
// out. defaultTZ is the zone of the buckets when the tariffs do not share
// one.
func (s *Service) price(ctx context.Context, sn MeterSnapshot, tenantID int64, out *Cost, meters []*meter, defaultTZ string, r Request, site bool) error {
	out.From, out.To, out.Bucket, out.Interval = r.From, r.To, r.Bucket, "15m"
	out.Tariffs, out.Unpriced, out.Tiers = []PricedStretch{}, []Stretch{}, []string{}
	var zones []string
	for _, m := range meters {
		for _, ks := range m.stretches {
			zone := ""
			if x := ks.Tariff.Extension; x != nil {
				zone = x.TimeZone
			}
			if !slices.Contains(zones, zone) {
				zones = append(zones, zone)
			}
			switch {
			case out.Currency == "":
				out.Currency = ks.Tariff.Currency
			case out.Currency != ks.Tariff.Currency:
				return api.Errorf(api.CodeConflict, "the tariffs over this range are in different currencies (%s and %s, %s version %d); their costs cannot be added",
					out.Currency, ks.Tariff.Currency, ks.TariffID, ks.Version)
			}
			out.Tariffs = append(out.Tariffs, PricedStretch{Stretch: Stretch{Source: m.PublicID, Kind: ks.kind, From: ks.From, To: ks.To},
				TariffID: ks.TariffID, Version: ks.Version, AssignmentID: ks.AssignmentID, Timezone: zone})
		}
		out.Unpriced = append(out.Unpriced, unpricedOf(m, r)...)
	}
	tz := r.TZ
	switch {
	case tz != "":
	case len(zones) == 1 && zones[0] != "":
		tz = zones[0]
	default:
		tz = defaultTZ
	}
	loc, err := api.ParseZone("tz", tz)
	if err != nil {
		return err
	}
	out.TZ = loc.String()
	out.From, out.To = r.From.In(loc), r.To.In(loc)
	g, err := newCostGrid(r.Bucket, r.From, r.To, loc)
	if err != nil {
		return err
	}
	feeds := map[string]tariffs.StaticFeed{}
	ledgers := make([]*ledger, len(meters))
	for i, m := range meters {
		l := newLedger(g, m.PublicID)
		ledgers[i] = l
		e, err := sn.EnergyIntervals(query.IntervalQuery{SourceID: m.ID, From: r.From, To: r.To, Interval: SettlementInterval, Loc: time.UTC})
		if err != nil {
			return err
		}
		l.addEnergy(e.Rows)
		for _, t := range e.Meta.Tiers {
			if !slices.Contains(out.Tiers, t) {
				out.Tiers = append(out.Tiers, t)
			}
		}
		for _, ks := range m.stretches {
			from, to := settleStretch(ks.From, ks.To)
			usage := usageOf(e.Rows, from, to)
			if len(usage) == 0 {
				continue
			}
			feed, err := s.feedFor(ctx, sn, tenantID, ks, feeds, r)
			if err != nil {
				return err
			}
			probe := &probeFeed{feed: feed}
			if err := l.price(ks.AssignedVersion, ks.kind, usage, probe); err != nil {
				return pricingError(m, ks, probe, err)
			}
		}
	}
	if !site {
		out.Sources = nil
	}
	return assemble(out, g, ledgers, site, r.Breakdown)
}

// unpricedOf lists the parts of the range a meter's kinds have no tariff
// for: for each kind it has a stretch of, the gaps between them; the
// whole range when it has none.
func unpricedOf(m *meter, r Request) []Stretch {
	var out []Stretch
	if len(m.stretches) == 0 {
		return []Stretch{{Source: m.PublicID, Kind: tariffs.KindSupply, From: r.From, To: r.To}}
	}
	for _, kind := range []tariffs.Kind{tariffs.KindSupply, tariffs.KindExport} {
		var list []tariffs.AssignedVersion
		for _, ks := range m.stretches {
			if ks.kind == kind {
				list = append(list, ks.AssignedVersion)
			}
		}
		if len(list) == 0 {
			continue
		}
		for _, gap := range uncovered(list, r.From, r.To) {
			out = append(out, Stretch{Source: m.PublicID, Kind: kind, From: gap[0], To: gap[1]})
		}
	}
	return out
}

// feedFor returns the price feeds a stretch's tariff reads, loaded once
// per request over the whole range: the `price` readings of each
// price_feed source the tariff names (by id or external id).
func (s *Service) feedFor(ctx context.Context, sn MeterSnapshot, tenantID int64, ks kindStretch, feeds map[string]tariffs.StaticFeed, r Request) (tariffs.PriceFeed, error) {
	out := tariffs.StaticFeed{}
	for _, ref := range dynamicFeeds(ks.Tariff) {
		if f, ok := feeds[ref]; ok {
			out[ref] = f[ref]
			continue
		}
		src, err := s.feedSource(ctx, tenantID, ref)
		if err != nil {
			return nil, err
		}
		if src == nil {
			return nil, &api.Error{Code: api.CodeConflict,
				Message: fmt.Sprintf("tariff %s version %d takes energy prices from price feed %q, which is not a source of this tenant; register the price_feed source and push its price readings",
					ks.TariffID, ks.Version, ref),
				Details: map[string]string{"tariff_id": ks.TariffID, "price_feed": ref}}
		}
		var points []tariffs.PricePoint
		err = sn.Samples(src.ID, "price", r.From.Add(-feedLookback), r.To, func(t time.Time, v float64) error {
			d, err := decimal.NewFromFloat64(v)
			if err != nil {
				return fmt.Errorf("price feed %s at %s: %w", ref, rfc3339(t), err)
			}
			// To 10⁻⁸ per kWh: a price sent per MWh keeps its digits, not
			// the float noise of its conversion.
			points = append(points, tariffs.PricePoint{Start: t, Price: d.Round(8).Trim(0)})
			return nil
		})
		if err != nil {
			return nil, err
		}
		feeds[ref] = tariffs.StaticFeed{ref: feedSeries(points)}
		out[ref] = feeds[ref][ref]
	}
	return out, nil
}

// feedSource finds a tenant's source by public id or external id; nil
// when there is none.
func (s *Service) feedSource(ctx context.Context, tenantID int64, ref string) (*sources.Source, error) {
	src, err := s.Sources.Get(ctx, tenantID, ref)
	var ae *api.Error
	switch {
	case err == nil:
		return &src, nil
	case errors.As(err, &ae) && ae.Code == api.CodeNotFound:
		return nil, nil
	}
	return nil, err
}

// pricingError explains why a stretch could not be priced: a missing feed
// price names the settlement interval; a tariff that cannot price the
// usage is a state conflict too (409), not a bad request.
func pricingError(m *meter, ks kindStretch, probe *probeFeed, err error) error {
	which := fmt.Sprintf("source %s with tariff %s version %d", m.PublicID, ks.TariffID, ks.Version)
	if errors.Is(err, tariffs.ErrNoPrice) {
		details := map[string]string{"source": m.PublicID, "tariff_id": ks.TariffID}
		msg := fmt.Sprintf("cannot price %s: %v", which, err)
		if !probe.missing.IsZero() {
			start := probe.missing.Truncate(SettlementInterval)
			details["price_feed"] = probe.missingOf
			details["interval_start"] = rfc3339(start)
			details["interval_end"] = rfc3339(start.Add(SettlementInterval))
			msg = fmt.Sprintf("cannot price %s: price feed %q has no price for the settlement interval [%s, %s)",
				which, probe.missingOf, rfc3339(start), rfc3339(start.Add(SettlementInterval)))
		}
		return &api.Error{Code: api.CodeConflict, Message: msg, Details: details}
	}
	var ve *tariffs.ValidationError
	if errors.As(err, &ve) || errors.Is(err, tariffs.ErrNotApplicable) {
		return api.Errorf(api.CodeConflict, "cannot price %s: %v", which, err)
	}
	return fmt.Errorf("price %s: %w", which, err)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
