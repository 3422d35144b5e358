package tariffs

import (
	"time"

	"github.com/govalues/decimal"
)

// clamp applies min_price and max_price to the total, excluding and
// including VAT separately, as OCPI's notes require, with an adjustment line
// for each side that moved.
func (sp *sessionPricer) clamp(r *Result, from, to time.Time) {
	c, p := &sp.c, sp.p
	if mp := p.minPrice; mp != nil {
		tot := r.Totals.Total
		excl := tot.ExclVAT.Max(mp.ExclVAT)
		incl := c.add(tot.InclVAT, c.sub(excl, tot.ExclVAT))
		if mp.InclVAT.Valid {
			incl = tot.InclVAT.Max(mp.InclVAT.Decimal)
		}
		sp.adjust(r, MinPriceAdjust, c.sub(excl, tot.ExclVAT), c.sub(incl, tot.InclVAT), from, to)
	}
	if mp := p.maxPrice; mp != nil {
		tot := r.Totals.Total
		excl := tot.ExclVAT.Min(mp.ExclVAT)
		incl := c.add(tot.InclVAT, c.sub(excl, tot.ExclVAT))
		if mp.InclVAT.Valid {
			incl = tot.InclVAT.Min(mp.InclVAT.Decimal)
		}
		sp.adjust(r, MaxPriceAdjust, c.sub(excl, tot.ExclVAT), c.sub(incl, tot.InclVAT), from, to)
	}
}

func (sp *sessionPricer) adjust(r *Result, comp Component, excl, incl decimal.Decimal, from, to time.Time) {
	if excl.IsZero() && incl.IsZero() {
		return
	}
	c := &sp.c
	r.Lines = append(r.Lines, Line{
		Component: comp, ElementIndex: -1, PeriodStart: from, PeriodEnd: to,
		Volume: one, StepVolume: zero, Unit: UnitSession, UnitPrice: excl, ExclVAT: excl, InclVAT: incl,
	})
	a := Amount{ExclVAT: excl, InclVAT: incl}
	r.Totals.Adjustment = c.addAmount(r.Totals.Adjustment, a)
	r.Totals.Total = c.addAmount(r.Totals.Total, a)
}
