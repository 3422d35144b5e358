package sources

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/api"
)

// A source is named in the API by a reference: its public id ("src_…") or
// its tenant's external id ("CB-0042/1"). Every route, parameter and body
// field that names a source resolves it here, so they all agree. When one
// text is both a source's public id and another source's external id, the
// public id wins: it is the server's own name and never changes.

// Querier runs a query: a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const sqlLookup = `SELECT id, public_id, external_id FROM sources
	WHERE tenant_id = $1 AND (public_id = ANY($2) OR external_id = ANY($2))`

// LookupIDs resolves references of a tenant's sources to their ids.
// References that name no source of the tenant are absent.
func LookupIDs(ctx context.Context, q Querier, tenantID int64, refs []string) (map[string]int64, error) {
	rows, err := q.Query(ctx, sqlLookup, tenantID, refs)
	if err != nil {
		return nil, fmt.Errorf("look up sources: %w", err)
	}
	defer rows.Close()
	want := make(map[string]bool, len(refs))
	for _, ref := range refs {
		want[ref] = true
	}
	found := make(map[string]int64, len(refs))
	byPublicID := make(map[string]bool, len(refs))
	for rows.Next() {
		var id int64
		var publicID, externalID string
		if err := rows.Scan(&id, &publicID, &externalID); err != nil {
			return nil, fmt.Errorf("look up sources: %w", err)
		}
		if want[publicID] {
			found[publicID], byPublicID[publicID] = id, true
		}
		if want[externalID] && !byPublicID[externalID] {
			found[externalID] = id
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up sources: %w", err)
	}
	return found, nil
}

// LookupID resolves one reference of a tenant's source. A reference that
// names none of the tenant's sources is a NOT_FOUND naming it as given.
func LookupID(ctx context.Context, q Querier, tenantID int64, ref string) (int64, error) {
	found, err := LookupIDs(ctx, q, tenantID, []string{ref})
	if err != nil {
		return 0, err
	}
	id, ok := found[ref]
	if !ok {
		return 0, api.NotFound("source", ref)
	}
	return id, nil
}

// IDs resolves references of a tenant's sources (see LookupIDs).
func (st *Store) IDs(ctx context.Context, tenantID int64, refs []string) (map[string]int64, error) {
	return LookupIDs(ctx, st.db, tenantID, refs)
}
