package tariffs

import (
	"errors"
	"strings"
	"testing"
)

func TestRepriceCDRExample(t *testing.T) {
	t.Parallel()
	c, err := ParseCDR(readExample(t, "cdr_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The CDR's tariff: TIME 2.00/h (10 %) per 300 s. The session lasts
	// 21:39:09–23:37:32, 1 h 58 min 23 s, rounded up to 2 h: 4.00 / 4.40,
	// the CDR's own total_cost and total_time_cost.
	out, r, err := c.Reprice(c.Tariffs[0])
	if err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "total", r.Totals.Total, "4.00", "4.40")
	if !samePrice(out.TotalCost, c.TotalCost) || !samePrice(*out.TotalTimeCost, *c.TotalTimeCost) {
		t.Errorf("repriced totals %+v / %+v differ from the CDR's", out.TotalCost, out.TotalTimeCost)
	}
	if out.TotalFixedCost != nil || out.TotalEnergyCost != nil || out.TotalParkingCost != nil {
		t.Error("no FLAT, ENERGY or PARKING_TIME was priced: those totals must stay absent")
	}
	// No ENERGY dimension in the periods: total_energy is kept as stated.
	wantDec(t, "total_energy", out.TotalEnergy, "15.342")
	// total_time by the clock: 1:58:23 = 1.97305… h → 1.9731 (the CDR says
	// 1.973).
	wantDec(t, "total_time", out.TotalTime, "1.9731")
	b, _ := out.MarshalJSON()
	if _, err := ParseCDR(b); err != nil {
		t.Errorf("repriced CDR does not parse: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), `"total_cost":{"excl_vat":4.00,"incl_vat":4.40}`) {
		t.Errorf("total_cost not written with the currency's places: %s", b)
	}
}

func samePrice(a, b Price) bool {
	return a.ExclVAT.Cmp(b.ExclVAT) == 0 && a.InclVAT.Valid == b.InclVAT.Valid && a.InclVAT.Decimal.Cmp(b.InclVAT.Decimal) == 0
}

func TestRepriceCredit(t *testing.T) {
	t.Parallel()
	in := strings.Replace(string(readExample(t, "cdr_example.json")), `"last_updated": "2015-06-29T22:01:13Z"`,
		`"credit": true, "credit_reference_id": "12344", "last_updated": "2015-06-29T22:01:13Z"`, 1)
	c, err := ParseCDR([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := c.Reprice(c.Tariffs[0])
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "credit total excl", out.TotalCost.ExclVAT, "-4.00")
	wantDec(t, "credit time cost (not negated)", out.TotalTimeCost.ExclVAT, "4.00")
}

func TestRepriceCurrencyMismatch(t *testing.T) {
	t.Parallel()
	c, err := ParseCDR(readExample(t, "cdr_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	usd := mustTariff(t, strings.Replace(base, `"EUR"`, `"USD"`, 1))
	if _, _, err := c.Reprice(usd); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("err = %v, want ErrNotApplicable", err)
	}
}

func TestParseCDRProblems(t *testing.T) {
	t.Parallel()
	good := string(readExample(t, "cdr_example.json"))
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"misspelled location field", `"postal_code": "9000"`, `"postcode": "9000"`, []string{`cdr_location.postcode: unknown field (did you mean "postal_code"?)`}},
		{"bad auth method", `"auth_method": "WHITELIST"`, `"auth_method": "PIN"`, []string{`auth_method: "PIN" is not an auth method`}},
		{"missing total_cost", `"total_cost": {`, `"total_kost": {`, []string{"total_cost: is required", `total_kost: unknown field (did you mean "total_cost"?)`}},
		{"bad dimension", `"type": "TIME",
      "volume": 1.973`, `"type": "HOURS",
      "volume": 1.973`, []string{`charging_periods[0].dimensions[0].type: "HOURS" is not a CDR dimension type`}},
		{"bad tariff inside", `"step_size": 300`, `"step_size": "300"`, []string{"tariffs[0].elements[0].price_components[0].step_size: must be an integer, not a string"}},
		{"bad currency", `"currency": "EUR",
  "tariffs"`, `"currency": "EU",
  "tariffs"`, []string{`currency: "EU" is not an ISO 4217 currency code`}},
		{"credit without reference", `"last_updated": "2015-06-29T22:01:13Z"`, `"credit": true, "last_updated": "2015-06-29T22:01:13Z"`, []string{"credit_reference_id: is required for a credit CDR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := strings.Replace(good, tc.old, tc.new, 1)
			if in == good {
				t.Fatalf("replacement %q not found", tc.old)
			}
			_, err := ParseCDR([]byte(in))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			if len(ve.Problems) != len(tc.want) {
				t.Fatalf("problems = %v, want %d", ve.Problems, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ve.Problems[i].String(), w) {
					t.Errorf("problem %d = %q, want %q…", i, ve.Problems[i], w)
				}
			}
		})
	}
}

// TestCDRReservationPeriods: periods with RESERVATION_TIME before the
// charging are the reservation; with nothing after them it expired.
func TestCDRReservationPeriods(t *testing.T) {
	t.Parallel()
	tf := example(t, "tariff_17_reservation_with_expire_fee.json")
	at := local(t, berlin, "2024-03-04 10:00")
	used := CDR{Currency: "EUR", EndDateTime: at.Add(2*60*60*1e9 + 22*60*1e9), ChargingPeriods: []ChargingPeriod{
		cp(at, "RESERVATION_TIME", "0.3666667"),
		cp(at.Add(22*60*1e9), "ENERGY", "20", "TIME", "2"),
	}}
	out, r, err := used.Reprice(tf)
	if err != nil {
		t.Fatal(err)
	}
	// As the module: 30 min × 2.00 + 0.50 + 5.00 = 6.50 / 7.30.
	wantAmount(t, "used", r.Totals.Total, "6.50", "7.30")
	wantDec(t, "total_reservation_cost", out.TotalReservationCost.ExclVAT, "1.00")
	wantDec(t, "total_time (session only)", out.TotalTime, "2")
	expired := CDR{Currency: "EUR", EndDateTime: at.Add(60 * 60 * 1e9), ChargingPeriods: []ChargingPeriod{cp(at, "RESERVATION_TIME", "1")}}
	out, r, err = expired.Reprice(tf)
	if err != nil {
		t.Fatal(err)
	}
	// 4.00 expiry fee + 60 min × 2.00: 6.00 / 7.20.
	wantAmount(t, "expired", r.Totals.Total, "6.00", "7.20")
	wantDec(t, "expired total_reservation_cost", out.TotalReservationCost.ExclVAT, "6.00")
}
