package tariffs

import (
	"net/url"
	"strings"
	"time"

	"github.com/govalues/decimal"
)

// check reports every semantic problem of the tariff at path. Shape problems
// (unknown fields, wrong JSON types) were reported while decoding; a field
// reported there is not reported again (problems.err keeps one per path).
func (t *Tariff) check(ps *problems, path string) {
	kind := t.kind()
	supply := kind == KindSupply || kind == KindExport

	checkCode(ps, field(path, "country_code"), t.CountryCode, 2)
	checkCode(ps, field(path, "party_id"), t.PartyID, 3)
	switch {
	case t.ID == "":
		ps.add(field(path, "id"), "is required")
	case len(t.ID) > 36:
		ps.add(field(path, "id"), "is longer than 36 characters")
	}
	switch {
	case t.Currency == "":
		ps.add(field(path, "currency"), "is required")
	default:
		if _, ok := minorUnits[t.Currency]; !ok {
			if _, ok := minorUnits[strings.ToUpper(t.Currency)]; ok {
				ps.add(field(path, "currency"), "%q must be written in upper case", t.Currency)
			} else {
				ps.add(field(path, "currency"), "%q is not an ISO 4217 currency code", t.Currency)
			}
		}
	}
	switch t.Type {
	case "", AdHocPayment, ProfileCheap, ProfileFast, ProfileGreen, Regular:
	default:
		ps.add(field(path, "type"), "%q is not a tariff type (AD_HOC_PAYMENT, PROFILE_CHEAP, PROFILE_FAST, PROFILE_GREEN, REGULAR)", t.Type)
	}
	for i, d := range t.AltText {
		p := index(field(path, "tariff_alt_text"), i)
		if len(d.Language) != 2 {
			ps.add(field(p, "language"), "%q is not a 2-letter language code", d.Language)
		}
		if d.Text == "" {
			ps.add(field(p, "text"), "is required")
		} else if len([]rune(d.Text)) > 512 {
			ps.add(field(p, "text"), "is longer than 512 characters")
		}
	}
	if t.AltURL != "" {
		if u, err := url.Parse(t.AltURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add(field(path, "tariff_alt_url"), "%q is not an http(s) URL", t.AltURL)
		}
	}
	checkPrice(ps, field(path, "min_price"), t.MinPrice)
	checkPrice(ps, field(path, "max_price"), t.MaxPrice)
	if t.MinPrice != nil && t.MaxPrice != nil {
		if t.MinPrice.ExclVAT.Cmp(t.MaxPrice.ExclVAT) > 0 {
			ps.add(field(path, "min_price.excl_vat"), "%s is above max_price.excl_vat %s", t.MinPrice.ExclVAT, t.MaxPrice.ExclVAT)
		}
		if t.MinPrice.InclVAT.Valid && t.MaxPrice.InclVAT.Valid && t.MinPrice.InclVAT.Decimal.Cmp(t.MaxPrice.InclVAT.Decimal) > 0 {
			ps.add(field(path, "min_price.incl_vat"), "%s is above max_price.incl_vat %s", t.MinPrice.InclVAT.Decimal, t.MaxPrice.InclVAT.Decimal)
		}
	}
	if supply {
		if t.MinPrice != nil {
			ps.add(field(path, "min_price"), "applies to charging sessions; a %s tariff cannot have one", kind)
		}
		if t.MaxPrice != nil {
			ps.add(field(path, "max_price"), "applies to charging sessions; a %s tariff cannot have one", kind)
		}
	}
	if !t.StartDateTime.IsZero() && !t.EndDateTime.IsZero() && !t.EndDateTime.After(t.StartDateTime) {
		ps.add(field(path, "end_date_time"), "%s is not after start_date_time %s", formatDateTime(t.EndDateTime), formatDateTime(t.StartDateTime))
	}
	if len(t.Elements) == 0 {
		ps.add(field(path, "elements"), "is required (at least one element)")
	}
	for i := range t.Elements {
		if ps.full() {
			// Refused anyway; as the reader does, leave the rest unread.
			ps.stop(index(field(path, "elements"), i))
			break
		}
		t.Elements[i].check(ps, index(field(path, "elements"), i), kind)
	}
	t.Extension.check(ps, field(path, "gridmetrics"), t)
}

