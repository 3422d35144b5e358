package sites

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
)

// Store keeps sites. Every method is scoped to a tenant: another tenant's
// site is not found.
type Store struct{ db *pgxpool.Pool }

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const selectSite = `SELECT tenant_id, id, name, address, city, postal_code, state, country,
	latitude, longitude, timezone, operator_name, operator_website, ocpi_location_id, created_at, updated_at
	FROM sites`

func scanSite(row pgx.Row) (Site, error) {
	var s Site
	var lat, lon, opName *string
	var opWebsite *string
	err := row.Scan(&s.TenantID, &s.ID, &s.Name, &s.Address, &s.City, &s.PostalCode, &s.State, &s.Country,
		&lat, &lon, &s.TimeZone, &opName, &opWebsite, &s.OCPILocationID, &s.CreatedAt, &s.UpdatedAt)
	if lat != nil && lon != nil {
		s.Coordinates = &Coordinates{Latitude: *lat, Longitude: *lon}
	}
	if opName != nil {
		s.Operator = &Operator{Name: *opName, Website: opWebsite}
	}
	return s, err
}

// columns are a site's stored values in the order of the insert and
// update statements' parameters $3 to $13.
func columns(s Site) []any {
	var lat, lon, opName, opWebsite *string
	if s.Coordinates != nil {
		lat, lon = &s.Coordinates.Latitude, &s.Coordinates.Longitude
	}
	if s.Operator != nil {
		opName, opWebsite = &s.Operator.Name, s.Operator.Website
	}
	return []any{s.Name, s.Address, s.City, s.PostalCode, s.State, s.Country,
		lat, lon, s.TimeZone, opName, opWebsite, s.OCPILocationID}
}

// Create stores a new site; an id the tenant already has is a CONFLICT
// (a site a source created bare is changed with Update).
func (st *Store) Create(ctx context.Context, tenantID int64, n NewSite) (Site, error) {
	if err := n.validate(); err != nil {
		return Site{}, err
	}
	s := Site{ID: n.ID, Name: n.Name, Address: n.Address, City: n.City, PostalCode: n.PostalCode, State: n.State,
		Country: n.Country, Coordinates: n.Coordinates, TimeZone: n.TimeZone, Operator: n.Operator, OCPILocationID: n.OCPILocationID}
	args := append([]any{tenantID, s.ID}, columns(s)...)
	out, err := scanSite(st.db.QueryRow(ctx, `INSERT INTO sites (tenant_id, id, name, address, city, postal_code, state, country,
			latitude, longitude, timezone, operator_name, operator_website, ocpi_location_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		RETURNING tenant_id, id, name, address, city, postal_code, state, country,
			latitude, longitude, timezone, operator_name, operator_website, ocpi_location_id, created_at, updated_at`, args...))
	if err != nil {
		return Site{}, interpretError(err, s.ID)
	}
	return out, nil
}

// Get returns a tenant's site.
func (st *Store) Get(ctx context.Context, tenantID int64, id string) (Site, error) {
	s, err := scanSite(st.db.QueryRow(ctx, selectSite+` WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, api.NotFound("site", id)
	}
	if err != nil {
		return Site{}, fmt.Errorf("read site: %w", err)
	}
	return s, nil
}

// List returns a page of a tenant's sites in the order of their ids, and
// the number of them.
func (st *Store) List(ctx context.Context, tenantID int64, page api.PageRequest) ([]Site, int64, error) {
	var total int64
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM sites WHERE tenant_id = $1`, tenantID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count sites: %w", err)
	}
	rows, err := st.db.Query(ctx, selectSite+` WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3`,
		tenantID, page.Limit, page.Offset())
	if err != nil {
		return nil, 0, fmt.Errorf("list sites: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Site, error) { return scanSite(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("list sites: %w", err)
	}
	return list, total, nil
}

// Update applies a patch to a tenant's site. A new id renames it; its
// sources follow (the foreign key cascades).
func (st *Store) Update(ctx context.Context, tenantID int64, id string, p Patch) (Site, error) {
	if err := p.validate(); err != nil {
		return Site{}, err
	}
	var out Site
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		cur, err := scanSite(tx.QueryRow(ctx, selectSite+` WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return api.NotFound("site", id)
		}
		if err != nil {
			return fmt.Errorf("read site: %w", err)
		}
		p.apply(&cur)
		args := append([]any{tenantID, id}, columns(cur)...)
		args = append(args, cur.ID)
		out, err = scanSite(tx.QueryRow(ctx, `UPDATE sites SET name = $3, address = $4, city = $5, postal_code = $6,
				state = $7, country = $8, latitude = $9, longitude = $10, timezone = $11, operator_name = $12,
				operator_website = $13, ocpi_location_id = $14, id = $15, updated_at = now()
			WHERE tenant_id = $1 AND id = $2
			RETURNING tenant_id, id, name, address, city, postal_code, state, country,
				latitude, longitude, timezone, operator_name, operator_website, ocpi_location_id, created_at, updated_at`, args...))
		if err != nil {
			return interpretError(err, cur.ID)
		}
		return nil
	})
	return out, err
}

// Delete removes a tenant's site. A site that sources stand at stays: a
// CONFLICT, naming how many, so the caller moves or deletes them first.
func (st *Store) Delete(ctx context.Context, tenantID int64, id string) error {
	tag, err := st.db.Exec(ctx, `DELETE FROM sites WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		var n int64
		if err := st.db.QueryRow(ctx, `SELECT count(*) FROM sources WHERE tenant_id = $1 AND site_id = $2`, tenantID, id).Scan(&n); err != nil {
			return fmt.Errorf("count sources of site: %w", err)
		}
		return &api.Error{Code: api.CodeConflict,
			Message: fmt.Sprintf("site %q has %d sources; move them to another site or delete them first", id, n),
			Details: map[string]any{"sources": n}}
	}
	if err != nil {
		return fmt.Errorf("delete site: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return api.NotFound("site", id)
	}
	return nil
}

// interpretError turns a unique violation into a CONFLICT and a check
// violation (the country's form, the last guard) into a VALIDATION_ERROR.
func interpretError(err error, id string) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return api.Errorf(api.CodeConflict, "a site with id %q already exists", id)
	case errors.As(err, &pgErr) && pgErr.Code == "23514":
		return api.Validation("country", "is not an ISO 3166-1 alpha-3 code")
	}
	return fmt.Errorf("write site %q: %w", id, err)
}
