package tariffs

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ParseTariff reads and validates one tariff: an OCPI 2.2.1 Tariff object,
// optionally with the "gridmetrics" extension member. The error, a
// *ValidationError, lists every problem found, each with its path.
func ParseTariff(data []byte) (*Tariff, error) {
	var ps problems
	if !json.Valid(data) {
		ps.add("", "invalid JSON: %v", syntaxError(data))
		return nil, ps.err()
	}
	t := decodeTariff(&ps, "", data)
	if t == nil {
		return nil, ps.err()
	}
	t.check(&ps, "")
	if err := ps.err(); err != nil {
		return nil, err
	}
	t.plan = compile(t)
	return t, nil
}

// Validate checks a tariff built or changed in Go, with the same rules as
// ParseTariff, and prepares it for pricing.
func (t *Tariff) Validate() error {
	var ps problems
	t.check(&ps, "")
	if err := ps.err(); err != nil {
		t.plan = nil
		return err
	}
	t.plan = compile(t)
	return nil
}

func syntaxError(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%v (at byte %d)", se, se.Offset)
	}
	if err == nil {
		return errors.New("not valid JSON")
	}
	return err
}

// decodeTariff reads the members of a tariff object at path, reporting
// shape problems (unknown fields, wrong JSON types); check reports the rest.
func decodeTariff(ps *problems, path string, raw json.RawMessage) *Tariff {
	o, ok := readObject(ps, path, raw)
	if !ok {
		return nil
	}
	t := &Tariff{}
	t.CountryCode = o.str("country_code", false, 0)
	t.PartyID = o.str("party_id", false, 0)
	t.ID = o.str("id", false, 0)
	t.Currency = o.str("currency", false, 0)
	t.Type = TariffType(o.str("type", false, 0))
	o.array("tariff_alt_text", false, func(p string, raw json.RawMessage) {
		t.AltText = append(t.AltText, decodeDisplayText(ps, p, raw))
	})
	t.AltURL = o.str("tariff_alt_url", false, 0)
	t.MinPrice = decodePrice(o, "min_price")
	t.MaxPrice = decodePrice(o, "max_price")
	n, _ := o.array("elements", false, func(p string, raw json.RawMessage) {
		t.Elements = append(t.Elements, decodeElement(ps, p, raw))
	})
	if n == 0 {
		t.Elements = nil
	}
	t.StartDateTime, _ = o.datetime("start_date_time", false)
	t.EndDateTime, _ = o.datetime("end_date_time", false)
	if raw := o.rawJSON("energy_mix"); raw != nil {
		if raw[0] != '{' {
			ps.add(field(path, "energy_mix"), "must be an object, not %s", jsonKind(raw))
		}
		t.EnergyMix = raw
	}
	t.LastUpdated, _ = o.datetime("last_updated", false)
	if x, ok := o.object("gridmetrics", false); ok {
		t.Extension = decodeExtension(x)
	}
	o.done()
	return t
}

func decodeDisplayText(ps *problems, path string, raw json.RawMessage) DisplayText {
	o, ok := readObject(ps, path, raw)
	if !ok {
		return DisplayText{}
	}
	d := DisplayText{Language: o.str("language", false, 0), Text: o.str("text", false, 0)}
	o.done()
	return d
}

func decodePrice(parent *jobject, key string) *Price {
	o, ok := parent.object(key, false)
	if !ok {
		return nil
	}
	p := &Price{}
	p.ExclVAT = o.num("excl_vat", true).Decimal
	p.InclVAT = o.num("incl_vat", false)
	o.done()
	return p
}

func decodeElement(ps *problems, path string, raw json.RawMessage) Element {
	o, ok := readObject(ps, path, raw)
	if !ok {
		return Element{}
	}
	var e Element
	o.array("price_components", false, func(p string, raw json.RawMessage) {
		e.PriceComponents = append(e.PriceComponents, decodeComponent(ps, p, raw))
	})
	if r, ok := o.object("restrictions", false); ok {
		e.Restrictions = decodeRestrictions(r)
	}
	o.done()
	return e
}

