package sessions

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// This file turns a session's readings into OCPI charging periods. It is
// pure: no database, no HTTP.

// Sample is one reading of a series, in the catalogue's unit.
type Sample struct {
	Time  time.Time
	Value float64
}

// Readings are the samples of a session's connector that its charging
// periods are built from, each series in time order, from the last sample
// before the session start to the first one after its end (so values at the
// edges can be interpolated).
type Readings struct {
	Energy  []Sample // energy_import register, Wh
	Power   []Sample // power_import, W
	Current []Sample // current_import, A, summed over phases
}

// StateChange is an OCPP 2.0.1 chargingState reported at an instant.
type StateChange struct {
	Time  time.Time `json:"time"`
	State string    `json:"state"`
}

// The OCPP 2.0.1 charging states that are parking: the EV is connected and
// not drawing energy because it does not want to (SuspendedEV) or has not
// started (EVConnected). SuspendedEVSE — the station holds back — and Idle
// count as session time like Charging: the driver is not the cause.
var parkingStates = map[string]bool{"SuspendedEV": true, "EVConnected": true}

// PeriodInput is everything the charging periods of a session depend on.
type PeriodInput struct {
	// Start and End bound the session; End is its stop time, or the
	// instant of a running estimate.
	Start, End time.Time
	// MeterStart and MeterStop are the energy register at the start and
	// stop as the lifecycle reported them (Wh); nil when unknown.
	MeterStart, MeterStop *float64
	Readings              Readings
	// States are the OCPP 2.0.1 charging states in time order. When there
	// is any, they alone decide what is parking; otherwise the power does
	// (see ParkingThreshold).
	States []StateChange
	// Tariff, when set, decides where periods must be cut: its local-time
	// windows and day changes, duration, energy, power and current bounds.
	Tariff *tariffs.Tariff
	// Location is the zone the tariff's local-time restrictions are read
	// in; nil is UTC.
	Location *time.Location
	// ParkingThreshold is the power (W) below which a session without
	// charging states is parking from the instant it drops below it for
	// good until the end.
	ParkingThreshold float64
}

// EnergyBasis says where a session's energy was taken from.
type EnergyBasis string

// The energy bases, in order of preference.
const (
	// BasisRegister: the connector's energy register readings, interpolated
	// linearly at period edges (meter start/stop fill in an edge without a
	// reading beyond it).
	BasisRegister EnergyBasis = "register"
	// BasisMeter: no register readings; the meter start and stop values,
	// spread over the session by the power readings when there are any,
	// else evenly over the charging time.
	BasisMeter EnergyBasis = "meter_values"
	// BasisPower: no register and no meter values; the integral of the
	// power readings, linear between samples.
	BasisPower EnergyBasis = "power"
	// BasisNone: nothing measured energy; every period has 0 kWh.
	BasisNone EnergyBasis = "none"
)

// Periods are a session's charging periods and how they were measured.
type Periods struct {
	Periods []tariffs.ChargingPeriod `json:"-"`
	Basis   EnergyBasis              `json:"energy_basis"`
	// ParkingFrom is when a session without charging states became parking
	// for good (power below the threshold); nil when it did not.
	ParkingFrom *time.Time `json:"parking_from,omitempty"`
}

// Rounding of the period volumes. Energy is kept to the mWh, power to the
// mW, so that a value on either side of a restriction bound stays there.
const (
	energyScale  = 6 // kWh
	hoursScale   = 6
	powerScale   = 6 // kW
	currentScale = 3 // A
)

