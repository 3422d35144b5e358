package tariffs

import (
	"time"

	"github.com/govalues/decimal"
)

// peak is the highest demand window so far of one DEMAND element in the
// billing period.
type peak struct {
	elem int32
	kw   decimal.Decimal
	at   time.Time // start of the window
}

// closeWindow ends the current demand window: its average import power
// becomes a candidate peak of the DEMAND element that prices it.
func (mp *meterPricer) closeWindow() {
	b := &mp.bp
	if b.win.IsZero() {
		return
	}
	p, c := mp.p, &mp.c
	at := b.win
	kw := c.quo(c.mul(b.winKWh, secsPerHour), nanosToSeconds(int64(p.demandWindow)))
	var m moment
	m.setLocal(at, p.loc)
	w := p.first(p.session[dDemand], &m)
	b.win = time.Time{}
	if w < 0 {
		return
	}
	for i := range b.peaks {
		if b.peaks[i].elem == w {
			if kw.Cmp(b.peaks[i].kw) > 0 {
				b.peaks[i].kw, b.peaks[i].at = kw, at
			}
			return
		}
	}
	b.peaks = append(b.peaks, peak{elem: w, kw: kw, at: at})
}

// closePeriod ends the billing period: DEMAND lines for its peaks and
// step_size on its energy.
func (mp *meterPricer) closePeriod() error {
	if mp.bp.end.IsZero() {
		return nil
	}
	p, c := mp.p, &mp.c
	mp.closeWindow()
	from, to := maxTime(mp.bp.start, mp.from), minTime(mp.bp.end, mp.to)
	for _, pk := range mp.bp.peaks {
		cp := p.elems[pk.elem].price[dDemand]
		kw := pk.kw
		var step decimal.Decimal
		if cp.step > 0 {
			rounded := c.ceilTo(kw, c.quo(decInt(cp.step), thousand))
			step, kw = c.sub(rounded, kw), rounded
		}
		mp.ls.accs = append(mp.ls.accs, acc{kind: kDemand, elem: pk.elem, from: from, to: to, qty: kw, step: step, unit: cp.price, peakAt: pk.at})
	}
	kind := kEnergy
	if p.kind == KindExport {
		kind = kExport
	}
	mp.ls.roundStep(c, p, mp.bp.firstLine, kind, thousand)
	mp.bp.end = time.Time{}
	return c.err
}
