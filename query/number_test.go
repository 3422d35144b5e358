package query

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestRound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		v        float64
		decimals int
		want     string
	}{
		{"sum of tenths", 0.1 + 0.2, 6, "0.3"},
		{"energy total of the issue", 1013.6287000000002, 6, "1013.6287"},
		{"energy bucket of the issue", 11.121299999998882, 6, "11.1213"},
		{"kWh converted to Wh", 1.1 * 1e3, 3, "1100"},
		{"rounded up", 2.0000005000001, 6, "2.000001"},
		{"rounded down", 2.0000004999999, 6, "2"},
		{"printed half, binary below it", 66657.0739105, 6, "66657.073911"},
		{"printed half, carried", 9.9999995, 6, "10"},
		{"binary tie, half away from zero", 0.125, 2, "0.13"},
		{"negative binary tie", -0.125, 2, "-0.13"},
		{"whole numbers", 2.5, 0, "3"},
		{"no negative zero", -1e-9, 6, "0"},
		{"negative", -3.14159265, 3, "-3.142"},
		{"smallest step", 1e-6, 6, "0.000001"},
		{"price", 0.123456789, 8, "0.12345679"},
		{"no exponent below 1e21", 1.5e6, 3, "1500000"},
		{"large value", 123456789.12345679, 6, "123456789.123457"},
		{"beyond the grid", 9007199254740993, 3, "9007199254740992"},
		{"exponent from 1e21", 1e21, 6, "1e+21"},
		{"zero", 0, 6, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendNumber(nil, tt.v, tt.decimals)); got != tt.want {
				t.Errorf("appendNumber(%v, %d) = %s, want %s", tt.v, tt.decimals, got, tt.want)
			}
			// The float Arrow carries is the one the text parses to.
			if want, _ := strconv.ParseFloat(tt.want, 64); Round(tt.v, tt.decimals) != want {
				t.Errorf("Round(%v, %d) = %v, want %v", tt.v, tt.decimals, Round(tt.v, tt.decimals), want)
			}
		})
	}
	if !math.IsNaN(Round(math.NaN(), 6)) || !math.IsInf(Round(math.Inf(-1), 6), -1) {
		t.Error("NaN and infinities do not come back as they are")
	}
}

// TestRoundProperties checks random values of every magnitude an answer
// holds — arbitrary floats, values on a meter's coarser grid, and values
// that print as an exact half of the grid (2.5000005) — against rounding
// done on paper with exact rationals: the text has at most the allowed
// decimals, no trailing zero, no exponent and no negative zero; it is the
// printed value rounded half away from zero, so within half a unit of it;
// and it parses to the float Round returns (the value Arrow carries).
func TestRoundProperties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(12, 4))
	for i := range 60_000 {
		decimals := rng.IntN(9)
		v := (rng.Float64()*2 - 1) * math.Pow(10, float64(rng.IntN(20)-8))
		switch i % 3 {
		case 1: // on a coarser grid, as meters send them
			v = math.Round(v*1e4) / 1e4
		case 2: // an exact half of the grid when printed
			k := rng.Int64N(1e12)
			v, _ = strconv.ParseFloat(strconv.FormatInt(k, 10)+"5e-"+strconv.Itoa(decimals+1), 64)
		}
		s := string(appendNumber(nil, v, decimals))
		if strings.ContainsAny(s, "eE") || s == "-0" {
			t.Fatalf("%v to %d: %s", v, decimals, s)
		}
		if _, frac, ok := strings.Cut(s, "."); ok && (len(frac) > decimals || strings.HasSuffix(frac, "0")) {
			t.Fatalf("%v to %d: %s has %d decimals or trailing zeros", v, decimals, s, len(frac))
		}
		if f, _ := strconv.ParseFloat(s, 64); f != Round(v, decimals) {
			t.Fatalf("%v to %d: %s, Round %v", v, decimals, s, Round(v, decimals))
		}
		if math.Abs(v)*math.Pow10(decimals) >= 1<<53 {
			continue // no digits below the grid: the value as it prints
		}
		got, _ := new(big.Rat).SetString(s)
		printed, _ := new(big.Rat).SetString(strconv.FormatFloat(v, 'f', -1, 64))
		if want := onPaper(printed, decimals); got.Cmp(want) != 0 {
			t.Fatalf("%v to %d: %s, want %s", v, decimals, s, want.FloatString(decimals))
		}
		units := new(big.Rat).Mul(new(big.Rat).Abs(new(big.Rat).Sub(got, printed)), new(big.Rat).SetFloat64(math.Pow10(decimals)))
		if units.Cmp(big.NewRat(1, 2)) > 0 {
			t.Fatalf("%v to %d: %s is %s units away", v, decimals, s, units.FloatString(3))
		}
	}
}

// onPaper rounds x to decimals places, halves away from zero, exactly.
func onPaper(x *big.Rat, decimals int) *big.Rat {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)
	y := new(big.Rat).Mul(new(big.Rat).Abs(x), new(big.Rat).SetInt(scale))
	y.Add(y, big.NewRat(1, 2))
	out := new(big.Rat).SetFrac(new(big.Int).Quo(y.Num(), y.Denom()), scale)
	if x.Sign() < 0 {
		out.Neg(out)
	}
	return out
}

// TestRoundSums adds metered values the way buckets and totals add them,
// in float64: rounded, the sum is the exact decimal sum, with no noise.
func TestRoundSums(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 7))
	for range 4_000 {
		var sum float64
		var exact int64 // in units of 1e-4 kWh, a 0.1 Wh register step
		for range 1 + rng.IntN(3000) {
			step := rng.Int64N(100_000)
			exact += step
			sum += float64(step) / 1e4
		}
		want := strconv.FormatInt(exact/1e4, 10)
		if frac := strings.TrimRight(strconv.FormatInt(1e4+exact%1e4, 10)[1:], "0"); frac != "" {
			want += "." + frac
		}
		if got := string(appendNumber(nil, sum, EnergyDecimals)); got != want {
			t.Fatalf("sum %v: %s, want %s", sum, got, want)
		}
	}
}

func TestUnitDecimals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unit string
		want int
	}{{"Wh", 3}, {"W", 3}, {"A", 3}, {"V", 3}, {"Hz", 3}, {"%", 3}, {"degC", 3}, {"currency/kWh", 8}, {"lux", 6}}
	for _, tt := range tests {
		if got := UnitDecimals(tt.unit); got != tt.want {
			t.Errorf("UnitDecimals(%q) = %d, want %d", tt.unit, got, tt.want)
		}
	}
}

// BenchmarkAppendNumber measures the rounding every rendered number pays
// against the plain shortest formatting it replaced (strconv), over
// engine-like values: kWh sums with noise. Measured: 57 ns against 84 ns
// a number — the shorter digits pay for the rounding.
func BenchmarkAppendNumber(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	values := make([]float64, 1024)
	for i := range values {
		values[i] = float64(rng.IntN(1e7))/1e4 + 1e-13
	}
	buf := make([]byte, 0, 64)
	b.Run("strconv", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			buf = strconv.AppendFloat(buf[:0], values[i%len(values)], 'g', -1, 64)
		}
	})
	b.Run("rounded", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			buf = appendNumber(buf[:0], values[i%len(values)], EnergyDecimals)
		}
	})
}