// BuildPeriods cuts a session into OCPI charging periods. A new period
// starts at every instant the price can change:
//
//   - the tariff's element boundaries: local-time window edges, local
//     midnights (day_of_week, dates) and UTC-offset changes in its zone,
//     min/max_duration thresholds, and the instants the session's energy
//     reaches a min/max_kwh bound;
//   - the power or current crossing a min/max_power or min/max_current bound
//     of the tariff (power and current hold each sampled value until the
//     next sample, so a crossing happens at a sample);
//   - the switch between charging and parking: OCPP 2.0.1 charging states
//     when the session has any (SuspendedEV and EVConnected are parking),
//     otherwise the instant after which the power stays below
//     ParkingThreshold until the end. Power is the power readings, or the
//     energy register's slope between readings when there are none.
//
// Each period carries ENERGY (kWh, see EnergyBasis), TIME or PARKING_TIME
// (hours), MAX_POWER (kW, highest power held in the period; absent when no
// power is known) and MAX_CURRENT (A; absent without current readings).
func BuildPeriods(in PeriodInput) (Periods, error) {
	if in.End.Before(in.Start) {
		return Periods{}, fmt.Errorf("the session ends (%s) before it starts (%s)", in.End.Format(time.RFC3339), in.Start.Format(time.RFC3339))
	}
	start, end := in.Start.UTC(), in.End.UTC()
	energy, basis, err := energyCurve(in, start, end)
	if err != nil {
		return Periods{}, err
	}
	power := step(in.Readings.Power)
	if len(power) == 0 && basis == BasisRegister {
		power = energy.(*knotCurve).slopes()
	}
	current := step(in.Readings.Current)

	var out Periods
	out.Basis = basis
	parking := parkingIntervals(in.States, power, in.ParkingThreshold, start, end)
	if len(in.States) == 0 && len(parking) == 1 {
		from := parking[0][0]
		out.ParkingFrom = &from
	}
	if basis == BasisMeter {
		energy = meterCurve(in, start, end, parking)
	}

	cuts := []time.Time{}
	for _, iv := range parking {
		cuts = append(cuts, iv[0], iv[1])
	}
	if t := in.Tariff; t != nil {
		clock, err := t.ClockChanges(start, end, in.Location)
		if err != nil {
			return Periods{}, err
		}
		b, err := t.UsageBounds()
		if err != nil {
			return Periods{}, err
		}
		cuts = append(cuts, clock...)
		for _, wh := range floats(b.KWh, 1000) {
			if at, ok := reaches(energy, start, end, wh); ok {
				cuts = append(cuts, at)
			}
		}
		cuts = append(cuts, power.crossings(floats(b.PowerKW, 1000), start, end)...)
		cuts = append(cuts, current.crossings(floats(b.Current, 1), start, end)...)
	}
	cuts = append(cuts, start)
	slices.SortFunc(cuts, time.Time.Compare)
	cuts = slices.CompactFunc(cuts, time.Time.Equal)
	edges := cuts[:0:0]
	for _, c := range cuts {
		if !c.Before(start) && c.Before(end) || c.Equal(start) {
			edges = append(edges, c)
		}
	}
	edges = append(edges, end)

	e0 := energy.at(start)
	for i := 0; i+1 < len(edges); i++ {
		from, to := edges[i], edges[i+1]
		if i > 0 && !to.After(from) {
			continue
		}
		kwh, err := sub(whToKWh(energy.at(to)-e0), whToKWh(energy.at(from)-e0))
		if err != nil {
			return Periods{}, err
		}
		dims := []tariffs.CdrDimension{{Type: tariffs.DimEnergy, Volume: kwh}}
		timeDim := tariffs.DimTime
		if inIntervals(parking, from) {
			timeDim = tariffs.DimParkingTime
		}
		dims = append(dims, tariffs.CdrDimension{Type: timeDim, Volume: hours(to.Sub(from))})
		if v, ok := power.maxOver(from, to); ok {
			dims = append(dims, tariffs.CdrDimension{Type: tariffs.DimMaxPower, Volume: fromFloat(v/1000, powerScale)})
		}
		if v, ok := current.maxOver(from, to); ok {
			dims = append(dims, tariffs.CdrDimension{Type: tariffs.DimMaxCurrent, Volume: fromFloat(v, currentScale)})
		}
		out.Periods = append(out.Periods, tariffs.ChargingPeriod{StartDateTime: from, Dimensions: dims})
	}
	return out, nil
}

// curve is cumulative energy (Wh) as a non-decreasing function of time.
type curve interface {
	at(t time.Time) float64
}

// energyCurve picks the energy basis of a session (see EnergyBasis). For
// BasisMeter it returns nil: that curve depends on the parking intervals,
// which may depend on the power, and is made by meterCurve.
func energyCurve(in PeriodInput, start, end time.Time) (curve, EnergyBasis, error) {
	reg := sortedSamples(in.Readings.Energy)
	if len(reg) > 0 {
		reg = withMeters(reg, start, in.MeterStart, end, in.MeterStop)
		if len(reg) >= 2 {
			return registerCurve(reg), BasisRegister, nil
		}
	}
	if in.MeterStart != nil && in.MeterStop != nil {
		if *in.MeterStop < *in.MeterStart {
			return nil, "", fmt.Errorf("meter stop %g Wh is below meter start %g Wh and there are no register readings to tell a reset", *in.MeterStop, *in.MeterStart)
		}
		return nil, BasisMeter, nil
	}
	if p := sortedSamples(in.Readings.Power); len(p) >= 2 {
		return newPowerCurve(p), BasisPower, nil
	}
	return flatCurve{}, BasisNone, nil
}

