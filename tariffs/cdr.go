package tariffs

import (
	"encoding/json"
	"time"

	"github.com/govalues/decimal"
)

// CDR is an OCPI 2.2.1 Charge Detail Record. ParseCDR reads one with the
// same strictness as ParseTariff; MarshalJSON writes it back in the order of
// the OCPI table; Reprice prices its charging periods with a tariff and
// returns it with the total_* fields recomputed.
type CDR struct {
	CountryCode            string
	PartyID                string
	ID                     string
	StartDateTime          time.Time
	EndDateTime            time.Time
	SessionID              string
	CdrToken               CdrToken
	AuthMethod             string // AUTH_REQUEST, COMMAND or WHITELIST
	AuthorizationReference string
	CdrLocation            CdrLocation
	MeterID                string
	Currency               string
	Tariffs                []*Tariff
	ChargingPeriods        []ChargingPeriod
	SignedData             *SignedData
	TotalCost              Price
	TotalFixedCost         *Price
	TotalEnergy            decimal.Decimal // kWh
	TotalEnergyCost        *Price
	TotalTime              decimal.Decimal // hours
	TotalTimeCost          *Price
	TotalParkingTime       decimal.NullDecimal // hours
	TotalParkingCost       *Price
	TotalReservationCost   *Price
	Remark                 string
	InvoiceReferenceID     string
	Credit                 *bool
	CreditReferenceID      string
	HomeChargingCompensate *bool // home_charging_compensation
	LastUpdated            time.Time

	// read holds the problems ParseCDRLenient let pass; nil when the CDR
	// was read in full (ParseCDR) or built.
	read *problems
}

// CdrToken is OCPI's CdrToken class.
type CdrToken struct {
	CountryCode string
	PartyID     string
	UID         string
	Type        string // AD_HOC_USER, APP_USER, OTHER, RFID
	ContractID  string
}

// CdrLocation is OCPI's CdrLocation class. It has no time zone, which is why
// a tariff carries its own (Extension.TimeZone).
type CdrLocation struct {
	ID                 string
	Name               string
	Address            string
	City               string
	PostalCode         string
	State              string
	Country            string
	Coordinates        GeoLocation
	EvseUID            string
	EvseID             string
	ConnectorID        string
	ConnectorStandard  string
	ConnectorFormat    string // SOCKET or CABLE
	ConnectorPowerType string // AC_1_PHASE, AC_2_PHASE, AC_2_PHASE_SPLIT, AC_3_PHASE, DC
}

// GeoLocation is OCPI's GeoLocation: decimal degrees kept as the strings
// OCPI defines them to be.
type GeoLocation struct {
	Latitude  string
	Longitude string
}

// SignedData is OCPI's SignedData class, kept for the round trip.
type SignedData struct {
	EncodingMethod        string
	EncodingMethodVersion *int64
	PublicKey             string
	SignedValues          []SignedValue
	URL                   string
}

// SignedValue is OCPI's SignedValue class.
type SignedValue struct {
	Nature     string
	PlainData  string
	SignedData string
}

var (
	authMethods = map[string]bool{"AUTH_REQUEST": true, "COMMAND": true, "WHITELIST": true}
	tokenTypes  = map[string]bool{"AD_HOC_USER": true, "APP_USER": true, "OTHER": true, "RFID": true}
	formats     = map[string]bool{"SOCKET": true, "CABLE": true}
	powerTypes  = map[string]bool{"AC_1_PHASE": true, "AC_2_PHASE": true, "AC_2_PHASE_SPLIT": true, "AC_3_PHASE": true, "DC": true}
)

// ParseCDR reads and validates an OCPI 2.2.1 CDR, including the tariffs it
// carries. The error, a *ValidationError, lists every problem with its path.
func ParseCDR(data []byte) (*CDR, error) {
	var ps problems
	return parseCDR(data, &ps)
}