func checkCode(ps *problems, path, s string, n int) {
	switch {
	case s == "":
		ps.add(path, "is required")
	case len(s) != n:
		ps.add(path, "%q must be %d characters", s, n)
	}
}

func checkPrice(ps *problems, path string, p *Price) {
	if p == nil {
		return
	}
	if p.ExclVAT.IsNeg() {
		ps.add(field(path, "excl_vat"), "%s is negative", p.ExclVAT)
	}
	if p.InclVAT.Valid && p.InclVAT.Decimal.Cmp(p.ExclVAT) < 0 {
		ps.add(field(path, "incl_vat"), "%s is below excl_vat %s", p.InclVAT.Decimal, p.ExclVAT)
	}
}

func (e *Element) check(ps *problems, path string, kind Kind) {
	supply := kind == KindSupply || kind == KindExport
	if len(e.PriceComponents) == 0 {
		ps.add(field(path, "price_components"), "is required (at least one price component)")
	}
	r := e.Restrictions
	seen := map[Component]int{}
	hasDaily := false // STANDING or DEMAND: evaluated per day or per demand window
	hasStanding := false
	for j, c := range e.PriceComponents {
		p := index(field(path, "price_components"), j)
		switch c.Type {
		case Energy, Flat, Time, ParkingTime:
			if supply && c.Type != Energy {
				ps.add(field(p, "type"), "%s prices charging sessions; a %s tariff prices ENERGY, STANDING and DEMAND", c.Type, kind)
			}
		case Standing, Demand:
			hasDaily = true
			hasStanding = hasStanding || c.Type == Standing
			if !supply {
				ps.add(field(p, "type"), "%s needs a supply tariff (gridmetrics.kind)", c.Type)
			} else if c.Type == Demand && kind == KindExport {
				ps.add(field(p, "type"), "DEMAND prices imported power; an export tariff cannot have it")
			}
		case "":
			// reported as missing while decoding
		default:
			ps.add(field(p, "type"), "%q is not a dimension (ENERGY, FLAT, PARKING_TIME, TIME)", c.Type)
		}
		if k, dup := seen[c.Type]; dup && c.Type != "" {
			ps.add(field(p, "type"), "a second %s component in this element can never apply (price_components[%d] is used)", c.Type, k)
		} else {
			seen[c.Type] = j
		}
		if c.Price.IsNeg() {
			ps.add(field(p, "price"), "%s is negative", c.Price)
		}
		if c.VAT.Valid && (c.VAT.Decimal.IsNeg() || c.VAT.Decimal.Cmp(hundred) > 0) {
			ps.add(field(p, "vat"), "%s is not a percentage between 0 and 100", c.VAT.Decimal)
		}
		if c.StepSize < 0 {
			ps.add(field(p, "step_size"), "%d is negative", c.StepSize)
		}
		if r != nil && (r.Reservation == Reserved || r.Reservation == ReservationExpires) && c.Type != Flat && c.Type != Time && c.Type != "" {
			ps.add(field(p, "type"), "a reservation element can only have FLAT and TIME components, not %s", c.Type)
		}
		if d := c.Dynamic; d != nil {
			dp := field(p, "gridmetrics")
			switch {
			case !supply:
				ps.add(dp, "dynamic prices need a supply or export tariff (gridmetrics.kind)")
			case c.Type != Energy:
				ps.add(dp, "only ENERGY components can have a dynamic price")
			}
			if !c.Price.IsZero() {
				ps.add(field(p, "price"), "must be 0 for a dynamic price (use gridmetrics.markup)")
			}
			if d.PriceFeed == "" {
				ps.add(field(dp, "price_feed"), "is required")
			}
			if d.Floor.Valid && d.Cap.Valid && d.Floor.Decimal.Cmp(d.Cap.Decimal) > 0 {
				ps.add(field(dp, "floor"), "%s is above cap %s", d.Floor.Decimal, d.Cap.Decimal)
			}
		}
	}
	if r != nil {
		r.check(ps, field(path, "restrictions"), kind, hasDaily)
		if hasStanding {
			// STANDING is decided at the start of each local day.
			if r.StartTime != "" {
				ps.add(field(path, "restrictions.start_time"), "cannot restrict an element with a STANDING component (it is charged per day)")
			}
			if r.EndTime != "" {
				ps.add(field(path, "restrictions.end_time"), "cannot restrict an element with a STANDING component (it is charged per day)")
			}
		}
	}
}

