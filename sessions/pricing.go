package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/recovery"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// TariffQuery asks for the charging tariff assigned to a source (internal
// id) of a tenant at an instant.
type TariffQuery struct {
	TenantID, SourceID int64
	At                 time.Time
}

// TariffAnswer answers a TariffQuery as TariffAt does: the tariff and its
// reference, or Err (wrapping ErrNoTariff when none is assigned).
type TariffAnswer struct {
	Tariff *tariffs.Tariff
	Ref    string
	Err    error
}

// BatchTariffSource is a TariffSource that also answers many queries at
// once; the pricing worker then finds a whole batch's tariffs in one
// lookup instead of one per session.
type BatchTariffSource interface {
	TariffSource
	// TariffsAt answers qs, in order; err is for the whole lookup failing.
	TariffsAt(ctx context.Context, qs []TariffQuery) ([]TariffAnswer, error)
}

// tariffQuery is a session's tariff question: its connector, the
// connector's charge box, its start.
type tariffQuery struct {
	tenantID, sourceID int64
	parentID           *int64
	at                 time.Time
}

// tariffsAt finds the tariff of each session: the one assigned to its
// connector, else the one assigned to the connector's charge box (tariffs
// are often assigned per charger), valid at the session start. The
// connectors are asked first, all at once, then the charge boxes of those
// without.
func (svc *Service) tariffsAt(ctx context.Context, qs []tariffQuery) ([]TariffAnswer, error) {
	ask := make([]TariffQuery, len(qs))
	for i, q := range qs {
		ask[i] = TariffQuery{TenantID: q.tenantID, SourceID: q.sourceID, At: q.at}
	}
	out, err := svc.askTariffs(ctx, ask)
	if err != nil {
		return nil, err
	}
	var again []int
	ask = ask[:0]
	for i, q := range qs {
		if errors.Is(out[i].Err, ErrNoTariff) && q.parentID != nil {
			again = append(again, i)
			ask = append(ask, TariffQuery{TenantID: q.tenantID, SourceID: *q.parentID, At: q.at})
		}
	}
	if len(again) > 0 {
		boxes, err := svc.askTariffs(ctx, ask)
		if err != nil {
			return nil, err
		}
		for j, i := range again {
			out[i] = boxes[j]
		}
	}
	for i := range out {
		if out[i].Err == nil && out[i].Tariff == nil {
			out[i].Err = ErrNoTariff
		}
	}
	return out, nil
}

// askTariffs asks the tariff source: in one lookup when it can answer many
// at once, else one query at a time, each failure or panic the session's
// own.
func (svc *Service) askTariffs(ctx context.Context, qs []TariffQuery) ([]TariffAnswer, error) {
	if b, ok := svc.tariffs.(BatchTariffSource); ok {
		out, err := b.TariffsAt(ctx, qs)
		if err == nil && len(out) != len(qs) {
			err = fmt.Errorf("the tariff source answered %d of %d queries", len(out), len(qs))
		}
		return out, err
	}
	out := make([]TariffAnswer, len(qs))
	for i, q := range qs {
		out[i].Err = recovery.Call(svc.cfg.Logger, "session_pricing", func() error {
			var err error
			out[i].Tariff, out[i].Ref, err = svc.tariffs.TariffAt(ctx, q.TenantID, q.SourceID, q.At)
			return err
		}, "source_id", q.SourceID, "tenant_id", q.TenantID)
	}
	return out, nil
}

// zoneOf is the zone a tariff's local-time restrictions are read in: its
// own (gridmetrics.timezone), else the connector's, else its charge box's
// when the connector is left at UTC — OCPI takes it from the location.
func zoneOf(t *tariffs.Tariff, st station) string {
	if t.Extension != nil && t.Extension.TimeZone != "" {
		return t.Extension.TimeZone
	}
	if st.timezone == "UTC" && st.parentTimezone != nil {
		return *st.parentTimezone
	}
	return st.timezone
}

// inZone returns t reading its restrictions in zone: t itself when that is
// its own zone, else a copy (t may be shared with other goroutines).
func inZone(t *tariffs.Tariff, zone string) (*tariffs.Tariff, *time.Location, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, nil, fmt.Errorf("time zone %q: %w", zone, err)
	}
	if t.Extension != nil && t.Extension.TimeZone == zone {
		return t, loc, nil
	}
	c := *t
	ext := tariffs.Extension{}
	if t.Extension != nil {
		ext = *t.Extension
	}
	c.Extension = &ext
	if err := c.SetTimeZone(zone); err != nil {
		return nil, nil, err
	}
	return &c, loc, nil
}

