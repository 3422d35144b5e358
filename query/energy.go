package query

import (
	"time"
)

// Method says where a direction's energy comes from.
type Method string

// The energy methods: the register of a counter (energy_import or
// energy_export, Wh) when the source has one over the range; else the
// time integral of the power gauge (power_import or power_export, W);
// none when the source measures neither.
const (
	MethodCounter Method = "counter"
	MethodPower   Method = "power"
	MethodNone    Method = "none"
)

// Direction is one direction of energy flow and the metrics that measure it.
type Direction struct {
	Name    string // import or export
	Counter string // metric name of the register, Wh
	Power   string // metric name of the power gauge, W
}

// Directions are import and export.
var Directions = []Direction{
	{Name: "import", Counter: "energy_import", Power: "power_import"},
	{Name: "export", Counter: "energy_export", Power: "power_export"},
}

// kWh converts a bucket's counter increase (Wh) or power integral (W·s)
// to kWh.
func kWh(b Bucket, m Method) float64 {
	switch m {
	case MethodCounter:
		return b.Increase / 1e3
	case MethodPower:
		return b.Integral / 3.6e6
	}
	return 0
}

// EnergyRow is one bucket of an energy answer. A direction the source
// does not measure is nil (null in JSON, empty in CSV).
type EnergyRow struct {
	Time      time.Time `json:"time"`
	End       time.Time `json:"end"`
	ImportKWh *float64  `json:"import_kwh"`
	ExportKWh *float64  `json:"export_kwh"`
	Quality   Quality   `json:"quality"`
}

// DirectionResult is one direction of one source over a grid.
type DirectionResult struct {
	Method  Method
	Buckets []Bucket // one per grid bucket; nil for MethodNone
}

// energyRows joins the import and export results of a source into rows.
// The quality of a row is the worse of the measured directions; a source
// that measures neither has partial rows.
func energyRows(grid Buckets, imp, exp DirectionResult) []EnergyRow {
	rows := make([]EnergyRow, grid.Len())
	for i := range rows {
		r := EnergyRow{Time: grid.Start(i), End: grid.End(i)}
		for _, d := range []struct {
			res DirectionResult
			out **float64
		}{{imp, &r.ImportKWh}, {exp, &r.ExportKWh}} {
			if d.res.Method == MethodNone {
				continue
			}
			v := kWh(d.res.Buckets[i], d.res.Method)
			*d.out = &v
			r.Quality = worse(r.Quality, d.res.Buckets[i].Quality)
		}
		if r.Quality == "" {
			r.Quality = Partial
		}
		rows[i] = r
	}
	return rows
}

// addRows adds a source's rows into a site's totals: energies add (a
// direction stays nil only while no source measures it) and the quality
// is the worst of the sources that measure something.
func addRows(total, rows []EnergyRow, measured bool) {
	for i := range total {
		for _, d := range []struct{ dst, src **float64 }{{&total[i].ImportKWh, &rows[i].ImportKWh}, {&total[i].ExportKWh, &rows[i].ExportKWh}} {
			if *d.src == nil {
				continue
			}
			v := **d.src
			if *d.dst != nil {
				v += **d.dst
			}
			*d.dst = &v
		}
		if measured {
			total[i].Quality = worse(total[i].Quality, rows[i].Quality)
		}
	}
}

// Stats summarises a source's power and energy over a range.
type Stats struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// PeakPowerW is the largest power_import sample and PeakTime its first
	// time; null when the source has no power readings in the range.
	PeakPowerW *float64   `json:"peak_power_w"`
	PeakTime   *time.Time `json:"peak_time"`
	// AveragePowerW is the imported energy divided by the range's length.
	AveragePowerW *float64 `json:"average_power_w"`
	// EnergyKWh is the imported energy, from the counter when there is one,
	// else from the integral of power (EnergyMethod).
	EnergyKWh    *float64 `json:"energy_kwh"`
	EnergyMethod Method   `json:"energy_method"`
	// LoadFactor is average power over peak power, in [0, 1] for a
	// well-behaved meter; null without a positive peak.
	LoadFactor *float64 `json:"load_factor"`
	// SampleCount is the number of readings in the range of the series
	// used: power_import, plus energy_import when it gave the energy.
	SampleCount int64 `json:"sample_count"`
	// Completeness is the fraction of the range covered by the energy
	// series without a long gap: 1 when samples span the whole range no
	// further apart than the gap threshold.
	Completeness float64 `json:"completeness"`
}

// statsOf computes Stats from whole-range buckets of the power series and
// the counter series (either may be empty).
func statsOf(from, to time.Time, power, counter Bucket) Stats {
	s := Stats{From: from, To: to, EnergyMethod: MethodNone}
	span := float64(to.Sub(from).Microseconds())
	energySeries := power
	switch {
	case counter.N > 0:
		s.EnergyMethod, energySeries = MethodCounter, counter
		s.SampleCount += counter.N
	case power.N > 0:
		s.EnergyMethod = MethodPower
	}
	s.SampleCount += power.N
	if power.N > 0 {
		peak := power.Max
		s.PeakPowerW = &peak
	}
	if s.EnergyMethod != MethodNone {
		e := kWh(energySeries, s.EnergyMethod)
		avg := e * 1e3 / (span / 3.6e9)
		s.EnergyKWh, s.AveragePowerW = &e, &avg
		if s.PeakPowerW != nil && *s.PeakPowerW > 0 {
			lf := avg / *s.PeakPowerW
			s.LoadFactor = &lf
		}
		s.Completeness = float64(energySeries.Covered-energySeries.Long) / span
	}
	return s
}