func (r *Restrictions) check(ps *problems, path string, kind Kind, daily bool) {
	supply := kind == KindSupply || kind == KindExport
	st, stOK := parseClock(r.StartTime)
	et, etOK := parseClock(r.EndTime)
	if r.StartTime != "" && !stOK {
		ps.add(field(path, "start_time"), "%q is not a time (HH:MM, 00:00 to 23:59)", r.StartTime)
	}
	if r.EndTime != "" && !etOK {
		ps.add(field(path, "end_time"), "%q is not a time (HH:MM, 00:00 to 23:59)", r.EndTime)
	}
	if stOK && etOK && st == et && st != 0 {
		ps.add(field(path, "end_time"), "%q equals start_time: the window is empty", r.EndTime)
	}
	sd, sdOK := parseDate(r.StartDate)
	ed, edOK := parseDate(r.EndDate)
	if r.StartDate != "" && !sdOK {
		ps.add(field(path, "start_date"), "%q is not a date (YYYY-MM-DD)", r.StartDate)
	}
	if r.EndDate != "" && !edOK {
		ps.add(field(path, "end_date"), "%q is not a date (YYYY-MM-DD)", r.EndDate)
	}
	if sdOK && edOK && ed <= sd {
		ps.add(field(path, "end_date"), "%s is not after start_date %s (end_date is exclusive)", r.EndDate, r.StartDate)
	}
	checkRange(ps, path, "kwh", r.MinKWh, r.MaxKWh)
	checkRange(ps, path, "current", r.MinCurrent, r.MaxCurrent)
	checkRange(ps, path, "power", r.MinPower, r.MaxPower)
	if r.MinDuration != nil && *r.MinDuration < 0 {
		ps.add(field(path, "min_duration"), "%d is negative", *r.MinDuration)
	}
	if r.MaxDuration != nil {
		switch {
		case *r.MaxDuration <= 0:
			ps.add(field(path, "max_duration"), "%d never holds: a session is never shorter than 0 seconds", *r.MaxDuration)
		case r.MinDuration != nil && *r.MaxDuration <= *r.MinDuration:
			ps.add(field(path, "max_duration"), "%d is not above min_duration %d: the element can never apply", *r.MaxDuration, *r.MinDuration)
		}
	}
	seen := map[DayOfWeek]bool{}
	for i, d := range r.DayOfWeek {
		p := index(field(path, "day_of_week"), i)
		if _, ok := weekdayOf[d]; !ok {
			ps.add(p, "%q is not a day of the week (MONDAY … SUNDAY)", d)
		} else if seen[d] {
			ps.add(p, "%s is listed twice", d)
		}
		seen[d] = true
	}
	switch r.Reservation {
	case "", Reserved, ReservationExpires:
	default:
		ps.add(field(path, "reservation"), "%q is not RESERVATION or RESERVATION_EXPIRES", r.Reservation)
	}
	if supply {
		// A meter has no session: no duration, no current, no reservation.
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"min_current", r.MinCurrent.Valid}, {"max_current", r.MaxCurrent.Valid},
			{"min_duration", r.MinDuration != nil}, {"max_duration", r.MaxDuration != nil},
			{"reservation", r.Reservation != ""},
		} {
			if f.set {
				ps.add(field(path, f.name), "applies to charging sessions; a %s tariff cannot use it", kind)
			}
		}
	}
	if daily {
		// STANDING is decided once per day and DEMAND once per window:
		// energy and power thresholds have no single value there.
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"min_kwh", r.MinKWh.Valid}, {"max_kwh", r.MaxKWh.Valid},
			{"min_power", r.MinPower.Valid}, {"max_power", r.MaxPower.Valid},
		} {
			if f.set {
				ps.add(field(path, f.name), "cannot restrict an element with a STANDING or DEMAND component")
			}
		}
	}
}

