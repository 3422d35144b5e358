package sources

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Store keeps sources and reads the metric catalogue. Every method is
// scoped to a tenant: another tenant's source is not found.
type Store struct {
	db       *pgxpool.Pool
	onChange listeners
}

// ChangesChannel is the PostgreSQL notification channel on which a source's
// id is sent when it is renamed or deleted, so every replica's resolver
// cache forgets it.
const ChangesChannel = "gridmetrics_sources"

// OnChange registers a function called (after commit) with the id of every
// source this store renames or deletes: the in-process twin of
// ChangesChannel, so a resolver in the same process never lags behind.
func (st *Store) OnChange(f func(sourceID int64)) { st.onChange.add(f) }

func notifyChange(ctx context.Context, tx pgx.Tx, id int64) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2::bigint::text)", ChangesChannel, id)
	return err
}

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Filter selects sources in List. Empty fields match everything.
type Filter struct {
	Kind       Kind
	SiteID     string
	ExternalID string
	// Sort is a column, optionally prefixed by "-" for descending:
	// created_at (default), updated_at, external_id, name, kind.
	Sort string
}

// sortColumns maps the sort names callers may use to SQL.
var sortColumns = map[string]string{
	"created_at":  "s.created_at",
	"updated_at":  "s.updated_at",
	"external_id": "s.external_id",
	"name":        "s.name",
	"kind":        "s.kind",
}

const selectSource = `SELECT s.id, s.public_id, s.tenant_id, s.external_id, s.kind, s.name, s.site_id,
	s.timezone, s.parent_id, p.public_id, s.metadata, s.created_at, s.updated_at,
	s.connector_standard, s.connector_format, s.connector_power_type, s.max_voltage, s.max_amperage, s.max_electric_power
	FROM sources s LEFT JOIN sources p ON p.id = s.parent_id`

func scanSource(row pgx.Row) (Source, error) {
	var s Source
	var c Connector
	err := row.Scan(&s.ID, &s.PublicID, &s.TenantID, &s.ExternalID, &s.Kind, &s.Name, &s.SiteID,
		&s.Timezone, &s.ParentID, &s.Parent, &s.Metadata, &s.CreatedAt, &s.UpdatedAt,
		&c.Standard, &c.Format, &c.PowerType, &c.MaxVoltage, &c.MaxAmperage, &c.MaxElectricPower)
	s.Connector = c.orNil()
	return s, err
}

// connectorArgs are a connector's attributes as statement parameters, in
// the order of the columns.
func connectorArgs(c *Connector) []any {
	if c == nil {
		c = &Connector{}
	}
	return []any{c.Standard, c.Format, c.PowerType, c.MaxVoltage, c.MaxAmperage, c.MaxElectricPower}
}

// Create registers a source.
func (st *Store) Create(ctx context.Context, tenantID int64, n NewSource) (Source, error) {
	if err := n.validate(); err != nil {
		return Source{}, err
	}
	var parentID *int64
	if n.Parent != nil {
		id, err := st.resolveParent(ctx, st.db, tenantID, *n.Parent)
		if err != nil {
			return Source{}, err
		}
		parentID = &id
	}
	var id int64
	args := append([]any{auth.NewPublicID("src"), tenantID, n.ExternalID, n.Kind, n.Name, n.SiteID, n.Timezone, parentID, n.Metadata},
		connectorArgs(n.Connector)...)
	err := st.db.QueryRow(ctx, `INSERT INTO sources (public_id, tenant_id, external_id, kind, name, site_id, timezone, parent_id, metadata,
			connector_standard, connector_format, connector_power_type, max_voltage, max_amperage, max_electric_power)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`, args...).Scan(&id)
	if err != nil {
		return Source{}, interpretError(err, n.ExternalID)
	}
	return st.byID(ctx, st.db, tenantID, id)
}

