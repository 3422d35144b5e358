package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// station is what pricing needs of a session's connector and its charge
// box: time zones (for a tariff without its own) and the metadata the CDR's
// location is filled from.
type station struct {
	externalID      string
	timezone        string
	metadata        map[string]any
	parentID        *int64
	parentTimezone  *string
	parentMetadata  map[string]any
	parentExternal  *string
	connectorNumber string
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
	rows, err := st.db.Query(ctx, `SELECT s.id, s.external_id, s.timezone, s.metadata, p.id, p.timezone, p.metadata, p.external_id
		FROM sources s LEFT JOIN sources p ON p.id = s.parent_id WHERE s.id = ANY($1)`, sourceIDs)
	if err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]station, len(sourceIDs))
	for rows.Next() {
		var id int64
		var s station
		var meta, parentMeta []byte
		if err := rows.Scan(&id, &s.externalID, &s.timezone, &meta, &s.parentID, &s.parentTimezone, &parentMeta, &s.parentExternal); err != nil {
			return nil, fmt.Errorf("read sources: %w", err)
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
