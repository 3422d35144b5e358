package sessions

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/sites"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// buildCDR assembles the OCPI CDR of a session, totals not yet computed.
//
// The CPO (country_code, party_id) is the tariff's. The token is the
// session's id tag as an RFID token of the same party (this service does
// not know the eMSP), or an AD_HOC_USER named after the session when there
// is no id tag; auth_method is WHITELIST, as no authorisation request went
// through this service.
//
// The location is the connector's site, else its charge box's: id (the
// site's ocpi_location_id), name, address, city, postal_code, state,
// country and coordinates. The connector's standard, format and power type
// are the connector's, else its charge box's. Each falls back to the
// metadata of the connector, else of its charge box, under the keys
// location_id (default: the charge box), location_name, address, city,
// postal_code, state, country, latitude, longitude, connector_standard,
// connector_format and connector_power_type; evse_uid and evse_id (default:
// the connector's external id) and meter_id come from the metadata only.
// What is still missing is left empty, and cdrProblems names it: the CDR is
// then not served as valid.
func buildCDR(s *Session, t *tariffs.Tariff, st station, periods []tariffs.ChargingPeriod, end time.Time) *tariffs.CDR {
	meta := func(key, def string) string {
		for _, m := range []map[string]any{st.metadata, st.parentMetadata} {
			if v, ok := m[key].(string); ok && v != "" {
				return v
			}
		}
		return def
	}
	// pick is a site's or connector's value, else the metadata's.
	pick := func(v *string, key, def string) string {
		if v != nil && *v != "" {
			return *v
		}
		return meta(key, def)
	}
	site := st.site
	if site == nil {
		site = &stationSite{}
	}
	box := s.ChargeBoxID
	if box == "" && st.parentExternal != nil {
		box = *st.parentExternal
	}
	if box == "" {
		box = st.externalID
	}
	connector := st.connectorNumber
	if connector == "" {
		connector = "1"
	}
	token := tariffs.CdrToken{CountryCode: t.CountryCode, PartyID: t.PartyID, UID: s.IDTag, Type: "RFID", ContractID: s.IDTag}
	if s.IDTag == "" {
		token.UID, token.ContractID, token.Type = s.PublicID, s.PublicID, "AD_HOC_USER"
	}
	return &tariffs.CDR{
		CountryCode:   t.CountryCode,
		PartyID:       t.PartyID,
		ID:            s.PublicID,
		StartDateTime: s.StartTime.UTC(),
		EndDateTime:   end.UTC(),
		SessionID:     s.PublicID,
		CdrToken:      token,
		AuthMethod:    "WHITELIST",
		CdrLocation: tariffs.CdrLocation{
			ID: pick(site.ocpiLocationID, "location_id", box), Name: pick(site.name, "location_name", ""),
			Address: pick(site.address, "address", ""), City: pick(site.city, "city", ""),
			PostalCode: pick(site.postalCode, "postal_code", ""), State: pick(site.state, "state", ""),
			Country:     pick(site.country, "country", ""),
			Coordinates: tariffs.GeoLocation{Latitude: pick(site.latitude, "latitude", ""), Longitude: pick(site.longitude, "longitude", "")},
			EvseUID:     meta("evse_uid", st.externalID), EvseID: meta("evse_id", st.externalID), ConnectorID: connector,
			ConnectorStandard:  pick(st.connectorStandard, "connector_standard", ""),
			ConnectorFormat:    pick(st.connectorFormat, "connector_format", ""),
			ConnectorPowerType: pick(st.connectorPowerType, "connector_power_type", ""),
		},
		MeterID:         meta("meter_id", ""),
		Currency:        t.Currency,
		ChargingPeriods: periods,
	}
}

// countryForm is OCPI 2.2.1's form of a country (ISO 3166-1 alpha-3); the
// GeoLocation forms are the sites package's.
var countryForm = regexp.MustCompile(`^[A-Z]{3}$`)

// storedCDR is what cdrProblems reads of a stored CDR: the parts filled
// from the site, the connector and the tariff.
type storedCDR struct {
	Token struct {
		UID        string `json:"uid"`
		ContractID string `json:"contract_id"`
	} `json:"cdr_token"`
	Location struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Address     string `json:"address"`
		City        string `json:"city"`
		PostalCode  string `json:"postal_code"`
		State       string `json:"state"`
		Country     string `json:"country"`
		Coordinates struct {
			Latitude  string `json:"latitude"`
			Longitude string `json:"longitude"`
		} `json:"coordinates"`
		EvseUID            string `json:"evse_uid"`
		EvseID             string `json:"evse_id"`
		ConnectorID        string `json:"connector_id"`
		ConnectorStandard  string `json:"connector_standard"`
		ConnectorFormat    string `json:"connector_format"`
		ConnectorPowerType string `json:"connector_power_type"`
	} `json:"cdr_location"`
	Tariffs []struct {
		ID          string  `json:"id"`
		LastUpdated *string `json:"last_updated"`
	} `json:"tariffs"`
}