// pricingInput is what pricing a session reads from the database: its
// connector's station, its tariff, its readings and signed values. A
// field's error says that part could not be read for this session alone.
type pricingInput struct {
	start, end time.Time // the session's span, end not before start
	st         station
	stErr      error
	tariff     *tariffs.Tariff
	ref        string
	tariffErr  error
	rd         Readings
	signed     []signedValue
}

// loadInputs reads what pricing each session needs, as if session i ended
// at ends[i], for all of them at once: a statement each for the stations,
// the tariffs (one more for charge boxes), the readings and the signed
// values, however many sessions there are. err is for a failure that is
// not one session's own (the database).
func (svc *Service) loadInputs(ctx context.Context, ss []*Session, ends []time.Time) ([]pricingInput, error) {
	in := make([]pricingInput, len(ss))
	var ids []int64
	for i, s := range ss {
		in[i].start, in[i].end = s.StartTime.UTC(), ends[i]
		if in[i].end.Before(in[i].start) {
			in[i].end = in[i].start
		}
		if s.SourceID != nil {
			ids = append(ids, *s.SourceID)
		}
	}
	if len(ids) == 0 {
		return in, nil
	}
	stations, err := svc.store.stations(ctx, ids)
	if err != nil {
		return nil, err
	}
	var qs []tariffQuery
	var asked []int
	for i, s := range ss {
		if s.SourceID == nil {
			continue
		}
		st, ok := stations[*s.SourceID]
		if !ok {
			in[i].stErr = fmt.Errorf("read source %d: %w", *s.SourceID, pgx.ErrNoRows)
			continue
		}
		in[i].st = st
		qs = append(qs, tariffQuery{tenantID: s.TenantID, sourceID: *s.SourceID, parentID: st.parentID, at: in[i].start})
		asked = append(asked, i)
	}
	answers, err := svc.tariffsAt(ctx, qs)
	if err != nil {
		return nil, err
	}
	var ws []window
	var sessionIDs []int64
	var priced []int
	for j, i := range asked {
		a := answers[j]
		in[i].tariff, in[i].ref, in[i].tariffErr = a.Tariff, a.Ref, a.Err
		if a.Err != nil {
			continue
		}
		ws = append(ws, window{sourceID: *ss[i].SourceID, from: in[i].start, to: in[i].end})
		sessionIDs = append(sessionIDs, ss[i].ID)
		priced = append(priced, i)
	}
	if len(priced) == 0 {
		return in, nil
	}
	rds, err := svc.store.readings(ctx, ws)
	if err != nil {
		return nil, err
	}
	signed, err := svc.store.signedValuesOf(ctx, sessionIDs)
	if err != nil {
		return nil, err
	}
	for j, i := range priced {
		in[i].rd, in[i].signed = rds[j], signed[ss[i].ID]
	}
	return in, nil
}

// compute prices a session as if it ended at end. A session that cannot be
// priced for a reason in its data — no tariff, no connector, readings that
// make no sense, a tariff that does not apply — gets a failed Pricing with
// the reason; err is for trouble worth retrying (the database).
func (svc *Service) compute(ctx context.Context, s *Session, end time.Time) (Pricing, error) {
	in, err := svc.loadInputs(ctx, []*Session{s}, []time.Time{end})
	if err != nil {
		return Pricing{}, err
	}
	return svc.price(s, &in[0])
}

