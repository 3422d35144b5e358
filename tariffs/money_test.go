package tariffs

import "testing"

func TestRoundHalfUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		scale int
		want  string
	}{
		{"0.125", 2, "0.13"},
		{"-0.125", 2, "-0.13"}, // a credit mirrors the charge
		{"0.1249999", 2, "0.12"},
		{"1.005", 2, "1.01"}, // exact in decimal, unlike binary floating point
		{"2.675", 2, "2.68"},
		{"0.145", 2, "0.15"}, // half-up; half-even (decimal's Round) would give 0.14
		{"4.4", 4, "4.4000"},
		{"0", 2, "0.00"},
		{"1234.5", 0, "1235"},
		{"1.2345", 3, "1.235"},
		{"-0.0049", 2, "0.00"},
		{"9.9999", 2, "10.00"},
	} {
		if got := RoundHalfUp(dec(tc.in), tc.scale); got.String() != tc.want {
			t.Errorf("RoundHalfUp(%s, %d) = %s, want %s", tc.in, tc.scale, got, tc.want)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]int{
		"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2,
		"CZK": 2, "HUF": 2, "JPY": 0, "KWD": 3, "ISK": 0, "BHD": 3,
	} {
		if got, ok := MinorUnits(code); !ok || got != want {
			t.Errorf("MinorUnits(%s) = %d, %v; want %d", code, got, ok, want)
		}
	}
	if _, ok := MinorUnits("XXX"); ok {
		t.Error("XXX is not a currency")
	}
	for _, tc := range []struct{ in, cur, want string }{
		{"1234.5", "JPY", "1235"},
		{"1.2345", "KWD", "1.235"},
		{"10.005", "EUR", "10.01"},
		{"-10.005", "SEK", "-10.01"},
	} {
		if got := RoundInvoice(dec(tc.in), tc.cur); got.String() != tc.want {
			t.Errorf("RoundInvoice(%s, %s) = %s, want %s", tc.in, tc.cur, got, tc.want)
		}
	}
}