// cdrProblems names what keeps the session's CDR from being one a roaming
// partner accepts (OCPI 2.2.1: a required field empty, a value too long or
// not of its form), each with where to set it; nil when there is nothing
// wrong or no CDR. The CDR is read as stored, so data set since it was
// priced shows once the session is repriced.
func (s *Session) cdrProblems() []string {
	if s.CDR == nil {
		return nil
	}
	var c storedCDR
	if err := json.Unmarshal(s.CDR, &c); err != nil {
		return []string{fmt.Sprintf("cdr: not readable (%v); reprice the session (POST /v1/sessions/%s/reprice)", err, s.PublicID)}
	}
	var out []string
	add := func(path, problem, where string) {
		out = append(out, fmt.Sprintf("cdr_location.%s: %s; %s", path, problem, where))
	}
	ofSite := func(what string) string {
		if s.SiteID == nil {
			return fmt.Sprintf("the connector %s has no site: give it or its charge box one (site_id, PATCH /v1/sources/%s), then set the site's %s",
				s.connectorName(), s.sourceRef(), what)
		}
		return fmt.Sprintf("set the %s of the site %s (PATCH /v1/sites/%s)", what, *s.SiteID, *s.SiteID)
	}
	ofConnector := func(what string) string {
		return fmt.Sprintf("set connector.%s on the connector %s or its charge box (PATCH /v1/sources/%s)", what, s.connectorName(), s.sourceRef())
	}
	ofMetadata := func(key string) string {
		return fmt.Sprintf("set metadata.%s on the connector %s (PATCH /v1/sources/%s)", key, s.connectorName(), s.sourceRef())
	}
	l := c.Location
	text := func(path, v string, required bool, limit int, where string) bool {
		switch {
		case v == "" && required:
			add(path, "missing", where)
		case utf8.RuneCountInString(v) > limit:
			add(path, fmt.Sprintf("%q is longer than %d characters", v, limit), where)
		default:
			return true
		}
		return false
	}
	// ids are OCPI CiStrings: printable ASCII.
	id := func(path, v string, limit int, where string) {
		if !text(path, v, true, limit, where) {
			return
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			add(path, fmt.Sprintf("%q is not printable ASCII", v), where)
		}
	}
	form := func(path, v string, re *regexp.Regexp, name, where string) {
		switch {
		case v == "":
			add(path, "missing", where)
		case !re.MatchString(v):
			add(path, fmt.Sprintf("%q is not %s", v, name), where)
		}
	}
	oneOf := func(path, v string, values []string, where string) {
		switch {
		case v == "":
			add(path, "missing", where)
		case !slices.Contains(values, v):
			add(path, fmt.Sprintf("%q is not an OCPI value", v), where)
		}
	}
	id("id", l.ID, 36, ofSite("ocpi_location_id"))
	text("name", l.Name, false, 255, ofSite("name"))
	text("address", l.Address, true, 45, ofSite("address"))
	text("city", l.City, true, 45, ofSite("city"))
	text("postal_code", l.PostalCode, false, 10, ofSite("postal_code"))
	text("state", l.State, false, 20, ofSite("state"))
	form("country", l.Country, countryForm, "an ISO 3166-1 alpha-3 code", ofSite("country"))
	form("coordinates.latitude", l.Coordinates.Latitude, sites.LatitudePattern, "an OCPI latitude (5 to 7 decimals)", ofSite("coordinates"))
	form("coordinates.longitude", l.Coordinates.Longitude, sites.LongitudePattern, "an OCPI longitude (5 to 7 decimals)", ofSite("coordinates"))
	id("evse_uid", l.EvseUID, 36, ofMetadata("evse_uid"))
	id("evse_id", l.EvseID, 48, ofMetadata("evse_id"))
	id("connector_id", l.ConnectorID, 36, "name the connector <charge box>/<number>")
	oneOf("connector_standard", l.ConnectorStandard, sources.ConnectorStandards, ofConnector("standard"))
	oneOf("connector_format", l.ConnectorFormat, sources.ConnectorFormats, ofConnector("format"))
	oneOf("connector_power_type", l.ConnectorPowerType, sources.PowerTypes, ofConnector("power_type"))
	// The token is the session's id tag, which OCPP and the API let be
	// longer than OCPI's 36 characters, or not ASCII.
	for _, v := range []struct{ path, v string }{{"uid", c.Token.UID}, {"contract_id", c.Token.ContractID}} {
		if utf8.RuneCountInString(v.v) > 36 || strings.ContainsFunc(v.v, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			out = append(out, fmt.Sprintf("cdr_token.%s: the id tag %q is not an OCPI token id (at most 36 printable ASCII characters); this session's CDR cannot name it",
				v.path, v.v))
		}
	}
	for i, t := range c.Tariffs {
		if t.LastUpdated == nil {
			out = append(out, fmt.Sprintf("tariffs[%d].last_updated: missing from tariff %s; reprice the session (POST /v1/sessions/%s/reprice)",
				i, t.ID, s.PublicID))
		}
	}
	return out
}

// connectorName is the session's connector as its tenant knows it.
func (s *Session) connectorName() string {
	if s.SourceExternalID != nil {
		return *s.SourceExternalID
	}
	return "(deleted)"
}

// sourceRef is the session's connector in a route.
func (s *Session) sourceRef() string {
	if s.Source != nil {
		return *s.Source
	}
	return "{id}"
}

// incompleteCDR is the answer for a CDR that is not valid OCPI: the
// problems, and how to get a valid one.
func incompleteCDR(publicID string, problems []string) error {
	return &api.Error{Code: api.CodeCDRIncomplete,
		Message: fmt.Sprintf("the CDR of session %s is not valid OCPI 2.2.1: fill in what details.problems names, then reprice the session (POST /v1/sessions/%s/reprice)",
			publicID, publicID),
		Details: map[string]any{"problems": problems}}
}