// price prices a session from its inputs, in memory: compute for one
// session, the pricing worker for each of a batch. A failed Pricing and
// err mean what they do for compute.
func (svc *Service) price(s *Session, in *pricingInput) (Pricing, error) {
	fail := func(format string, args ...any) (Pricing, error) {
		return Pricing{Status: StatusFailed, FailureReason: fmt.Sprintf(format, args...)}, nil
	}
	if s.SourceID == nil {
		return fail("the session's connector is unknown: its source was deleted, or no OCPP event has named its EVSE yet")
	}
	if in.stErr != nil {
		return Pricing{}, in.stErr
	}
	st, start, end := in.st, in.start, in.end
	switch err := in.tariffErr; {
	case errors.Is(err, ErrNoTariff):
		return fail("no charging tariff is assigned to %s or its charge box at %s; assign one, then reprice", st.externalID, start.Format(time.RFC3339))
	case err != nil:
		return Pricing{}, fmt.Errorf("find the tariff of session %s: %w", s.PublicID, err)
	}
	ref := in.ref
	t, loc, err := svc.zones.inZone(in.tariff, zoneOf(in.tariff, st))
	if err != nil {
		return fail("tariff %s: %v", ref, err)
	}
	rd, signed := in.rd, in.signed
	meterStart, meterStop := s.MeterStart, s.MeterStop
	if a, b := signedEnergy(signed); a != nil {
		// The signed Start and End readings are the session's energy: the
		// register readings then only shape it over time (by power).
		meterStart, meterStop, rd.Energy = a, b, nil
	}
	ps, err := BuildPeriods(PeriodInput{Start: start, End: end, MeterStart: meterStart, MeterStop: meterStop,
		Readings: rd, States: s.states(), Tariff: t, Location: loc, ParkingThreshold: svc.cfg.ParkingThreshold})
	if err != nil {
		return fail("charging periods: %v", err)
	}
	for i := range ps.Periods {
		ps.Periods[i].TariffID = t.ID
	}
	cdr := buildCDR(s, t, st, ps.Periods, end)
	if cdr.SignedData, err = signedData(signed, st.registeredKey()); err != nil {
		return fail("signed data: %v", err)
	}
	priced, res, err := cdr.Reprice(t)
	if err != nil {
		return fail("pricing with tariff %s: %v", ref, err)
	}
	price := res.AppendJSON(make([]byte, 0, 2048))
	round := func(d decimal.Decimal) decimal.NullDecimal {
		return decimal.NullDecimal{Decimal: tariffs.RoundHalfUp(d, hoursScale).Trim(0), Valid: true}
	}
	return Pricing{
		Status: StatusPriced, TariffRef: ref, Currency: t.Currency,
		EnergyKWh: round(res.Usage.EnergyKWh), ChargingHours: round(res.Usage.ChargingHours), ParkingHours: round(res.Usage.ParkingHours),
		TotalExclVAT: decimal.NullDecimal{Decimal: res.Invoice.Total.ExclVAT, Valid: true},
		TotalInclVAT: decimal.NullDecimal{Decimal: res.Invoice.Total.InclVAT, Valid: true},
		Price:        price,
		CDR: func(at time.Time, count int) ([]byte, error) {
			c := *priced
			c.ID = s.PublicID
			if count > 1 {
				// A repriced session is a new CDR: OCPI CDRs are never changed.
				c.ID += "-" + strconv.Itoa(count)
			}
			c.LastUpdated = at.UTC()
			return c.MarshalJSON()
		},
	}, nil
}

// Reprice prices a stopped session again now, with the tariff valid at its
// start as it is now assigned, and returns it. A result equal to the stored
// one changes nothing (no new version for billing pulls).
func (svc *Service) Reprice(ctx context.Context, tenantID int64, publicID string) (Session, error) {
	for range 3 {
		s, err := svc.store.Get(ctx, tenantID, publicID)
		if err != nil {
			return Session{}, err
		}
		if s.Status == StatusActive || s.StopTime == nil {
			return Session{}, api.Errorf(api.CodeConflict, "session %s is still active; it is priced when it stops", publicID)
		}
		p, err := svc.compute(ctx, &s, *s.StopTime)
		if err != nil {
			return Session{}, err
		}
		out, err := svc.store.storePricing(ctx, tenantID, s.ID, s.Version, p)
		if errors.Is(err, errStale) {
			continue // changed meanwhile: price the new version
		}
		return out, err
	}
	return Session{}, api.Errorf(api.CodeConflict, "session %s keeps changing; retry", publicID)
}

// Get returns a session with its itemised price, and for an active one a
// running estimate: the session priced as if it stopped now.
func (svc *Service) Get(ctx context.Context, tenantID int64, publicID string) (Detail, error) {
	s, err := svc.store.Get(ctx, tenantID, publicID)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Summary: s.Summary(), Price: s.Price, Events: s.Events}
	signed, err := svc.store.signedValues(ctx, s.ID)
	if err != nil {
		return Detail{}, err
	}
	d.SignatureState = signatureState(signed)
	if s.Status == StatusActive {
		now := time.Now().UTC().Truncate(time.Microsecond)
		p, err := svc.compute(ctx, &s, now)
		if err != nil {
			return Detail{}, err
		}
		e := &Estimate{AsOf: now, Error: p.FailureReason}
		if p.Status == StatusPriced {
			e.Tariff, e.Currency, e.EnergyKWh, e.TotalExclVAT, e.TotalInclVAT = p.TariffRef, p.Currency, p.EnergyKWh, p.TotalExclVAT, p.TotalInclVAT
		}
		d.Estimate = e
	}
	return d, nil
}

// CDR returns the OCPI CDR of a priced session. A CDR that is not valid
// OCPI (data it needs is missing: cdrProblems) is a CDR_INCOMPLETE error
// naming the problems, never served as if it were valid.
func (svc *Service) CDR(ctx context.Context, tenantID int64, publicID string) (json.RawMessage, error) {
	s, err := svc.store.Get(ctx, tenantID, publicID)
	if err != nil {
		return nil, err
	}
	if s.CDR == nil {
		return nil, api.Errorf(api.CodeNotFound, "session %s has no CDR: it is %s", publicID, s.Status)
	}
	if problems := s.cdrProblems(); len(problems) > 0 {
		return nil, incompleteCDR(publicID, problems)
	}
	return s.CDR, nil
}
