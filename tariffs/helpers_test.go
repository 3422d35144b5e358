package tariffs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/govalues/decimal"
)

// examplesDir holds the OCPI 2.2.1 specification's example objects.
const examplesDir = "../../shared/ocpi-2.2.1/examples"

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return v
}

// local reads a wall-clock time "2006-01-02 15:04[:05]" in zone.
func local(t testing.TB, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if v, err := time.ParseInLocation(layout, s, loc); err == nil {
			return v
		}
	}
	t.Fatalf("bad local time %q", s)
	return time.Time{}
}

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// example parses one of the specification's tariffs and sets the time zone
// of its (German) CPO.
func example(t testing.TB, name string) *Tariff {
	t.Helper()
	tf, err := ParseTariff(readExample(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := tf.SetTimeZone("Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	return tf
}

func mustTariff(t testing.TB, js string) *Tariff {
	t.Helper()
	tf, err := ParseTariff([]byte(js))
	if err != nil {
		t.Fatalf("tariff: %v\n%s", err, js)
	}
	return tf
}

// cp builds a charging period from alternating dimension types and volumes:
// cp(start, "TIME", "0.5", "ENERGY", "11").
func cp(start time.Time, dims ...string) ChargingPeriod {
	p := ChargingPeriod{StartDateTime: start}
	for i := 0; i+1 < len(dims); i += 2 {
		p.Dimensions = append(p.Dimensions, CdrDimension{Type: DimensionType(dims[i]), Volume: dec(dims[i+1])})
	}
	return p
}

// wantAmount checks an amount against "excl/incl" decimal strings, by value.
func wantAmount(t testing.TB, what string, got Amount, excl, incl string) {
	t.Helper()
	if got.ExclVAT.Cmp(dec(excl)) != 0 || got.InclVAT.Cmp(dec(incl)) != 0 {
		t.Errorf("%s = %s / %s, want %s / %s", what, got.ExclVAT, got.InclVAT, excl, incl)
	}
}

func wantDec(t testing.TB, what string, got decimal.Decimal, want string) {
	t.Helper()
	if got.Cmp(dec(want)) != 0 {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func price(t testing.TB, tf *Tariff, s Session) Result {
	t.Helper()
	r, err := PriceSession(tf, s)
	if err != nil {
		t.Fatalf("PriceSession: %v", err)
	}
	return r
}

// dumpLines logs the lines of a result, for failing tests.
func dumpLines(t testing.TB, r Result) {
	t.Helper()
	for _, l := range r.Lines {
		t.Logf("%-16s e%-2d %s..%s vol=%s (+%s) %s × %s = %s / %s vat=%v",
			l.Component, l.ElementIndex, l.PeriodStart.Format(time.RFC3339), l.PeriodEnd.Format(time.RFC3339),
			l.Volume, l.StepVolume, l.Unit, l.UnitPrice, l.ExclVAT, l.InclVAT, l.VATRate)
	}
}
