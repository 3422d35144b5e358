package ingest

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/internal/settings"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Catalog knows the metrics readings may carry and how to convert the units
// clients send into the unit each metric is stored in.
type Catalog struct {
	byName map[string]catalogMetric
}

type catalogMetric struct {
	id   int16
	unit string
}

// conversion turns a value in some unit into the stored unit: v*scale+offset.
type conversion struct{ scale, offset float64 }

// unitAliases lists, per stored unit, the units accepted for it. Names are
// matched case-insensitively.
var unitAliases = map[string]map[string]conversion{
	"Wh":   {"wh": {1, 0}, "kwh": {1e3, 0}, "mwh": {1e6, 0}},
	"W":    {"w": {1, 0}, "kw": {1e3, 0}, "mw": {1e6, 0}},
	"A":    {"a": {1, 0}, "ma": {1e-3, 0}},
	"V":    {"v": {1, 0}, "kv": {1e3, 0}},
	"%":    {"%": {1, 0}, "percent": {1, 0}},
	"degC": {"degc": {1, 0}, "celsius": {1, 0}, "°c": {1, 0}, "c": {1, 0}, "k": {1, -273.15}, "kelvin": {1, -273.15}},
	"Hz":   {"hz": {1, 0}},
}

// NewCatalog builds the catalogue from the metrics table.
func NewCatalog(metrics []sources.Metric) Catalog {
	c := Catalog{byName: make(map[string]catalogMetric, len(metrics))}
	for _, m := range metrics {
		c.byName[m.Name] = catalogMetric{id: m.ID, unit: m.Unit}
	}
	return c
}

// convert returns the metric's id and the value in its stored unit.
func (c Catalog) convert(metric, unit string, v float64) (id int16, out float64, code, msg string) {
	m, ok := c.byName[metric]
	if !ok {
		return 0, 0, CodeUnknownMetric, fmt.Sprintf("metric %q is not in the catalogue (GET /v1/metrics lists them)", metric)
	}
	if unit == "" || unit == m.unit {
		return m.id, v, "", ""
	}
	if conv, ok := unitAliases[m.unit][strings.ToLower(unit)]; ok {
		return m.id, v*conv.scale + conv.offset, "", ""
	}
	if f, ok := fahrenheit(m.unit, unit); ok {
		return m.id, f(v), "", ""
	}
	if scale, ok := priceUnit(m.unit, unit); ok {
		return m.id, v * scale, "", ""
	}
	return 0, 0, CodeUnknownUnit, fmt.Sprintf("unit %q does not fit metric %s (stored in %s)", unit, metric, m.unit)
}

func fahrenheit(stored, unit string) (func(float64) float64, bool) {
	u := strings.ToLower(unit)
	if stored != "degC" || (u != "fahrenheit" && u != "degf" && u != "°f" && u != "f") {
		return nil, false
	}
	return func(v float64) float64 { return (v - 32) * 5 / 9 }, true
}

// priceUnit accepts a currency per kWh or per MWh ("EUR/kWh", "EUR/MWh")
// for prices, which are stored per kWh.
func priceUnit(stored, unit string) (scale float64, ok bool) {
	if stored != "currency/kWh" {
		return 0, false
	}
	cur, per, found := strings.Cut(unit, "/")
	if !found || len(cur) != 3 {
		return 0, false
	}
	switch strings.ToLower(per) {
	case "kwh":
		return 1, true
	case "mwh":
		return 1e-3, true
	}
	return 0, false
}

// Limits bounds the times readings may carry.
type Limits struct {
	// MaxSkew is how far in the future a reading may be, for clocks that
	// run ahead; zero allows none, WithDefaults sets 10 minutes.
	MaxSkew time.Duration
	// RawRetention is how long raw readings are kept. A reading older than
	// that is refused (CodeTimeTooOld): the rollups would re-aggregate its
	// bucket from raw readings retention already deleted, and lose the
	// history they hold. The bound is rounded up to the finest rollup
	// bucket, the unit re-aggregation works in. Zero or negative: no bound
	// (raw readings are kept forever).
	RawRetention time.Duration
}

// WithDefaults returns l with a zero MaxSkew set to 10 minutes.
func (l Limits) WithDefaults() Limits {
	if l.MaxSkew == 0 {
		l.MaxSkew = 10 * time.Minute
	}
	return l
}

// Validate refuses a negative MaxSkew, which would refuse readings taken
// now.
func (l Limits) Validate() error {
	return settings.NotNegative("ingest.MaxSkew", l.MaxSkew)
}

// earliest is the oldest time accepted: nothing metered this platform
// before it, and older times are almost always a device's unset clock.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// rowBounds are the times accepted at one instant.
type rowBounds struct {
	Limits
	oldest, newest time.Time
	retained       bool // oldest comes from RawRetention
}

// bounds returns the times accepted at now.
func (l Limits) bounds(now time.Time) rowBounds {
	b := rowBounds{Limits: l, oldest: earliest, newest: now.Add(l.MaxSkew)}
	if l.RawRetention > 0 {
		width := rollups.Tiers[0].Width
		cutoff := now.Add(-l.RawRetention)
		if floor := cutoff.Truncate(width); floor.Before(cutoff) {
			cutoff = floor.Add(width)
		}
		if cutoff.After(b.oldest) {
			b.oldest, b.retained = cutoff.UTC(), true
		}
	}
	return b
}

// checkRow validates a row's value and time.
func (b rowBounds) checkRow(r Row) (code, msg string) {
	switch {
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
		return CodeInvalidValue, fmt.Sprintf("value %v is not a finite number", r.Value)
	case r.Time.Before(b.oldest) && b.retained:
		return CodeTimeTooOld, fmt.Sprintf("time %s is older than the raw retention of %s allows (before %s); its rollups could not be re-aggregated",
			r.Time.Format(time.RFC3339), formatDuration(b.RawRetention), b.oldest.Format(time.RFC3339))
	case r.Time.Before(b.oldest):
		return CodeTimeTooOld, fmt.Sprintf("time %s is before 2000-01-01", r.Time.Format(time.RFC3339))
	case r.Time.After(b.newest):
		return CodeTimeInFuture, fmt.Sprintf("time %s is more than %s ahead of the server clock", r.Time.Format(time.RFC3339), b.MaxSkew)
	}
	return "", ""
}

// formatDuration writes whole days as "90d", other durations as Go does.
func formatDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
