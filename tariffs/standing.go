package tariffs

import "time"

// standing charges STANDING for every local day of the usage.
func (mp *meterPricer) standing() int {
	p := mp.p
	if len(p.session[dStanding]) == 0 || mp.from.IsZero() {
		return 0
	}
	mp.ls.closeAll()
	days := 0
	y, m, d := mp.from.In(p.loc).Date()
	last := mp.to.Add(-time.Nanosecond).In(p.loc)
	ly, lm, ld := last.Date()
	var bpEnd time.Time
	nextBreak := 0
	for civil(y, m, d) <= civil(ly, lm, ld) {
		start := time.Date(y, m, d, 0, 0, 0, 0, p.loc).UTC()
		end := time.Date(y, m, d+1, 0, 0, 0, 0, p.loc).UTC()
		if !start.Before(bpEnd) {
			_, bpEnd = p.billingBounds(start)
			mp.ls.closeAll() // STANDING lines do not span billing periods
		} else if mp.breakAt(start, &nextBreak) {
			mp.ls.closeAll()
		}
		var mo moment
		mo.setLocal(start, p.loc)
		if w := p.first(p.session[dStanding], &mo); w >= 0 {
			mp.ls.add(&mp.c, kStanding, w, start, end, one, p.elems[w].price[dStanding].price)
		}
		days++
		y, m, d = end.In(p.loc).Date()
	}
	return days
}