// Get returns a tenant's source by reference: public id or external id
// (see LookupIDs).
func (st *Store) Get(ctx context.Context, tenantID int64, ref string) (Source, error) {
	id, err := LookupID(ctx, st.db, tenantID, ref)
	if err != nil {
		return Source{}, err
	}
	s, err := scanSource(st.db.QueryRow(ctx, selectSource+` WHERE s.tenant_id = $1 AND s.id = $2`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) { // deleted since the lookup
		return Source{}, api.NotFound("source", ref)
	}
	return s, err
}

func (st *Store) byID(ctx context.Context, q querier, tenantID, id int64) (Source, error) {
	s, err := scanSource(q.QueryRow(ctx, selectSource+` WHERE s.tenant_id = $1 AND s.id = $2`, tenantID, id))
	if err != nil {
		return Source{}, fmt.Errorf("read source %d: %w", id, err)
	}
	return s, nil
}

// List returns a page of a tenant's sources and the number matching.
func (st *Store) List(ctx context.Context, tenantID int64, f Filter, page api.PageRequest) ([]Source, int64, error) {
	where := []string{"s.tenant_id = $1"}
	args := []any{tenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Kind != "" {
		add("s.kind = $%d", f.Kind)
	}
	if f.SiteID != "" {
		add("s.site_id = $%d", f.SiteID)
	}
	if f.ExternalID != "" {
		add("s.external_id = $%d", f.ExternalID)
	}
	order, err := orderBy(f.Sort)
	if err != nil {
		return nil, 0, err
	}
	cond := strings.Join(where, " AND ")

	var total int64
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM sources s WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count sources: %w", err)
	}
	args = append(args, page.Limit, page.Offset())
	rows, err := st.db.Query(ctx, fmt.Sprintf(`%s WHERE %s ORDER BY %s LIMIT $%d OFFSET $%d`,
		selectSource, cond, order, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list sources: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Source, error) { return scanSource(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("list sources: %w", err)
	}
	return list, total, nil
}

// orderBy turns a sort parameter into an ORDER BY clause with the id as a
// tie-breaker, so pages never overlap.
func orderBy(sort string) (string, error) {
	if sort == "" {
		sort = "created_at"
	}
	name, desc := strings.CutPrefix(sort, "-")
	col, ok := sortColumns[name]
	if !ok {
		return "", api.Validation("sort", "%q is not sortable (use created_at, updated_at, external_id, name or kind, with - for descending)", sort)
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	return fmt.Sprintf("%s %s, s.id %s", col, dir, dir), nil
}

// Update applies a patch to a tenant's source, named by reference.
func (st *Store) Update(ctx context.Context, tenantID int64, ref string, p Patch) (Source, error) {
	if err := p.validate(); err != nil {
		return Source{}, err
	}
	var out Source
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		if p.Parent.Set && p.Parent.Value != nil {
			// Parent changes of a tenant take turns: two changes that are
			// each fine alone (x→y and u→v with y→u and v→x in place) could
			// otherwise both pass checkNoCycle and close a loop together.
			// Taken before the source's row lock, so they queue instead of
			// deadlocking on each other's rows. NO KEY UPDATE does not block
			// the foreign-key checks of inserts.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, tenantID); err != nil {
				return fmt.Errorf("lock tenant %d: %w", tenantID, err)
			}
		}
		id, err := LookupID(ctx, tx, tenantID, ref)
		if err != nil {
			return err
		}
		cur, err := scanSource(tx.QueryRow(ctx, selectSource+` WHERE s.tenant_id = $1 AND s.id = $2 FOR UPDATE OF s`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return api.NotFound("source", ref)
		}
		if err != nil {
			return err
		}
		if p.ExternalID != nil {
			cur.ExternalID = *p.ExternalID
		}
		if p.Kind != nil {
			cur.Kind = *p.Kind
		}
		if p.Name != nil {
			cur.Name = *p.Name
		}
		if p.SiteID.Set {
			cur.SiteID = p.SiteID.Value
		}
		if p.Timezone != nil {
			cur.Timezone = *p.Timezone
		}
		if len(p.Metadata) > 0 {
			cur.Metadata = p.Metadata
		}
		if p.Connector.Set {
			var c Connector
			if p.Connector.Value != nil {
				if cur.Connector != nil {
					c = *cur.Connector
				}
				p.Connector.Value.apply(&c)
			}
			cur.Connector = c.orNil()
		}
		// A kind's change and a connector's are checked together.
		if err := cur.Connector.validate(cur.Kind); err != nil {
			return err
		}
		if p.Parent.Set {
			cur.ParentID = nil
			if p.Parent.Value != nil {
				id, err := st.resolveParent(ctx, tx, tenantID, *p.Parent.Value)
				if err != nil {
					return err
				}
				if err := checkNoCycle(ctx, tx, cur.ID, id); err != nil {
					return err
				}
				cur.ParentID = &id
			}
		}
		args := append([]any{cur.ID, cur.ExternalID, cur.Kind, cur.Name, cur.SiteID, cur.Timezone, cur.ParentID, cur.Metadata},
			connectorArgs(cur.Connector)...)
		_, err = tx.Exec(ctx, `UPDATE sources SET external_id = $2, kind = $3, name = $4, site_id = $5,
			timezone = $6, parent_id = $7, metadata = $8, connector_standard = $9, connector_format = $10,
			connector_power_type = $11, max_voltage = $12, max_amperage = $13, max_electric_power = $14,
			updated_at = now() WHERE id = $1`, args...)
		if err != nil {
			return interpretError(err, cur.ExternalID)
		}
		if err := notifyChange(ctx, tx, cur.ID); err != nil {
			return err
		}
		out, err = st.byID(ctx, tx, tenantID, cur.ID)
		return err
	})
	if err == nil {
		st.onChange.tell(out.ID)
	}
	return out, err
}

// Delete removes a tenant's source, named by reference, with its readings
// and state changes. Its children stay, without a parent.
func (st *Store) Delete(ctx context.Context, tenantID int64, ref string) error {
	var id int64
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		found, err := LookupID(ctx, tx, tenantID, ref)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `DELETE FROM sources WHERE tenant_id = $1 AND id = $2 RETURNING id`, tenantID, found).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return api.NotFound("source", ref)
		}
		if err != nil {
			return fmt.Errorf("delete source: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM readings WHERE source_id = $1`, id); err != nil {
			return fmt.Errorf("delete readings: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM latest_readings WHERE source_id = $1`, id); err != nil {
			return fmt.Errorf("delete latest readings: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rollup_invalidations WHERE source_id = $1`, id); err != nil {
			return fmt.Errorf("delete rollup invalidations: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM availability_changes WHERE source_id = $1`, id); err != nil {
			return fmt.Errorf("delete availability changes: %w", err)
		}
		return notifyChange(ctx, tx, id)
	})
	if err == nil {
		st.onChange.tell(id)
	}
	return err
}

// Metrics lists the metric catalogue.
func (st *Store) Metrics(ctx context.Context) ([]Metric, error) {
	rows, err := st.db.Query(ctx, `SELECT id, name, unit, kind, description FROM metrics ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list metrics: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Metric])
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// resolveParent finds the parent named by reference.
func (st *Store) resolveParent(ctx context.Context, q Querier, tenantID int64, ref string) (int64, error) {
	found, err := LookupIDs(ctx, q, tenantID, []string{ref})
	if err != nil {
		return 0, err
	}
	id, ok := found[ref]
	if !ok {
		return 0, api.Validation("parent", "no source %q", ref)
	}
	return id, nil
}

// checkNoCycle refuses a parent that is the source itself or one of its
// descendants.
func checkNoCycle(ctx context.Context, q querier, id, parentID int64) error {
	var cycle bool
	err := q.QueryRow(ctx, `WITH RECURSIVE up(id) AS (
			SELECT $2::bigint
			UNION SELECT s.parent_id FROM sources s JOIN up ON s.id = up.id WHERE s.parent_id IS NOT NULL)
		SELECT EXISTS (SELECT 1 FROM up WHERE id = $1)`, id, parentID).Scan(&cycle)
	if err != nil {
		return fmt.Errorf("check parent: %w", err)
	}
	if cycle {
		return api.Validation("parent", "would make the source its own ancestor")
	}
	return nil
}

// interpretError turns a unique violation into a CONFLICT.
func interpretError(err error, externalID string) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return api.Errorf(api.CodeConflict, "a source with external_id %q already exists", externalID)
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		// The parent was deleted between resolving it and writing.
		return api.Validation("parent", "the parent source no longer exists")
	}
	return err
}