func decodeComponent(ps *problems, path string, raw json.RawMessage) PriceComponent {
	o, ok := readObject(ps, path, raw)
	if !ok {
		return PriceComponent{}
	}
	var c PriceComponent
	c.Type = Component(o.str("type", true, 0))
	c.Price = o.num("price", true).Decimal
	c.VAT = o.num("vat", false)
	c.StepSize, _ = o.integer("step_size", true)
	if x, ok := o.object("gridmetrics", false); ok {
		d := &DynamicPrice{}
		d.PriceFeed = x.str("price_feed", true, 0)
		d.Multiplier = x.num("multiplier", false)
		d.Markup = x.num("markup", false)
		d.Floor = x.num("floor", false)
		d.Cap = x.num("cap", false)
		x.done()
		c.Dynamic = d
	}
	o.done()
	return c
}

func decodeRestrictions(o *jobject) *Restrictions {
	r := &Restrictions{}
	r.StartTime = o.str("start_time", false, 0)
	r.EndTime = o.str("end_time", false, 0)
	r.StartDate = o.str("start_date", false, 0)
	r.EndDate = o.str("end_date", false, 0)
	r.MinKWh = o.num("min_kwh", false)
	r.MaxKWh = o.num("max_kwh", false)
	r.MinCurrent = o.num("min_current", false)
	r.MaxCurrent = o.num("max_current", false)
	r.MinPower = o.num("min_power", false)
	r.MaxPower = o.num("max_power", false)
	if n, ok := o.integer("min_duration", false); ok {
		r.MinDuration = &n
	}
	if n, ok := o.integer("max_duration", false); ok {
		r.MaxDuration = &n
	}
	o.array("day_of_week", false, func(p string, raw json.RawMessage) {
		s, ok := rawString(raw)
		if !ok {
			o.ps.add(p, "must be a string, not %s", jsonKind(raw))
			return
		}
		r.DayOfWeek = append(r.DayOfWeek, DayOfWeek(s))
	})
	r.Reservation = ReservationRestriction(o.str("reservation", false, 0))
	o.done()
	return r
}

func decodeExtension(o *jobject) *Extension {
	x := &Extension{}
	x.Kind = Kind(o.str("kind", false, 0))
	x.TimeZone = o.str("timezone", false, 0)
	x.BillingPeriod = BillingPeriod(o.str("billing_period", false, 0))
	x.DemandWindow, _ = o.integer("demand_window", false)
	o.done()
	return x
}

// UnmarshalJSON reads a tariff with ParseTariff, so a tariff inside another
// JSON document is validated the same way.
func (t *Tariff) UnmarshalJSON(data []byte) error {
	v, err := ParseTariff(data)
	if err != nil {
		return err
	}
	*t = *v
	return nil
}

// MarshalJSON writes the tariff as OCPI 2.2.1 JSON, members in the order of
// the OCPI tables, numbers as they were read, with the "gridmetrics"
// extension member last when the tariff has one.
func (t *Tariff) MarshalJSON() ([]byte, error) {
	var w jwriter
	writeTariff(&w, t, true)
	return w.buf, nil
}

// MarshalOCPI writes the tariff for an OCPI peer: MarshalJSON without the
// extension. A supply or export tariff, or one with dynamic prices, has no
// OCPI form and is an error.
func (t *Tariff) MarshalOCPI() ([]byte, error) {
	if k := t.kind(); k != KindCharging {
		return nil, fmt.Errorf("tariff %s: a %s tariff has no OCPI form", t.ID, k)
	}
	for i, e := range t.Elements {
		for j, c := range e.PriceComponents {
			if c.Dynamic != nil || (c.Type != Energy && c.Type != Flat && c.Type != Time && c.Type != ParkingTime) {
				return nil, fmt.Errorf("tariff %s: elements[%d].price_components[%d] has no OCPI form", t.ID, i, j)
			}
		}
	}
	var w jwriter
	writeTariff(&w, t, false)
	return w.buf, nil
}

