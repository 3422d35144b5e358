package query

import (
	"math"
	"strconv"
	"strings"

	"github.com/gridmetrics/gridmetrics/table"
)

// The precision of the numbers in answers, in decimal places. Values are
// computed in float64 and rounded once, as they are rendered: the engine
// and the rollups stay exact, so that every tier keeps answering like raw
// readings, and an answer carries no binary noise (1013.6287, not
// 1013.6287000000002). The grids match the decimal figures of the cost and
// session routes: kWh to the mWh, W to the mW, A to the mA.
const (
	// EnergyDecimals is the precision of kWh: 1e-6 kWh, one mWh.
	EnergyDecimals = 6
	// PowerDecimals is the precision of W: one mW.
	PowerDecimals = 3
	// RatioDecimals is the precision of fractions (load factor,
	// completeness).
	RatioDecimals = 6
	// priceDecimals is the precision of a price feed's currency/kWh, the
	// precision the cost routes keep of its readings.
	priceDecimals = 8
	// otherDecimals is the precision of a unit missing from unitDecimals.
	otherDecimals = 6
)

// unitDecimals is the precision of a value in each stored unit of the
// metric catalogue: the raw readings, downsampled aggregates and latest
// values of its metrics. Wh to the mWh matches kWh to 1e-6; the finest
// unit ingest accepts for current is the mA.
var unitDecimals = map[string]int{
	"Wh":           3,
	"W":            PowerDecimals,
	"A":            3,
	"V":            3,
	"Hz":           3,
	"%":            3,
	"degC":         3,
	"currency/kWh": priceDecimals,
}

// UnitDecimals returns the precision of values in a metric's stored unit.
func UnitDecimals(unit string) int {
	if d, ok := unitDecimals[unit]; ok {
		return d
	}
	return otherDecimals
}

// pow10 holds the exact powers of ten that Round scales by.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// Round returns v rounded to decimals places (0 to 15) as the decimal v
// prints as (its shortest form) is rounded on paper, halves away from
// zero: 2.5000005 → 2.500001 whatever binary value stands for it. The
// result is the float64 nearest to that decimal, which prints back as it
// (strconv 'f' with precision -1, encoding/json, Arrow readers): dividing
// the rounded integer by an exact power of ten is correctly rounded, while
// multiplying by 1e-6 would bring the noise back (0.30000000000000004).
// A value too large to have digits below the grid, NaN and ±Inf come back
// as they are; -0 becomes 0.
func Round(v float64, decimals int) float64 {
	p := pow10[decimals]
	scaled := math.Abs(v) * p
	if !(scaled < 1<<53) { // also NaN
		return v
	}
	// v·p is off by an ulp or two, from v's own binary error and the
	// product's; within a few ulps of a half it may fall on either side,
	// so the printed decimal decides there.
	if f := scaled - math.Floor(scaled); math.Abs(f-0.5) <= scaled*1e-15 {
		return roundShortest(v, decimals)
	}
	r := math.Round(v*p) / p
	if r == 0 {
		return 0
	}
	return r
}

// roundShortest rounds the shortest decimal form of v to decimals places,
// halves away from zero, digit by digit: the slow path of Round, for
// values next to a half.
func roundShortest(v float64, decimals int) float64 {
	s := strconv.FormatFloat(math.Abs(v), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) <= decimals {
		return v
	}
	digits := []byte(whole + frac[:decimals])
	if frac[decimals] >= '5' {
		i := len(digits) - 1
		for ; i >= 0 && digits[i] == '9'; i-- {
			digits[i] = '0'
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		} else {
			digits[i]++
		}
	}
	n := len(digits) - decimals
	r, _ := strconv.ParseFloat(string(digits[:n])+"."+string(digits[n:]), 64)
	if r == 0 {
		return 0
	}
	return math.Copysign(r, v)
}

// appendNumber appends v rounded to decimals places in its shortest
// decimal form, as encoding/json writes numbers: plain digits, an
// exponent only from 1e21 on.
func appendNumber(b []byte, v float64, decimals int) []byte {
	return table.AppendPlainFloat(b, Round(v, decimals))
}

// roundPtr returns a rounded copy of *p, nil for nil.
func roundPtr(p *float64, decimals int) *float64 {
	if p == nil {
		return nil
	}
	v := Round(*p, decimals)
	return &v
}

// rounded returns the row with its energy rounded to EnergyDecimals.
func (r EnergyRow) rounded() EnergyRow {
	r.ImportKWh, r.ExportKWh = roundPtr(r.ImportKWh, EnergyDecimals), roundPtr(r.ExportKWh, EnergyDecimals)
	return r
}

// rounded returns the meta with its energy totals rounded.
func (m Meta) rounded() Meta {
	m.TotalImportKWh, m.TotalExportKWh = roundPtr(m.TotalImportKWh, EnergyDecimals), roundPtr(m.TotalExportKWh, EnergyDecimals)
	return m
}

// rounded returns the statistics with power, energy and ratios rounded.
func (s Stats) rounded() Stats {
	s.PeakPowerW, s.AveragePowerW = roundPtr(s.PeakPowerW, PowerDecimals), roundPtr(s.AveragePowerW, PowerDecimals)
	s.EnergyKWh = roundPtr(s.EnergyKWh, EnergyDecimals)
	s.LoadFactor = roundPtr(s.LoadFactor, RatioDecimals)
	s.Completeness = Round(s.Completeness, RatioDecimals)
	return s
}

// rounded returns the reading with its value rounded for its unit.
func (l LatestReading) rounded() LatestReading {
	l.Value = Round(l.Value, UnitDecimals(l.Unit))
	return l
}
