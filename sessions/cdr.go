package sessions

import (
	"time"

	"github.com/gridmetrics/gridmetrics/tariffs"
)

// buildCDR assembles the OCPI CDR of a session, totals not yet computed.
//
// The CPO (country_code, party_id) is the tariff's. The token is the
// session's id tag as an RFID token of the same party (this service does
// not know the eMSP), or an AD_HOC_USER named after the session when there
// is no id tag; auth_method is WHITELIST, as no authorisation request went
// through this service. The location comes from the metadata of the
// connector, else of its charge box: location_id (default: the charge box),
// location_name, address, city, postal_code, state, country (ISO 3166
// alpha-3), latitude, longitude, evse_uid and evse_id (default: the
// connector's external id), connector_standard, connector_format,
// connector_power_type, meter_id. OCPI requires most of them: fill them in
// the source metadata for CDRs that OCPI peers accept.
func buildCDR(s *Session, t *tariffs.Tariff, st station, periods []tariffs.ChargingPeriod, end time.Time) *tariffs.CDR {
	meta := func(key, def string) string {
		for _, m := range []map[string]any{st.metadata, st.parentMetadata} {
			if v, ok := m[key].(string); ok && v != "" {
				return v
			}
		}
		return def
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
			ID: meta("location_id", box), Name: meta("location_name", ""),
			Address: meta("address", ""), City: meta("city", ""), PostalCode: meta("postal_code", ""),
			State: meta("state", ""), Country: meta("country", ""),
			Coordinates: tariffs.GeoLocation{Latitude: meta("latitude", ""), Longitude: meta("longitude", "")},
			EvseUID:     meta("evse_uid", st.externalID), EvseID: meta("evse_id", st.externalID), ConnectorID: connector,
			ConnectorStandard: meta("connector_standard", ""), ConnectorFormat: meta("connector_format", ""),
			ConnectorPowerType: meta("connector_power_type", ""),
		},
		MeterID:         meta("meter_id", ""),
		Currency:        t.Currency,
		ChargingPeriods: periods,
	}
}
