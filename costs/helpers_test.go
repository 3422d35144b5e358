package costs

import (
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/tariffs"
)

const amsterdam = "Europe/Amsterdam"

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// local reads a wall-clock time "2006-01-02 15:04[:05]" in zone.
func local(t testing.TB, zone, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) > len(layout) {
		layout += ":05"
	}
	v, err := time.ParseInLocation(layout, s, mustLoc(t, zone))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustTariff(t testing.TB, js string) *tariffs.Tariff {
	t.Helper()
	tf, err := tariffs.ParseTariff([]byte(js))
	if err != nil {
		t.Fatalf("tariff: %v\n%s", err, js)
	}
	return tf
}

// supplyTariff is a supply or export tariff in Amsterdam with the given
// elements.
func supplyTariff(t testing.TB, kind, elements string) *tariffs.Tariff {
	t.Helper()
	return mustTariff(t, `{"country_code":"NL","party_id":"GMX","id":"sup","currency":"EUR","elements":`+elements+
		`,"gridmetrics":{"kind":"`+kind+`","timezone":"`+amsterdam+`"}}`)
}

func wantDec(t testing.TB, what string, got decimal.Decimal, want string) {
	t.Helper()
	if got.Cmp(dec(want)) != 0 {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func wantAmount(t testing.TB, what string, got tariffs.Amount, excl, incl string) {
	t.Helper()
	wantDec(t, what+" excl. VAT", got.ExclVAT, excl)
	wantDec(t, what+" incl. VAT", got.InclVAT, incl)
}