// withMeters adds the register values lifecycle events reported at start
// and end (meter start and stop) to the readings, copying them once at
// most. A value is left out when a reading was taken at its time, or when
// it does not fit between the readings around it (a meter counting in
// other units, or reset): the readings then speak for themselves.
func withMeters(reg []Sample, start time.Time, meterStart *float64, end time.Time, meterStop *float64) []Sample {
	copied := false
	for _, m := range [2]struct {
		t time.Time
		v *float64
	}{{start, meterStart}, {end, meterStop}} {
		if m.v == nil {
			continue
		}
		i := sort.Search(len(reg), func(i int) bool { return !reg[i].Time.Before(m.t) })
		if i < len(reg) && reg[i].Time.Equal(m.t) || i > 0 && reg[i-1].Value > *m.v || i < len(reg) && reg[i].Value < *m.v {
			continue
		}
		if !copied { // reg may be the caller's
			reg, copied = append(make([]Sample, 0, len(reg)+2), reg...), true
		}
		reg = slices.Insert(reg, i, Sample{m.t, *m.v})
	}
	return reg
}

// meterCurve spreads meter stop − meter start over the session: in
// proportion to the power integral when there are power readings that
// cover some of it, else evenly over the charging (non-parking) time, else
// evenly over the whole session.
func meterCurve(in PeriodInput, start, end time.Time, parking [][2]time.Time) curve {
	total := *in.MeterStop - *in.MeterStart
	if p := sortedSamples(in.Readings.Power); len(p) >= 2 {
		pc := newPowerCurve(p)
		if span := pc.at(end) - pc.at(start); span > 0 {
			return scaledCurve{c: pc, origin: pc.at(start), span: span, total: total}
		}
	}
	// Knots at the parking edges: energy flows only while charging.
	knots := []Sample{{start, 0}}
	charging := time.Duration(0)
	prev := start
	for _, iv := range parking {
		charging += iv[0].Sub(prev)
		knots = append(knots, Sample{iv[0], float64(charging)}, Sample{iv[1], float64(charging)})
		prev = iv[1]
	}
	charging += end.Sub(prev)
	knots = append(knots, Sample{end, float64(charging)})
	if charging <= 0 {
		// All parking: the energy still flowed; spread it over the clock.
		knots = []Sample{{start, 0}, {end, 1}}
		charging = 1
	}
	for i := range knots {
		knots[i].Value = knots[i].Value / float64(charging) * total
	}
	if !end.After(start) {
		return flatCurve{v: total}
	}
	return &knotCurve{knots: knots}
}