// checkRange checks a min_X/max_X pair: neither negative, max above min, and
// max above zero (an exclusive maximum of 0 never holds).
func checkRange(ps *problems, path, name string, lo, hi decimal.NullDecimal) {
	minName, maxName := "min_"+name, "max_"+name
	if lo.Valid && lo.Decimal.IsNeg() {
		ps.add(field(path, minName), "%s is negative", lo.Decimal)
	}
	if !hi.Valid {
		return
	}
	switch {
	case !hi.Decimal.IsPos():
		ps.add(field(path, maxName), "%s never holds: the maximum is exclusive", hi.Decimal)
	case lo.Valid && hi.Decimal.Cmp(lo.Decimal) <= 0:
		ps.add(field(path, maxName), "%s is not above %s %s: the element can never apply", hi.Decimal, minName, lo.Decimal)
	}
}

// parseClock reads an OCPI time of day, "HH:MM" (regex
// ([0-1][0-9]|2[0-3]):[0-5][0-9]), as seconds since midnight.
func parseClock(s string) (int32, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int32(s[0]-'0')*10 + int32(s[1]-'0')
	m := int32(s[3]-'0')*10 + int32(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*3600 + m*60, true
}

// parseDate reads an OCPI date, "YYYY-MM-DD", as the number yyyymmdd (which
// orders like the dates), refusing days the calendar does not have.
func parseDate(s string) (int32, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || (s[0] != '1' && s[0] != '2') {
		return 0, false
	}
	n := int32(0)
	for i, c := range []byte(s) {
		if i == 4 || i == 7 {
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int32(c-'0')
	}
	y, m, d := int(n/10000), time.Month(n/100%100), int(n%100)
	if m < 1 || m > 12 || d < 1 {
		return 0, false
	}
	if t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC); t.Day() != d {
		return 0, false
	}
	return n, true
}

// weekdayOf maps OCPI day names to Go weekdays.
var weekdayOf = map[DayOfWeek]time.Weekday{
	Monday: time.Monday, Tuesday: time.Tuesday, Wednesday: time.Wednesday, Thursday: time.Thursday,
	Friday: time.Friday, Saturday: time.Saturday, Sunday: time.Sunday,
}

func (x *Extension) check(ps *problems, path string, t *Tariff) {
	kind := t.kind()
	if x == nil {
		return
	}
	switch x.Kind {
	case "", KindCharging, KindSupply, KindExport:
	default:
		ps.add(field(path, "kind"), "%q is not a tariff kind (charging, supply, export)", x.Kind)
	}
	switch {
	case x.TimeZone == "":
		if kind == KindSupply || kind == KindExport {
			ps.add(field(path, "timezone"), "is required for a %s tariff", kind)
		}
	case x.TimeZone == "Local":
		ps.add(field(path, "timezone"), "\"Local\" is not an IANA time zone")
	default:
		if _, err := loadLocation(x.TimeZone); err != nil {
			ps.add(field(path, "timezone"), "%q is not an IANA time zone", x.TimeZone)
		}
	}
	switch x.BillingPeriod {
	case "", BillingMonth, BillingDay:
	default:
		ps.add(field(path, "billing_period"), "%q is not a billing period (MONTH, DAY)", x.BillingPeriod)
	}
	switch x.DemandWindow {
	case 0, 900, 1800, 3600:
	default:
		ps.add(field(path, "demand_window"), "%d is not 900, 1800 or 3600 seconds", x.DemandWindow)
	}
	if kind == KindCharging && (x.BillingPeriod != "" || x.DemandWindow != 0) {
		p := field(path, "billing_period")
		if x.BillingPeriod == "" {
			p = field(path, "demand_window")
		}
		ps.add(p, "applies to supply tariffs only")
	}
}