func writeTariff(w *jwriter, t *Tariff, ext bool) {
	w.beginObject()
	w.key("country_code")
	w.str(t.CountryCode)
	w.key("party_id")
	w.str(t.PartyID)
	w.key("id")
	w.str(t.ID)
	w.key("currency")
	w.str(t.Currency)
	w.optStr("type", string(t.Type))
	if len(t.AltText) > 0 {
		w.key("tariff_alt_text")
		w.beginArray()
		for _, d := range t.AltText {
			w.beginObject()
			w.key("language")
			w.str(d.Language)
			w.key("text")
			w.str(d.Text)
			w.endObject()
		}
		w.endArray()
	}
	w.optStr("tariff_alt_url", t.AltURL)
	writePrice(w, "min_price", t.MinPrice)
	writePrice(w, "max_price", t.MaxPrice)
	w.key("elements")
	w.beginArray()
	for _, e := range t.Elements {
		writeElement(w, e, ext)
	}
	w.endArray()
	w.optTime("start_date_time", t.StartDateTime)
	w.optTime("end_date_time", t.EndDateTime)
	if len(t.EnergyMix) > 0 {
		w.key("energy_mix")
		w.raw(t.EnergyMix)
	}
	w.optTime("last_updated", t.LastUpdated)
	if x := t.Extension; ext && x != nil {
		w.key("gridmetrics")
		w.beginObject()
		w.optStr("kind", string(x.Kind))
		w.optStr("timezone", x.TimeZone)
		w.optStr("billing_period", string(x.BillingPeriod))
		if x.DemandWindow != 0 {
			w.key("demand_window")
			w.integer(x.DemandWindow)
		}
		w.endObject()
	}
	w.endObject()
}

func writePrice(w *jwriter, key string, p *Price) {
	if p == nil {
		return
	}
	w.key(key)
	w.beginObject()
	w.key("excl_vat")
	w.dec(p.ExclVAT)
	w.optDec("incl_vat", p.InclVAT)
	w.endObject()
}

func writeElement(w *jwriter, e Element, ext bool) {
	w.beginObject()
	w.key("price_components")
	w.beginArray()
	for _, c := range e.PriceComponents {
		w.beginObject()
		w.key("type")
		w.str(string(c.Type))
		w.key("price")
		w.dec(c.Price)
		w.optDec("vat", c.VAT)
		w.key("step_size")
		w.integer(c.StepSize)
		if d := c.Dynamic; d != nil && ext {
			w.key("gridmetrics")
			w.beginObject()
			w.key("price_feed")
			w.str(d.PriceFeed)
			w.optDec("multiplier", d.Multiplier)
			w.optDec("markup", d.Markup)
			w.optDec("floor", d.Floor)
			w.optDec("cap", d.Cap)
			w.endObject()
		}
		w.endObject()
	}
	w.endArray()
	if r := e.Restrictions; r != nil {
		w.key("restrictions")
		w.beginObject()
		w.optStr("start_time", r.StartTime)
		w.optStr("end_time", r.EndTime)
		w.optStr("start_date", r.StartDate)
		w.optStr("end_date", r.EndDate)
		w.optDec("min_kwh", r.MinKWh)
		w.optDec("max_kwh", r.MaxKWh)
		w.optDec("min_current", r.MinCurrent)
		w.optDec("max_current", r.MaxCurrent)
		w.optDec("min_power", r.MinPower)
		w.optDec("max_power", r.MaxPower)
		if r.MinDuration != nil {
			w.key("min_duration")
			w.integer(*r.MinDuration)
		}
		if r.MaxDuration != nil {
			w.key("max_duration")
			w.integer(*r.MaxDuration)
		}
		if len(r.DayOfWeek) > 0 {
			w.key("day_of_week")
			w.beginArray()
			for _, d := range r.DayOfWeek {
				w.str(string(d))
			}
			w.endArray()
		}
		w.optStr("reservation", string(r.Reservation))
		w.endObject()
	}
	w.endObject()
}