// parseCDR reads a CDR, reporting its problems to ps.
func parseCDR(data []byte, ps *problems) (*CDR, error) {
	if !json.Valid(data) {
		ps.add("", "invalid JSON: %v", syntaxError(data))
		return nil, ps.err()
	}
	o, ok := readObject(ps, "", data)
	if !ok {
		return nil, ps.err()
	}
	c := &CDR{}
	c.CountryCode = o.str("country_code", true, 2)
	c.PartyID = o.str("party_id", true, 3)
	c.ID = o.str("id", true, 39)
	c.StartDateTime, _ = o.datetime("start_date_time", true)
	c.EndDateTime, _ = o.datetime("end_date_time", true)
	c.SessionID = o.str("session_id", false, 36)
	if x, ok := o.object("cdr_token", true); ok {
		c.CdrToken = CdrToken{
			CountryCode: x.str("country_code", true, 2),
			PartyID:     x.str("party_id", true, 3),
			UID:         x.str("uid", true, 36),
			Type:        x.str("type", true, 0),
			ContractID:  x.str("contract_id", true, 36),
		}
		if c.CdrToken.Type != "" && !tokenTypes[c.CdrToken.Type] {
			ps.add("cdr_token.type", "%q is not a token type (AD_HOC_USER, APP_USER, OTHER, RFID)", c.CdrToken.Type)
		}
		x.done()
	}
	c.AuthMethod = o.str("auth_method", true, 0)
	if c.AuthMethod != "" && !authMethods[c.AuthMethod] {
		ps.add("auth_method", "%q is not an auth method (AUTH_REQUEST, COMMAND, WHITELIST)", c.AuthMethod)
	}
	c.AuthorizationReference = o.str("authorization_reference", false, 36)
	if x, ok := o.object("cdr_location", true); ok {
		c.CdrLocation = decodeCdrLocation(ps, x)
	}
	c.MeterID = o.str("meter_id", false, 255)
	c.Currency = o.str("currency", true, 0)
	if c.Currency != "" {
		if _, ok := minorUnits[c.Currency]; !ok {
			ps.add("currency", "%q is not an ISO 4217 currency code", c.Currency)
		}
	}
	o.array("tariffs", false, func(p string, raw json.RawMessage) {
		if t := decodeTariff(ps, p, raw); t != nil {
			t.check(ps, p)
			if k := t.kind(); k != KindCharging {
				ps.add(field(p, "gridmetrics.kind"), "a CDR's tariffs price charging sessions, not %s", k)
			}
			c.Tariffs = append(c.Tariffs, t)
		}
	})
	n, _ := o.array("charging_periods", true, func(p string, raw json.RawMessage) {
		c.ChargingPeriods = append(c.ChargingPeriods, decodeChargingPeriod(ps, p, raw))
	})
	if n == 0 {
		ps.add("charging_periods", "is required (at least one period)")
	}
	if x, ok := o.object("signed_data", false); ok {
		c.SignedData = decodeSignedData(ps, x)
	}
	if p := decodePrice(o, "total_cost"); p != nil {
		c.TotalCost = *p
	} else {
		ps.add("total_cost", "is required")
	}
	c.TotalFixedCost = decodePrice(o, "total_fixed_cost")
	c.TotalEnergy = o.num("total_energy", true).Decimal
	c.TotalEnergyCost = decodePrice(o, "total_energy_cost")
	c.TotalTime = o.num("total_time", true).Decimal
	c.TotalTimeCost = decodePrice(o, "total_time_cost")
	c.TotalParkingTime = o.num("total_parking_time", false)
	c.TotalParkingCost = decodePrice(o, "total_parking_cost")
	c.TotalReservationCost = decodePrice(o, "total_reservation_cost")
	c.Remark = o.str("remark", false, 255)
	c.InvoiceReferenceID = o.str("invoice_reference_id", false, 39)
	if b, ok := o.boolean("credit"); ok {
		c.Credit = &b
	}
	c.CreditReferenceID = o.str("credit_reference_id", false, 39)
	if b, ok := o.boolean("home_charging_compensation"); ok {
		c.HomeChargingCompensate = &b
	}
	c.LastUpdated, _ = o.datetime("last_updated", true)
	o.done()
	if c.Credit != nil && *c.Credit && c.CreditReferenceID == "" {
		ps.add("credit_reference_id", "is required for a credit CDR")
	}
	if !c.StartDateTime.IsZero() && !c.EndDateTime.IsZero() && c.EndDateTime.Before(c.StartDateTime) {
		ps.add("end_date_time", "%s is before start_date_time", formatDateTime(c.EndDateTime))
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	for _, t := range c.Tariffs {
		t.plan = compile(t)
	}
	return c, nil
}

func decodeCdrLocation(ps *problems, x *jobject) CdrLocation {
	l := CdrLocation{
		ID:         x.str("id", true, 36),
		Name:       x.str("name", false, 255),
		Address:    x.str("address", true, 45),
		City:       x.str("city", true, 45),
		PostalCode: x.str("postal_code", false, 10),
		State:      x.str("state", false, 20),
		Country:    x.str("country", true, 3),
	}
	if g, ok := x.object("coordinates", true); ok {
		l.Coordinates = GeoLocation{Latitude: g.str("latitude", true, 10), Longitude: g.str("longitude", true, 11)}
		g.done()
	}
	l.EvseUID = x.str("evse_uid", true, 36)
	l.EvseID = x.str("evse_id", true, 48)
	l.ConnectorID = x.str("connector_id", true, 36)
	l.ConnectorStandard = x.str("connector_standard", true, 0)
	l.ConnectorFormat = x.str("connector_format", true, 0)
	l.ConnectorPowerType = x.str("connector_power_type", true, 0)
	if l.ConnectorFormat != "" && !formats[l.ConnectorFormat] {
		ps.add("cdr_location.connector_format", "%q is not SOCKET or CABLE", l.ConnectorFormat)
	}
	if l.ConnectorPowerType != "" && !powerTypes[l.ConnectorPowerType] {
		ps.add("cdr_location.connector_power_type", "%q is not a power type (AC_1_PHASE, AC_2_PHASE, AC_2_PHASE_SPLIT, AC_3_PHASE, DC)", l.ConnectorPowerType)
	}
	x.done()
	return l
}

func decodeSignedData(ps *problems, x *jobject) *SignedData {
	sd := &SignedData{EncodingMethod: x.str("encoding_method", true, 36)}
	if n, ok := x.integer("encoding_method_version", false); ok {
		sd.EncodingMethodVersion = &n
	}
	sd.PublicKey = x.str("public_key", false, 512)
	n, _ := x.array("signed_values", true, func(p string, raw json.RawMessage) {
		v, ok := readObject(ps, p, raw)
		if !ok {
			return
		}
		sd.SignedValues = append(sd.SignedValues, SignedValue{
			Nature:     v.str("nature", true, 32),
			PlainData:  v.str("plain_data", true, 5000),
			SignedData: v.str("signed_data", true, 5000),
		})
		v.done()
	})
	if n == 0 {
		ps.add("signed_data.signed_values", "is required (at least one value)")
	}
	sd.URL = x.str("url", false, 512)
	x.done()
	return sd
}

func decodeChargingPeriod(ps *problems, path string, raw json.RawMessage) ChargingPeriod {
	o, ok := readObject(ps, path, raw)
	if !ok {
		return ChargingPeriod{}
	}
	var cp ChargingPeriod
	cp.StartDateTime, _ = o.datetime("start_date_time", true)
	n, _ := o.array("dimensions", true, func(p string, raw json.RawMessage) {
		d, ok := readObject(ps, p, raw)
		if !ok {
			return
		}
		dim := CdrDimension{Type: DimensionType(d.str("type", true, 0)), Volume: d.num("volume", true).Decimal}
		if dim.Type != "" && !dimensionTypes[dim.Type] {
			ps.add(field(p, "type"), "%q is not a CDR dimension type", dim.Type)
		}
		d.done()
		cp.Dimensions = append(cp.Dimensions, dim)
	})
	if n == 0 {
		ps.add(field(path, "dimensions"), "is required (at least one dimension)")
	}
	cp.TariffID = o.str("tariff_id", false, 36)
	o.done()
	return cp
}

// UnmarshalJSON reads a CDR with ParseCDR, so a CDR inside another JSON
// document is validated the same way.
func (c *CDR) UnmarshalJSON(data []byte) error {
	v, err := ParseCDR(data)
	if err != nil {
		return err
	}
	*c = *v
	return nil
}

// MarshalJSON writes the CDR as OCPI 2.2.1 JSON, members in the order of the
// OCPI table. Tariffs are written without the gridmetrics extension: a CDR
// goes to OCPI peers.
func (c *CDR) MarshalJSON() ([]byte, error) {
	var w jwriter
	w.beginObject()
	w.key("country_code")
	w.str(c.CountryCode)
	w.key("party_id")
	w.str(c.PartyID)
	w.key("id")
	w.str(c.ID)
	w.key("start_date_time")
	w.datetime(c.StartDateTime)
	w.key("end_date_time")
	w.datetime(c.EndDateTime)
	w.optStr("session_id", c.SessionID)
	w.key("cdr_token")
	w.beginObject()
	for _, kv := range [][2]string{{"country_code", c.CdrToken.CountryCode}, {"party_id", c.CdrToken.PartyID},
		{"uid", c.CdrToken.UID}, {"type", c.CdrToken.Type}, {"contract_id", c.CdrToken.ContractID}} {
		w.key(kv[0])
		w.str(kv[1])
	}
	w.endObject()
	w.key("auth_method")
	w.str(c.AuthMethod)
	w.optStr("authorization_reference", c.AuthorizationReference)
	l := c.CdrLocation
	w.key("cdr_location")
	w.beginObject()
	w.key("id")
	w.str(l.ID)
	w.optStr("name", l.Name)
	w.key("address")
	w.str(l.Address)
	w.key("city")
	w.str(l.City)
	w.optStr("postal_code", l.PostalCode)
	w.optStr("state", l.State)
	w.key("country")
	w.str(l.Country)
	w.key("coordinates")
	w.beginObject()
	w.key("latitude")
	w.str(l.Coordinates.Latitude)
	w.key("longitude")
	w.str(l.Coordinates.Longitude)
	w.endObject()
	for _, kv := range [][2]string{{"evse_uid", l.EvseUID}, {"evse_id", l.EvseID}, {"connector_id", l.ConnectorID},
		{"connector_standard", l.ConnectorStandard}, {"connector_format", l.ConnectorFormat}, {"connector_power_type", l.ConnectorPowerType}} {
		w.key(kv[0])
		w.str(kv[1])
	}
	w.endObject()
	w.optStr("meter_id", c.MeterID)
	w.key("currency")
	w.str(c.Currency)
	if len(c.Tariffs) > 0 {
		w.key("tariffs")
		w.beginArray()
		for _, t := range c.Tariffs {
			writeTariff(&w, t, false)
		}
		w.endArray()
	}
	w.key("charging_periods")
	w.beginArray()
	for _, p := range c.ChargingPeriods {
		w.beginObject()
		w.key("start_date_time")
		w.datetime(p.StartDateTime)
		w.key("dimensions")
		w.beginArray()
		for _, d := range p.Dimensions {
			w.beginObject()
			w.key("type")
			w.str(string(d.Type))
			w.key("volume")
			w.dec(d.Volume)
			w.endObject()
		}
		w.endArray()
		w.optStr("tariff_id", p.TariffID)
		w.endObject()
	}
	w.endArray()
	if sd := c.SignedData; sd != nil {
		w.key("signed_data")
		w.beginObject()
		w.key("encoding_method")
		w.str(sd.EncodingMethod)
		if sd.EncodingMethodVersion != nil {
			w.key("encoding_method_version")
			w.integer(*sd.EncodingMethodVersion)
		}
		w.optStr("public_key", sd.PublicKey)
		w.key("signed_values")
		w.beginArray()
		for _, v := range sd.SignedValues {
			w.beginObject()
			w.key("nature")
			w.str(v.Nature)
			w.key("plain_data")
			w.str(v.PlainData)
			w.key("signed_data")
			w.str(v.SignedData)
			w.endObject()
		}
		w.endArray()
		w.optStr("url", sd.URL)
		w.endObject()
	}
	tc := c.TotalCost
	writePrice(&w, "total_cost", &tc)
	writePrice(&w, "total_fixed_cost", c.TotalFixedCost)
	w.key("total_energy")
	w.dec(c.TotalEnergy)
	writePrice(&w, "total_energy_cost", c.TotalEnergyCost)
	w.key("total_time")
	w.dec(c.TotalTime)
	writePrice(&w, "total_time_cost", c.TotalTimeCost)
	w.optDec("total_parking_time", c.TotalParkingTime)
	writePrice(&w, "total_parking_cost", c.TotalParkingCost)
	writePrice(&w, "total_reservation_cost", c.TotalReservationCost)
	w.optStr("remark", c.Remark)
	w.optStr("invoice_reference_id", c.InvoiceReferenceID)
	if c.Credit != nil {
		w.key("credit")
		w.boolean(*c.Credit)
	}
	w.optStr("credit_reference_id", c.CreditReferenceID)
	if c.HomeChargingCompensate != nil {
		w.key("home_charging_compensation")
		w.boolean(*c.HomeChargingCompensate)
	}
	w.key("last_updated")
	w.datetime(c.LastUpdated)
	w.endObject()
	return w.buf, nil
}
