package tariffs

import (
	"github.com/govalues/decimal"
)

// CDRScale is the number of decimal places of the amounts and volumes written
// into an OCPI CDR. OCPI leaves rounding to the parties; four places keep a
// per-Wh or per-second price exact enough to re-add lines without drift and
// are what eMSP validators commonly compare at.
const CDRScale = 4

// Amount is money excluding and including VAT, in the tariff's currency.
type Amount struct {
	ExclVAT decimal.Decimal `json:"excl_vat"`
	InclVAT decimal.Decimal `json:"incl_vat"`
}

func (c *calc) addAmount(a, b Amount) Amount {
	return Amount{ExclVAT: c.add(a.ExclVAT, b.ExclVAT), InclVAT: c.add(a.InclVAT, b.InclVAT)}
}

// Add returns a + b; an error when a sum exceeds the 19 digits of a
// decimal.
func (a Amount) Add(b Amount) (Amount, error) {
	var c calc
	s := c.addAmount(a, b)
	return s, c.err
}

// Round returns the amount rounded half-up to scale decimal places.
func (a Amount) Round(scale int) Amount {
	return Amount{ExclVAT: RoundHalfUp(a.ExclVAT, scale), InclVAT: RoundHalfUp(a.InclVAT, scale)}
}

// IsZero reports whether both sides are zero.
func (a Amount) IsZero() bool { return a.ExclVAT.IsZero() && a.InclVAT.IsZero() }

// RoundHalfUp rounds d to scale decimal places, halves away from zero — the
// commercial rounding invoices use (decimal's own Round is half-to-even).
// Away from zero rather than towards +∞ so a credit is the exact mirror of
// the same charge: 0.125 → 0.13 and −0.125 → −0.13.
func RoundHalfUp(d decimal.Decimal, scale int) decimal.Decimal {
	if scale < 0 {
		scale = 0
	}
	if d.Scale() <= scale || d.IsZero() {
		return d.Rescale(scale)
	}
	t := d.Trunc(scale)
	rest, err := d.Sub(t)
	if err != nil {
		return d.Round(scale)
	}
	// rest is below one unit of the last kept place; compare twice its size
	// with that unit.
	unit, _ := decimal.New(1, scale)
	twice, err := rest.Abs().Mul(decimal.Two)
	if err != nil || twice.Cmp(unit) < 0 {
		return t.Pad(scale)
	}
	unit = unit.CopySign(d)
	r, err := t.Add(unit)
	if err != nil {
		return d.Round(scale)
	}
	return r.Pad(scale)
}

// RoundInvoice rounds d half-up to the minor unit of currency (two places for
// a currency not in the table).
func RoundInvoice(d decimal.Decimal, currency string) decimal.Decimal {
	n, ok := minorUnits[currency]
	if !ok {
		n = 2
	}
	return RoundHalfUp(d, n)
}
