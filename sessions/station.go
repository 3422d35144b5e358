package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// station is what pricing needs of a session's connector and its charge
// box: time zones (for a tariff without its own), and what the CDR's
// location is filled from — the site, the connector's attributes and the
// metadata.
type station struct {
	externalID      string
	timezone        string
	metadata        map[string]any
	parentID        *int64
	parentTimezone  *string
	parentMetadata  map[string]any
	parentExternal  *string
	connectorNumber string
	// site is the connector's site, else its charge box's; nil when
	// neither names one.
	site *stationSite
	// The connector's OCPI attributes, each else its charge box's; nil
	// when neither has it.
	connectorStandard, connectorFormat, connectorPowerType *string
}

// stationSite is what a CDR's location takes from a site; a field is nil
// when the site does not say.
type stationSite struct {
	id                                           string
	name, address, city, postalCode, state       *string
	country, latitude, longitude, ocpiLocationID *string
}

// station reads one connector's station.
func (st *Store) station(ctx context.Context, sourceID int64) (station, error) {
	m, err := st.stations(ctx, []int64{sourceID})
	if err != nil {
		return station{}, err
	}
	s, ok := m[sourceID]
	if !ok {
		return station{}, fmt.Errorf("read source %d: %w", sourceID, pgx.ErrNoRows)
	}
	return s, nil
}

// stations reads the stations of many connectors in one statement, by
// source id; ids that name no source are missing from the map.
func (st *Store) stations(ctx context.Context, sourceIDs []int64) (map[int64]station, error) {
	rows, err := st.db.Query(ctx, `SELECT s.id, s.external_id, s.timezone, s.metadata, p.id, p.timezone, p.metadata, p.external_id,
			coalesce(s.connector_standard, p.connector_standard), coalesce(s.connector_format, p.connector_format),
			coalesce(s.connector_power_type, p.connector_power_type),
			site.id, site.name, site.address, site.city, site.postal_code, site.state, site.country,
			site.latitude, site.longitude, site.ocpi_location_id
		FROM sources s LEFT JOIN sources p ON p.id = s.parent_id
		LEFT JOIN sites site ON site.tenant_id = s.tenant_id AND site.id = coalesce(s.site_id, p.site_id)
		WHERE s.id = ANY($1)`, sourceIDs)
	if err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]station, len(sourceIDs))
	for rows.Next() {
		var id int64
		var s station
		var meta, parentMeta []byte
		var siteID *string
		var site stationSite
		if err := rows.Scan(&id, &s.externalID, &s.timezone, &meta, &s.parentID, &s.parentTimezone, &parentMeta, &s.parentExternal,
			&s.connectorStandard, &s.connectorFormat, &s.connectorPowerType,
			&siteID, &site.name, &site.address, &site.city, &site.postalCode, &site.state, &site.country,
			&site.latitude, &site.longitude, &site.ocpiLocationID); err != nil {
			return nil, fmt.Errorf("read sources: %w", err)
		}
		if siteID != nil {
			site.id = *siteID
			s.site = &site
		}
		_ = json.Unmarshal(meta, &s.metadata)
		if parentMeta != nil {
			_ = json.Unmarshal(parentMeta, &s.parentMetadata)
		}
		if i := strings.LastIndexByte(s.externalID, '/'); i >= 0 {
			s.connectorNumber = s.externalID[i+1:]
		}
		out[id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	return out, nil
}
