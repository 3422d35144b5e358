package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// tariffAt finds the tariff of a session: the one assigned to its
// connector, else the one assigned to the connector's charge box (tariffs
// are often assigned per charger), valid at the session start.
func (svc *Service) tariffAt(ctx context.Context, tenantID, sourceID int64, parentID *int64, at time.Time) (*tariffs.Tariff, string, error) {
	t, ref, err := svc.tariffs.TariffAt(ctx, tenantID, sourceID, at)
	if errors.Is(err, ErrNoTariff) && parentID != nil {
		t, ref, err = svc.tariffs.TariffAt(ctx, tenantID, *parentID, at)
	}
	if err == nil && t == nil {
		err = ErrNoTariff
	}
	return t, ref, err
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

// compute prices a session as if it ended at end. A session that cannot be
// priced for a reason in its data — no tariff, no connector, readings that
// make no sense, a tariff that does not apply — gets a failed Pricing with
// the reason; err is for trouble worth retrying (the database).
func (svc *Service) compute(ctx context.Context, s *Session, end time.Time) (Pricing, error) {
	fail := func(format string, args ...any) (Pricing, error) {
		return Pricing{Status: StatusFailed, FailureReason: fmt.Sprintf(format, args...)}, nil
	}
	if s.SourceID == nil {
		return fail("the session's connector is unknown: its source was deleted, or no OCPP event has named its EVSE yet")
	}
	st, err := svc.store.station(ctx, *s.SourceID)
	if err != nil {
		return Pricing{}, err
	}
	start := s.StartTime.UTC()
	t, ref, err := svc.tariffAt(ctx, s.TenantID, *s.SourceID, st.parentID, start)
	switch {
	case errors.Is(err, ErrNoTariff):
		return fail("no charging tariff is assigned to %s or its charge box at %s; assign one, then reprice", st.externalID, start.Format(time.RFC3339))
	case err != nil:
		return Pricing{}, fmt.Errorf("find the tariff of session %s: %w", s.PublicID, err)
	}
	t, loc, err := inZone(t, zoneOf(t, st))
	if err != nil {
		return fail("tariff %s: %v", ref, err)
	}
	if end.Before(start) {
		end = start
	}
	rd, err := svc.store.readings(ctx, *s.SourceID, start, end)
	if err != nil {
		return Pricing{}, err
	}
	signed, err := svc.store.signedValues(ctx, s.ID)
	if err != nil {
		return Pricing{}, err
	}
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
	price, err := json.Marshal(res)
	if err != nil {
		return Pricing{}, fmt.Errorf("encode the price of session %s: %w", s.PublicID, err)
	}
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

// CDR returns the OCPI CDR of a priced session.
func (svc *Service) CDR(ctx context.Context, tenantID int64, publicID string) (json.RawMessage, error) {
	s, err := svc.store.Get(ctx, tenantID, publicID)
	if err != nil {
		return nil, err
	}
	if s.CDR == nil {
		return nil, api.Errorf(api.CodeNotFound, "session %s has no CDR: it is %s", publicID, s.Status)
	}
	return s.CDR, nil
}