// sortedSamples returns the samples in time order without repeated times
// (the last of a time wins) and without NaN or ±Inf.
func sortedSamples(s []Sample) []Sample {
	if inOrder(s) {
		return s[:len(s):len(s)] // as the database returns them: no copy
	}
	out := make([]Sample, 0, len(s))
	for _, x := range s {
		if !math.IsNaN(x.Value) && !math.IsInf(x.Value, 0) {
			out = append(out, Sample{x.Time.UTC(), x.Value})
		}
	}
	slices.SortStableFunc(out, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	w := 0
	for i, x := range out {
		if i > 0 && x.Time.Equal(out[w-1].Time) {
			out[w-1] = x
			continue
		}
		out[w] = x
		w++
	}
	return out[:w]
}

// inOrder reports whether s is what sortedSamples would make of it: finite
// values at strictly increasing UTC times.
func inOrder(s []Sample) bool {
	for i, x := range s {
		if math.IsNaN(x.Value) || math.IsInf(x.Value, 0) || x.Time.Location() != time.UTC ||
			i > 0 && !s[i-1].Time.Before(x.Time) {
			return false
		}
	}
	return true
}

// knotCurve is linear between knots and flat outside them.
type knotCurve struct{ knots []Sample }

// registerCurve turns register readings into cumulative energy since the
// first, a decrease being a counter that restarted from zero (as rollups
// count it).
func registerCurve(reg []Sample) *knotCurve {
	knots := make([]Sample, len(reg))
	knots[0] = Sample{reg[0].Time, 0}
	for i := 1; i < len(reg); i++ {
		_, inc, _ := rollups.Gap(reg[i-1].Time.UnixMicro(), reg[i-1].Value, reg[i].Time.UnixMicro(), reg[i].Value)
		knots[i] = Sample{reg[i].Time, knots[i-1].Value + inc}
	}
	return &knotCurve{knots: knots}
}

func (c *knotCurve) at(t time.Time) float64 {
	k := c.knots
	i := sort.Search(len(k), func(i int) bool { return k[i].Time.After(t) })
	switch {
	case i == 0:
		return k[0].Value
	case i == len(k):
		return k[len(k)-1].Value
	}
	a, b := k[i-1], k[i]
	f := float64(t.Sub(a.Time)) / float64(b.Time.Sub(a.Time))
	return a.Value + (b.Value-a.Value)*f
}

// slopes returns the average power (W) between consecutive knots as a step
// series: each value holds from its knot to the next.
func (c *knotCurve) slopes() stepSeries {
	k := c.knots
	out := make(stepSeries, 0, len(k))
	for i := 0; i+1 < len(k); i++ {
		h := k[i+1].Time.Sub(k[i].Time).Hours()
		out = append(out, Sample{k[i].Time, (k[i+1].Value - k[i].Value) / h})
	}
	return out
}

// powerCurve is the integral of power readings (W), linear between
// samples; nothing is counted outside the first and last sample.
type powerCurve struct {
	samples []Sample
	cum     []float64 // Wh from the first sample to each sample
}

func newPowerCurve(s []Sample) *powerCurve {
	c := &powerCurve{samples: s, cum: make([]float64, len(s))}
	for i := 1; i < len(s); i++ {
		ws, _, _ := rollups.Gap(s[i-1].Time.UnixMicro(), s[i-1].Value, s[i].Time.UnixMicro(), s[i].Value)
		c.cum[i] = c.cum[i-1] + ws/3600
	}
	return c
}

func (c *powerCurve) at(t time.Time) float64 {
	s := c.samples
	i := sort.Search(len(s), func(i int) bool { return s[i].Time.After(t) })
	switch {
	case i == 0:
		return 0
	case i == len(s):
		return c.cum[len(s)-1]
	}
	a, b := s[i-1], s[i]
	f := float64(t.Sub(a.Time)) / float64(b.Time.Sub(a.Time))
	pt := a.Value + (b.Value-a.Value)*f
	ws, _, _ := rollups.Gap(a.Time.UnixMicro(), a.Value, t.UnixMicro(), pt)
	return c.cum[i-1] + ws/3600
}

// scaledCurve maps c's growth over the session onto total.
type scaledCurve struct {
	c                   curve
	origin, span, total float64
}

func (s scaledCurve) at(t time.Time) float64 { return (s.c.at(t) - s.origin) / s.span * s.total }

type flatCurve struct{ v float64 }

func (f flatCurve) at(time.Time) float64 { return f.v }

// reaches returns the first instant in (start, end) at which the session's
// energy since start reaches wh, found by bisection to the microsecond.
func reaches(c curve, start, end time.Time, wh float64) (time.Time, bool) {
	e0 := c.at(start)
	if wh <= 0 || c.at(end)-e0 < wh {
		return time.Time{}, false
	}
	lo, hi := start.UnixMicro(), end.UnixMicro() // energy(lo) < wh ≤ energy(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if c.at(time.UnixMicro(mid).UTC())-e0 >= wh {
			hi = mid
		} else {
			lo = mid
		}
	}
	at := time.UnixMicro(hi).UTC()
	return at, at.After(start) && at.Before(end)
}

// stepSeries is a gauge whose every sample holds until the next one.
type stepSeries []Sample

func step(s []Sample) stepSeries { return stepSeries(sortedSamples(s)) }

// valueAt returns the value held at t: that of the last sample at or
// before t.
func (s stepSeries) valueAt(t time.Time) (float64, bool) {
	i := sort.Search(len(s), func(i int) bool { return s[i].Time.After(t) })
	if i == 0 {
		return 0, false
	}
	return s[i-1].Value, true
}

