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
// holds: the text has at most the allowed decimals, no trailing zero and
// no exponent, parses to the float Round returns, and is within half a
// unit of the value's exact binary expansion — the nearest step of the
// grid (either neighbour when the value is within float resolution of a
// half).
func TestRoundProperties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(12, 4))
	for i := range 200_000 {
		decimals := rng.IntN(9)
		v := (rng.Float64()*2 - 1) * math.Pow(10, float64(rng.IntN(22)-9))
		if i%4 == 0 { // a value on a coarser grid, as meters send them
			v = math.Round(v*1e4) / 1e4
		}
		s := string(appendNumber(nil, v, decimals))
		if strings.ContainsAny(s, "eE") {
			t.Fatalf("%v to %d: %s has an exponent", v, decimals, s)
		}
		if _, frac, ok := strings.Cut(s, "."); ok && (len(frac) > decimals || strings.HasSuffix(frac, "0")) {
			t.Fatalf("%v to %d: %s has %d decimals or trailing zeros", v, decimals, s, len(frac))
		}
		if s == "-0" {
			t.Fatalf("%v to %d: negative zero", v, decimals)
		}
		if f, _ := strconv.ParseFloat(s, 64); f != Round(v, decimals) {
			t.Fatalf("%v to %d: %s, Round %v", v, decimals, s, Round(v, decimals))
		}

		got, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("%v to %d: %q is not a number", v, decimals, s)
		}
		exact := new(big.Rat).SetFloat64(v)
		unit := new(big.Rat).SetFrac64(1, int64(math.Pow10(decimals)))
		// How far the float product v·10^d may be off in units: the grid
		// decision is exact only beyond that distance from a half.
		scaled := math.Abs(v) * math.Pow10(decimals)
		slack := 2 * (math.Nextafter(scaled, math.Inf(1)) - scaled)
		diff, _ := new(big.Rat).Quo(new(big.Rat).Abs(new(big.Rat).Sub(got, exact)), unit).Float64()
		// Within half a unit, it is the nearest step of the grid.
		if diff > 0.5+slack {
			t.Fatalf("%v to %d: %s is %v units away", v, decimals, s, diff)
		}
	}
}

// TestRoundSums adds metered values the way buckets and totals add them,
// in float64: rounded, the sum is the exact decimal sum, with no noise.
func TestRoundSums(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 7))
	for range 20_000 {
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
