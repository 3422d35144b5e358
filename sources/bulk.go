package sources

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// MaxBulk is the most sources one bulk registration may carry: enough for
// a fleet, small enough for one transaction within the route's body limit.
const MaxBulk = 1000

// The statuses of one item of a bulk registration.
const (
	BulkCreated  = "created"
	BulkExisting = "existing"
	BulkRejected = "rejected"
)

// BulkItem is one item of a bulk registration: a source to create, or the
// error that made it invalid before it reached the store (Invalid).
type BulkItem struct {
	Source  NewSource
	Invalid *api.Error
}

// BulkResult is the outcome of one item, at the item's index.
type BulkResult struct {
	Index  int        `json:"index"`
	Status string     `json:"status"`
	Source *Source    `json:"source,omitempty"`
	Error  *api.Error `json:"error,omitempty"`
}

// BulkOutcome answers a bulk registration: one result per item, in order,
// and the count of each status.
type BulkOutcome struct {
	Results  []BulkResult `json:"results"`
	Created  int          `json:"created"`
	Existing int          `json:"existing"`
	Rejected int          `json:"rejected"`
}

// CreateMany registers sources in one transaction. An item whose external
// id the tenant already has is "existing" and left unchanged (so a retried
// request is harmless); an invalid item is "rejected" with the error a
// single create would give, and the others go on. A parent may name an
// item earlier in the same request. An error that is no item's fault
// rolls back the whole request.
func (st *Store) CreateMany(ctx context.Context, tenantID int64, items []BulkItem) (BulkOutcome, error) {
	if len(items) > MaxBulk {
		return BulkOutcome{}, tooMany(len(items))
	}
	out := BulkOutcome{Results: make([]BulkResult, len(items))}
	ids := make([]int64, len(items))
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		for i, it := range items {
			id, created, rejected, err := st.createOne(ctx, tx, tenantID, it)
			if err != nil {
				return err
			}
			if rejected != nil {
				out.Results[i] = BulkResult{Index: i, Status: BulkRejected, Error: rejected}
				continue
			}
			ids[i] = id
			out.Results[i] = BulkResult{Index: i, Status: BulkExisting}
			if created {
				out.Results[i].Status = BulkCreated
			}
		}
		return st.fillSources(ctx, tx, tenantID, ids, out.Results)
	})
	if err != nil {
		return BulkOutcome{}, err
	}
	for _, r := range out.Results {
		switch r.Status {
		case BulkCreated:
			out.Created++
		case BulkExisting:
			out.Existing++
		default:
			out.Rejected++
		}
	}
	return out, nil
}

func tooMany(n int) *api.Error {
	return &api.Error{Code: api.CodeTooLarge,
		Message: fmt.Sprintf("%d sources in one request; at most %d are allowed", n, MaxBulk),
		Details: map[string]any{"limit": MaxBulk, "count": n}}
}

// createOne inserts an item unless the tenant has its external id. It
// rejects an invalid item alone; an error (err) fails the whole request,
// since the transaction can no longer go on.
func (st *Store) createOne(ctx context.Context, tx pgx.Tx, tenantID int64, it BulkItem) (id int64, created bool, rejected *api.Error, err error) {
	if it.Invalid != nil {
		return 0, false, it.Invalid, nil
	}
	n := it.Source
	if err := n.validate(); err != nil {
		return 0, false, api.AsError(err), nil
	}
	var parentID *int64
	if n.Parent != nil {
		pid, err := st.resolveParent(ctx, tx, tenantID, *n.Parent)
		if e := api.AsError(err); e != nil {
			// An existing source stays as it is, whatever its parent now.
			id, found, err := existingID(ctx, tx, tenantID, n.ExternalID)
			if err != nil || found {
				return id, false, nil, err
			}
			return 0, false, e, nil
		}
		if err != nil {
			return 0, false, nil, err
		}
		parentID = &pid
	}
	// The insert and the look-up share a snapshot: exactly one of them
	// yields the row.
	args := append([]any{auth.NewPublicID("src"), tenantID, n.ExternalID, n.Kind, n.Name, n.SiteID, n.Timezone, parentID, n.Metadata},
		connectorArgs(n.Connector)...)
	err = tx.QueryRow(ctx, `WITH ins AS (
			INSERT INTO sources (public_id, tenant_id, external_id, kind, name, site_id, timezone, parent_id, metadata,
				connector_standard, connector_format, connector_power_type, max_voltage, max_amperage, max_electric_power)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (tenant_id, external_id) DO NOTHING RETURNING id)
		SELECT id, true FROM ins
		UNION ALL SELECT id, false FROM sources WHERE tenant_id = $2 AND external_id = $3`, args...).Scan(&id, &created)
	if err != nil {
		return 0, false, nil, interpretError(err, n.ExternalID)
	}
	return id, created, nil, nil
}

func existingID(ctx context.Context, q querier, tenantID int64, externalID string) (int64, bool, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM sources WHERE tenant_id = $1 AND external_id = $2`, tenantID, externalID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// fillSources reads the created and existing sources in one query.
func (st *Store) fillSources(ctx context.Context, tx pgx.Tx, tenantID int64, ids []int64, results []BulkResult) error {
	rows, err := tx.Query(ctx, selectSource+` WHERE s.tenant_id = $1 AND s.id = ANY($2)`, tenantID, ids)
	if err != nil {
		return fmt.Errorf("read sources: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Source, error) { return scanSource(r) })
	if err != nil {
		return fmt.Errorf("read sources: %w", err)
	}
	byID := make(map[int64]*Source, len(list))
	for i := range list {
		byID[list[i].ID] = &list[i]
	}
	for i, id := range ids {
		if results[i].Status != BulkRejected {
			results[i].Source = byID[id]
		}
	}
	return nil
}