// maxOver returns the highest value held during [from, to).
func (s stepSeries) maxOver(from, to time.Time) (float64, bool) {
	v, ok := s.valueAt(from)
	i := sort.Search(len(s), func(i int) bool { return s[i].Time.After(from) })
	for ; i < len(s) && s[i].Time.Before(to); i++ {
		if !ok || s[i].Value > v {
			v, ok = s[i].Value, true
		}
	}
	return v, ok
}

// crossings returns the samples in (start, end) at which the held value
// moves to the other side of one of the bounds (a value equal to a bound is
// on its upper side), and the first sample when nothing was held before.
func (s stepSeries) crossings(bounds []float64, start, end time.Time) []time.Time {
	if len(bounds) == 0 {
		return nil
	}
	var out []time.Time
	prev, known := s.valueAt(start)
	for _, x := range s {
		if !x.Time.After(start) {
			continue
		}
		if !x.Time.Before(end) {
			break
		}
		if !known || slices.ContainsFunc(bounds, func(b float64) bool { return (prev >= b) != (x.Value >= b) }) {
			out = append(out, x.Time)
		}
		prev, known = x.Value, true
	}
	return out
}

// parkingIntervals returns the parking stretches of [start, end), in order
// and disjoint: from the charging states when there are any, else the
// stretch after which power stays below threshold to the end.
func parkingIntervals(states []StateChange, power stepSeries, threshold float64, start, end time.Time) [][2]time.Time {
	var out [][2]time.Time
	if len(states) > 0 {
		sorted := slices.Clone(states)
		slices.SortStableFunc(sorted, func(a, b StateChange) int { return a.Time.Compare(b.Time) })
		parking := false
		from := start
		for _, sc := range sorted {
			t := sc.Time.UTC()
			if !t.After(start) {
				parking, from = parkingStates[sc.State], start
				continue
			}
			if !t.Before(end) {
				break
			}
			p := parkingStates[sc.State]
			if p == parking {
				continue
			}
			if parking {
				out = append(out, [2]time.Time{from, t})
			}
			parking, from = p, t
		}
		if parking && from.Before(end) {
			out = append(out, [2]time.Time{from, end})
		}
		return out
	}
	if len(power) == 0 || !end.After(start) {
		return nil
	}
	// The sample after the last one at or above the threshold starts the
	// parking; with none at or above it, parking starts with the first
	// sample (the session never drew power).
	last := -1
	for i, x := range power {
		if x.Time.Before(end) && x.Value >= threshold {
			last = i
		}
	}
	if last+1 >= len(power) {
		return nil
	}
	from := power[last+1].Time
	if from.Before(start) {
		from = start
	}
	if !from.Before(end) {
		return nil
	}
	return [][2]time.Time{{from, end}}
}

func inIntervals(ivs [][2]time.Time, t time.Time) bool {
	for _, iv := range ivs {
		if !t.Before(iv[0]) && t.Before(iv[1]) {
			return true
		}
	}
	return false
}

// floats converts a tariff's bounds to the units of the readings: kWh
// and kW to Wh and W (scale 1000), A as they are.
func floats(bounds []decimal.Decimal, scale float64) []float64 {
	out := make([]float64, 0, len(bounds))
	for _, d := range bounds {
		if f, ok := d.Float64(); ok {
			out = append(out, f*scale)
		}
	}
	return out
}

// whToKWh converts Wh to kWh rounded to the mWh.
func whToKWh(wh float64) decimal.Decimal { return fromFloat(wh/1000, energyScale) }

// fromFloat converts a float to a decimal rounded half away from zero to
// scale places; values beyond the decimal range are clamped to 0, which no
// reading reaches.
func fromFloat(v float64, scale int) decimal.Decimal {
	d, err := decimal.NewFromFloat64(v)
	if err != nil {
		return decimal.Decimal{}
	}
	return tariffs.RoundHalfUp(d, scale).Trim(0)
}

// hours converts a duration to hours, rounded to hoursScale places.
func hours(d time.Duration) decimal.Decimal {
	secs, err := decimal.New(int64(d), 9)
	if err != nil {
		return decimal.Decimal{}
	}
	h, err := secs.Quo(decimal.MustNew(3600, 0))
	if err != nil {
		return decimal.Decimal{}
	}
	return tariffs.RoundHalfUp(h, hoursScale).Trim(0)
}

func sub(a, b decimal.Decimal) (decimal.Decimal, error) {
	d, err := a.Sub(b)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("energy: %w", err)
	}
	if d.IsNeg() {
		d = decimal.Decimal{}
	}
	return d.Trim(0), nil
}
