package tariffs

import (
	"math"

	"github.com/govalues/decimal"
)

// govalues/decimal is the decimal type of the whole package: a 19-digit
// coefficient with a scale, correctly rounded, allocation-free (the pricing
// loops run millions of times in the billing export), and it keeps the scale
// of what it parsed ("0.50" stays "0.50"), so OCPI JSON round-trips as
// written. Its limit — 19 significant digits — is far beyond any money or
// energy figure a tariff or a meter produces; an operation that would exceed
// it returns an error, which the pricing reports instead of rounding silently.

var (
	zero        = decimal.Zero
	one         = decimal.One
	hundred     = decimal.Hundred
	thousand    = decimal.Thousand
	secsPerHour = decimal.MustNew(3600, 0)
)

// calc is decimal arithmetic with a sticky error, so that a pricing step can
// be written as a formula and checked once: after the first failure every
// operation returns zero and err keeps the failure.
type calc struct {
	err error
}

func (c *calc) add(a, b decimal.Decimal) decimal.Decimal {
	if c.err != nil {
		return zero
	}
	r, err := a.Add(b)
	if err != nil {
		c.err = err
		return zero
	}
	return r
}

func (c *calc) sub(a, b decimal.Decimal) decimal.Decimal {
	if c.err != nil {
		return zero
	}
	r, err := a.Sub(b)
	if err != nil {
		c.err = err
		return zero
	}
	return r
}

func (c *calc) mul(a, b decimal.Decimal) decimal.Decimal {
	if c.err != nil {
		return zero
	}
	r, err := a.Mul(b)
	if err != nil {
		c.err = err
		return zero
	}
	return r
}

func (c *calc) quo(a, b decimal.Decimal) decimal.Decimal {
	if c.err != nil {
		return zero
	}
	r, err := a.Quo(b)
	if err != nil {
		c.err = err
		return zero
	}
	return r
}

// share returns q·num/den, the part of q that falls in num of den units (for
// example the energy of a period falling in the first num nanoseconds of den).
// The fraction is reduced first and multiplied before dividing, so a share
// whose true value has a finite decimal form comes out exact; only when the
// product would exceed 19 digits does it divide first.
func (c *calc) share(q decimal.Decimal, num, den int64) decimal.Decimal {
	switch {
	case c.err != nil || num == 0 || q.IsZero():
		return zero
	case num == den:
		return q
	case den == 0:
		return q
	}
	g := gcd(num, den)
	num, den = num/g, den/g
	dn, _ := decimal.New(num, 0)
	dd, _ := decimal.New(den, 0)
	if p, err := q.Mul(dn); err == nil {
		return c.quo(p, dd)
	}
	return c.mul(c.quo(dn, dd), q)
}

// nanosToSeconds converts nanoseconds to a decimal number of seconds, exactly.
func nanosToSeconds(ns int64) decimal.Decimal {
	d, err := decimal.New(ns, 9)
	if err != nil { // |ns| beyond 19 digits cannot happen for int64 nanoseconds
		return decimal.MustNew(ns/1e9, 0)
	}
	return d.Trim(0)
}

// decInt converts an integer to a decimal, exactly.
func decInt(n int64) decimal.Decimal {
	d, err := decimal.New(n, 0)
	if err != nil {
		return decimal.MustNew(math.MaxInt64, 0)
	}
	return d
}

func gcd(a, b int64) int64 {
	if a < 0 {
		a = -a
	}
	if b < 0 {
		b = -b
	}
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1
	}
	return a
}

// ceilTo rounds v up to the next multiple of step (v ≥ 0, step > 0), the
// step_size rule: "rounded up to the smallest multiple of step_size that is
// greater than the consumed amount".
func (c *calc) ceilTo(v, step decimal.Decimal) decimal.Decimal {
	if c.err != nil || step.IsZero() || !v.IsPos() {
		return v
	}
	q, r, err := v.QuoRem(step)
	if err != nil {
		c.err = err
		return zero
	}
	if r.IsZero() {
		return v
	}
	return c.mul(c.add(q.Trunc(0), one), step)
}
