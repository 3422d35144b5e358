package tariffs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Store keeps tariffs, their versions and their assignments to sources.
// Every method is scoped to a tenant: another tenant's tariff, assignment
// or source is not found.
//
// A tariff is never changed in place: Update adds a version and the older
// ones stay readable. The version that prices usage at time t is the
// highest-numbered version whose valid_from ≤ t, where valid_from is the
// tariff's start_date_time when it has one and otherwise the moment the
// version was stored. So a version written later wins from its valid_from
// on, including one that takes effect in the future or, with an explicit
// start_date_time, one that corrects the past.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// StoredTariff is a tariff as the store keeps it: its identity and state,
// and one version of its OCPI document (the latest, or the one valid at a
// given time).
type StoredTariff struct {
	ID       int64  `json:"-"`
	PublicID string `json:"id"` // tar_…
	TenantID int64  `json:"-"`
	// CountryCode, PartyID and ExternalID are the OCPI identity of the
	// tariff (country_code, party_id, id), unique among a tenant's tariffs
	// that are not archived. They cannot change from version to version.
	CountryCode string `json:"country_code"`
	PartyID     string `json:"party_id"`
	ExternalID  string `json:"external_id"`
	// Kind is what the tariff prices (gridmetrics.kind); it cannot change.
	Kind Kind `json:"kind"`
	// Version is the number of the version in Tariff, ValidFrom when it
	// takes effect; LatestVersion is the newest version's number.
	Version       int        `json:"version"`
	ValidFrom     time.Time  `json:"valid_from"`
	LatestVersion int        `json:"latest_version"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	ArchivedAt    *time.Time `json:"archived_at"`
	Tariff        *Tariff    `json:"tariff"`
}

// Version is one version of a stored tariff.
type Version struct {
	Version   int       `json:"version"`
	ValidFrom time.Time `json:"valid_from"`
	CreatedAt time.Time `json:"created_at"`
	Tariff    *Tariff   `json:"tariff"`
}

// Assignment says that a tariff prices a source's usage over
// [ValidFrom, ValidTo); a nil ValidTo is open-ended. A source has at most
// one assignment of each kind (charging, supply, export) at any instant.
type Assignment struct {
	ID        int64      `json:"-"`
	PublicID  string     `json:"id"`        // tas_…
	TariffID  string     `json:"tariff_id"` // tar_…
	SourceID  string     `json:"source_id"` // src_…
	Kind      Kind       `json:"kind"`
	ValidFrom time.Time  `json:"valid_from"`
	ValidTo   *time.Time `json:"valid_to"`
	CreatedAt time.Time  `json:"created_at"`
}

// NewAssignment is the body of an assignment request.
type NewAssignment struct {
	// SourceID is the source's public id (src_…) or external id.
	SourceID string `json:"source_id"`
	// ValidFrom is when the assignment starts; nil means now.
	ValidFrom *time.Time `json:"valid_from"`
	// ValidTo is when it ends (exclusive); nil means open-ended.
	ValidTo *time.Time `json:"valid_to"`
}

// AssignmentPatch changes an assignment's range: nil fields stay; a ValidTo
// of JSON null makes the assignment open-ended.
type AssignmentPatch struct {
	ValidFrom *time.Time      `json:"valid_from"`
	ValidTo   json.RawMessage `json:"valid_to"`
}

// AssignedVersion is a stretch [From, To) of a source's time priced by one
// version of one tariff, as AssignedTariffs returns them.
type AssignedVersion struct {
	From, To     time.Time
	AssignmentID string // tas_…
	TariffID     string // tar_…
	Version      int
	Tariff       *Tariff
}

// ListFilter selects tariffs in List. Empty fields match everything.
type ListFilter struct {
	Kind       Kind
	ExternalID string // the OCPI id
	// Archived includes archived tariffs when true; by default only the
	// tariffs in use are listed.
	Archived bool
}

// kindOf is the tariff's kind, charging when its extension says nothing.
func kindOf(t *Tariff) Kind { return t.kind() }

// validFrom is when a new version of t takes effect: its start_date_time,
// or nil for "now".
func validFrom(t *Tariff) *time.Time {
	if t.StartDateTime.IsZero() {
		return nil
	}
	v := t.StartDateTime
	return &v
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// selectTariff reads a tariff with one of its versions: the latest, or with
// the placeholder in versionFilter set, the one valid at a time. The version
// columns are null when no version qualifies.
func selectTariff(versionFilter string) string {
	return `SELECT t.id, t.public_id, t.tenant_id, t.country_code, t.party_id, t.external_id, t.kind,
		t.created_at, t.updated_at, t.archived_at, v.version, v.valid_from, v.document::text,
		(SELECT max(version) FROM tariff_versions WHERE tariff_id = t.id)
		FROM tariffs t LEFT JOIN LATERAL (
			SELECT version, valid_from, document FROM tariff_versions
			WHERE tariff_id = t.id ` + versionFilter + `
			ORDER BY version DESC LIMIT 1) v ON true`
}

func scanTariff(row pgx.Row) (StoredTariff, bool, error) {
	var s StoredTariff
	var version *int32
	var validFrom *time.Time
	var doc *string
	var latest int32
	err := row.Scan(&s.ID, &s.PublicID, &s.TenantID, &s.CountryCode, &s.PartyID, &s.ExternalID, &s.Kind,
		&s.CreatedAt, &s.UpdatedAt, &s.ArchivedAt, &version, &validFrom, &doc, &latest)
	if err != nil {
		return s, false, err
	}
	s.LatestVersion = int(latest)
	if version == nil {
		return s, false, nil
	}
	s.Version, s.ValidFrom = int(*version), *validFrom
	s.Tariff, err = parseStored(s.PublicID, s.Version, *doc)
	return s, true, err
}

// parseStored reads a stored document back. It was written by MarshalJSON
// after validation, so a failure means the data was changed behind the
// store's back.
func parseStored(publicID string, version int, doc string) (*Tariff, error) {
	t, err := ParseTariff([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("read tariff %s version %d: %w", publicID, version, err)
	}
	return t, nil
}

// Create stores a validated tariff as version 1 of a new tariff. A tariff
// of the tenant that is not archived and has the same OCPI identity
// (country_code, party_id, id) is a CONFLICT: send a new version with
// Update instead.
func (st *Store) Create(ctx context.Context, tenantID int64, t *Tariff) (StoredTariff, error) {
	doc, err := t.MarshalJSON()
	if err != nil {
		return StoredTariff{}, err
	}
	var out StoredTariff
	err = pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		var existing string
		err := tx.QueryRow(ctx, `SELECT public_id FROM tariffs WHERE tenant_id = $1 AND country_code = $2
			AND party_id = $3 AND external_id = $4 AND archived_at IS NULL`,
			tenantID, t.CountryCode, t.PartyID, t.ID).Scan(&existing)
		switch {
		case err == nil:
			return identityConflict(t, existing)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("look up tariff %s: %w", t.ID, err)
		}
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO tariffs (public_id, tenant_id, country_code, party_id, external_id, kind)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			auth.NewPublicID("tar"), tenantID, t.CountryCode, t.PartyID, t.ID, string(kindOf(t))).Scan(&id)
		if err != nil {
			return interpretError(err, t)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tariff_versions (tariff_id, version, document, valid_from)
			VALUES ($1, 1, $2::jsonb, coalesce($3::timestamptz, now()))`, id, string(doc), validFrom(t)); err != nil {
			return fmt.Errorf("store tariff %s: %w", t.ID, err)
		}
		out, err = st.byID(ctx, tx, tenantID, id)
		return err
	})
	return out, err
}

func identityConflict(t *Tariff, existing string) error {
	return &api.Error{Code: api.CodeConflict,
		Message: fmt.Sprintf("tariff %s/%s/%s already exists as %s; update that tariff to add a version", t.CountryCode, t.PartyID, t.ID, existing),
		Details: map[string]string{"id": existing}}
}

func (st *Store) byID(ctx context.Context, q querier, tenantID, id int64) (StoredTariff, error) {
	s, _, err := scanTariff(q.QueryRow(ctx, selectTariff("")+` WHERE t.tenant_id = $1 AND t.id = $2`, tenantID, id))
	if err != nil {
		return StoredTariff{}, fmt.Errorf("read tariff %d: %w", id, err)
	}
	return s, nil
}

// Get returns a tenant's tariff with its latest version.
func (st *Store) Get(ctx context.Context, tenantID int64, publicID string) (StoredTariff, error) {
	s, _, err := scanTariff(st.db.QueryRow(ctx, selectTariff("")+` WHERE t.tenant_id = $1 AND t.public_id = $2`, tenantID, publicID))
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredTariff{}, api.NotFound("tariff", publicID)
	}
	return s, err
}

// GetAt returns a tenant's tariff with the version valid at the instant at:
// the highest-numbered version whose valid_from ≤ at. A tariff with no
// version valid yet at that time is a CONFLICT.
func (st *Store) GetAt(ctx context.Context, tenantID int64, publicID string, at time.Time) (StoredTariff, error) {
	s, ok, err := scanTariff(st.db.QueryRow(ctx, selectTariff("AND valid_from <= $3")+` WHERE t.tenant_id = $1 AND t.public_id = $2`,
		tenantID, publicID, at))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return StoredTariff{}, api.NotFound("tariff", publicID)
	case err != nil:
		return StoredTariff{}, err
	case !ok:
		first, err := st.firstValidFrom(ctx, s.ID)
		if err != nil {
			return StoredTariff{}, err
		}
		return StoredTariff{}, api.Errorf(api.CodeConflict,
			"tariff %s has no version valid at %s: its first version takes effect at %s (a start_date_time in the tariff sets when a version takes effect)",
			publicID, at.UTC().Format(time.RFC3339), first.UTC().Format(time.RFC3339))
	}
	return s, nil
}

func (st *Store) firstValidFrom(ctx context.Context, id int64) (time.Time, error) {
	var first time.Time
	if err := st.db.QueryRow(ctx, `SELECT min(valid_from) FROM tariff_versions WHERE tariff_id = $1`, id).Scan(&first); err != nil {
		return first, fmt.Errorf("read versions of tariff %d: %w", id, err)
	}
	return first, nil
}

// List returns a page of a tenant's tariffs, each with its latest version,
// oldest first, and the number matching.
func (st *Store) List(ctx context.Context, tenantID int64, f ListFilter, page api.PageRequest) ([]StoredTariff, int64, error) {
	where := []string{"t.tenant_id = $1"}
	args := []any{tenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Kind != "" {
		add("t.kind = $%d", string(f.Kind))
	}
	if f.ExternalID != "" {
		add("t.external_id = $%d", f.ExternalID)
	}
	if !f.Archived {
		where = append(where, "t.archived_at IS NULL")
	}
	cond := strings.Join(where, " AND ")
	var total int64
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM tariffs t WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count tariffs: %w", err)
	}
	args = append(args, page.Limit, page.Offset())
	rows, err := st.db.Query(ctx, fmt.Sprintf(`%s WHERE %s ORDER BY t.created_at, t.id LIMIT $%d OFFSET $%d`,
		selectTariff(""), cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list tariffs: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredTariff, error) {
		s, _, err := scanTariff(r)
		return s, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list tariffs: %w", err)
	}
	return list, total, nil
}

// Update stores t as a new version of a tenant's tariff and returns the
// tariff with it. The OCPI identity and the kind must stay those of the
// tariff (a VALIDATION_ERROR otherwise); an archived tariff is a CONFLICT.
// A document equal to the latest version's adds nothing, so a retried PUT
// does not make a second version.
func (st *Store) Update(ctx context.Context, tenantID int64, publicID string, t *Tariff) (StoredTariff, error) {
	doc, err := t.MarshalJSON()
	if err != nil {
		return StoredTariff{}, err
	}
	var out StoredTariff
	err = pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		var id int64
		var country, party, external, kind string
		var archived *time.Time
		err := tx.QueryRow(ctx, `SELECT id, country_code, party_id, external_id, kind, archived_at FROM tariffs
			WHERE tenant_id = $1 AND public_id = $2 FOR NO KEY UPDATE`, tenantID, publicID).
			Scan(&id, &country, &party, &external, &kind, &archived)
		if errors.Is(err, pgx.ErrNoRows) {
			return api.NotFound("tariff", publicID)
		}
		if err != nil {
			return fmt.Errorf("lock tariff %s: %w", publicID, err)
		}
		if archived != nil {
			return api.Errorf(api.CodeConflict, "tariff %s is archived; archived tariffs cannot change", publicID)
		}
		for _, f := range []struct{ name, was, now string }{
			{"country_code", country, t.CountryCode}, {"party_id", party, t.PartyID}, {"id", external, t.ID},
			{"gridmetrics.kind", kind, string(kindOf(t))},
		} {
			if f.was != f.now {
				return api.Validation(f.name, "is %q, but tariff %s has %q; it cannot change (create a new tariff instead)", f.now, publicID, f.was)
			}
		}
		var latest int
		var same bool
		// A document without last_updated got the version's time when it
		// was stored (migration 014): it is the same without it.
		if err := tx.QueryRow(ctx, `SELECT version, document - 'last_updated' = $2::jsonb - 'last_updated'
				AND (NOT $2::jsonb ? 'last_updated' OR document -> 'last_updated' = $2::jsonb -> 'last_updated')
			FROM tariff_versions WHERE tariff_id = $1
			ORDER BY version DESC LIMIT 1`, id, string(doc)).Scan(&latest, &same); err != nil {
			return fmt.Errorf("read latest version of tariff %s: %w", publicID, err)
		}
		if !same {
			if _, err := tx.Exec(ctx, `INSERT INTO tariff_versions (tariff_id, version, document, valid_from)
				VALUES ($1, $2, $3::jsonb, coalesce($4::timestamptz, now()))`, id, latest+1, string(doc), validFrom(t)); err != nil {
				return fmt.Errorf("store version %d of tariff %s: %w", latest+1, publicID, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE tariffs SET updated_at = now() WHERE id = $1`, id); err != nil {
				return fmt.Errorf("update tariff %s: %w", publicID, err)
			}
		}
		out, err = st.byID(ctx, tx, tenantID, id)
		return err
	})
	return out, err
}

// Archive archives a tenant's tariff: it stays readable, with its versions
// and past assignments, but can no longer change, be assigned or be quoted.
// Its assignments end now: open ones are closed at this instant and those
// that would start later are removed. Archiving an archived tariff does
// nothing.
func (st *Store) Archive(ctx context.Context, tenantID int64, publicID string) error {
	return pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		var id int64
		var archived *time.Time
		// NO KEY UPDATE waits for assignments in progress (FOR SHARE) without
		// blocking foreign-key checks elsewhere.
		err := tx.QueryRow(ctx, `SELECT id, archived_at FROM tariffs WHERE tenant_id = $1 AND public_id = $2 FOR NO KEY UPDATE`,
			tenantID, publicID).Scan(&id, &archived)
		if errors.Is(err, pgx.ErrNoRows) {
			return api.NotFound("tariff", publicID)
		}
		if err != nil {
			return fmt.Errorf("lock tariff %s: %w", publicID, err)
		}
		if archived != nil {
			return nil
		}
		// now() is the transaction's start: one instant for all three.
		if _, err := tx.Exec(ctx, `UPDATE tariffs SET archived_at = now(), updated_at = now() WHERE id = $1`, id); err != nil {
			return fmt.Errorf("archive tariff %s: %w", publicID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tariff_assignments WHERE tariff_id = $1 AND valid_from >= now()`, id); err != nil {
			return fmt.Errorf("remove future assignments of tariff %s: %w", publicID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE tariff_assignments SET valid_to = now()
			WHERE tariff_id = $1 AND (valid_to IS NULL OR valid_to > now())`, id); err != nil {
			return fmt.Errorf("end assignments of tariff %s: %w", publicID, err)
		}
		return nil
	})
}

// tariffRef finds a tenant's tariff by public id; lock is a locking clause
// (FOR SHARE, FOR UPDATE) or empty.
func tariffRef(ctx context.Context, q querier, tenantID int64, publicID, lock string) (id int64, kind Kind, archived bool, err error) {
	var archivedAt *time.Time
	err = q.QueryRow(ctx, `SELECT id, kind, archived_at FROM tariffs WHERE tenant_id = $1 AND public_id = $2 `+lock,
		tenantID, publicID).Scan(&id, &kind, &archivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", false, api.NotFound("tariff", publicID)
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("read tariff %s: %w", publicID, err)
	}
	return id, kind, archivedAt != nil, nil
}

// Versions returns a page of a tenant's tariff's versions, oldest first,
// and how many there are.
func (st *Store) Versions(ctx context.Context, tenantID int64, publicID string, page api.PageRequest) ([]Version, int64, error) {
	id, _, _, err := tariffRef(ctx, st.db, tenantID, publicID, "")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM tariff_versions WHERE tariff_id = $1`, id).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count versions of tariff %s: %w", publicID, err)
	}
	rows, err := st.db.Query(ctx, `SELECT version, valid_from, created_at, document::text FROM tariff_versions
		WHERE tariff_id = $1 ORDER BY version LIMIT $2 OFFSET $3`, id, page.Limit, page.Offset())
	if err != nil {
		return nil, 0, fmt.Errorf("list versions of tariff %s: %w", publicID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r, publicID) })
	if err != nil {
		return nil, 0, err
	}
	return list, total, nil
}

// Version returns one version of a tenant's tariff.
func (st *Store) Version(ctx context.Context, tenantID int64, publicID string, version int) (Version, error) {
	id, _, _, err := tariffRef(ctx, st.db, tenantID, publicID, "")
	if err != nil {
		return Version{}, err
	}
	v, err := scanVersion(st.db.QueryRow(ctx, `SELECT version, valid_from, created_at, document::text FROM tariff_versions
		WHERE tariff_id = $1 AND version = $2`, id, version), publicID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Version{}, api.Errorf(api.CodeNotFound, "tariff %s has no version %d", publicID, version)
	}
	return v, err
}

func scanVersion(row pgx.Row, publicID string) (Version, error) {
	var v Version
	var n int32
	var doc string
	if err := row.Scan(&n, &v.ValidFrom, &v.CreatedAt, &doc); err != nil {
		return v, err
	}
	v.Version = int(n)
	var err error
	v.Tariff, err = parseStored(publicID, v.Version, doc)
	return v, err
}

const selectAssignment = `SELECT a.id, a.public_id, t.public_id, s.public_id, a.kind, a.valid_from, a.valid_to, a.created_at
	FROM tariff_assignments a JOIN tariffs t ON t.id = a.tariff_id JOIN sources s ON s.id = a.source_id`

func scanAssignment(row pgx.Row) (Assignment, error) {
	var a Assignment
	err := row.Scan(&a.ID, &a.PublicID, &a.TariffID, &a.SourceID, &a.Kind, &a.ValidFrom, &a.ValidTo, &a.CreatedAt)
	return a, err
}

// Assign makes a tenant's tariff price a source over [valid_from,
// valid_to). The tariff must not be archived, and the source must have no
// other assignment of the tariff's kind overlapping the range: both are a
// CONFLICT. An unknown source is a VALIDATION_ERROR on source_id.
func (st *Store) Assign(ctx context.Context, tenantID int64, tariffID string, n NewAssignment) (Assignment, error) {
	if strings.TrimSpace(n.SourceID) == "" {
		return Assignment{}, api.Validation("source_id", "is required")
	}
	var out Assignment
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		// FOR SHARE: an archive waits for this assignment, or this for it.
		id, kind, archived, err := tariffRef(ctx, tx, tenantID, tariffID, "FOR SHARE")
		if err != nil {
			return err
		}
		if archived {
			return api.Errorf(api.CodeConflict, "tariff %s is archived; it cannot be assigned", tariffID)
		}
		// A source by public id, else by external id, as sources resolves
		// a reference.
		var sourceID int64
		err = tx.QueryRow(ctx, `SELECT id FROM sources WHERE tenant_id = $1 AND (public_id = $2 OR external_id = $2)
			ORDER BY public_id = $2 DESC LIMIT 1`, tenantID, n.SourceID).Scan(&sourceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return api.Validation("source_id", "no source %q", n.SourceID)
		} else if err != nil {
			return fmt.Errorf("look up source %q: %w", n.SourceID, err)
		}
		var from time.Time
		if n.ValidFrom != nil {
			from = *n.ValidFrom
		} else if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&from); err != nil {
			return err
		}
		if err := checkAssignmentRange(from, n.ValidTo); err != nil {
			return err
		}
		if err := checkOverlap(ctx, tx, sourceID, kind, from, n.ValidTo, 0); err != nil {
			return err
		}
		var aid int64
		err = tx.QueryRow(ctx, `INSERT INTO tariff_assignments (public_id, tenant_id, source_id, tariff_id, kind, valid_from, valid_to)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			auth.NewPublicID("tas"), tenantID, sourceID, id, string(kind), from, n.ValidTo).Scan(&aid)
		if err != nil {
			return interpretError(err, nil)
		}
		out, err = scanAssignment(tx.QueryRow(ctx, selectAssignment+` WHERE a.id = $1`, aid))
		return err
	})
	return out, err
}

func checkAssignmentRange(from time.Time, to *time.Time) error {
	if to != nil && !to.After(from) {
		return api.Validation("valid_to", "%s is not after valid_from %s", to.UTC().Format(time.RFC3339Nano), from.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// checkOverlap finds an assignment of the source and kind overlapping
// [from, to), other than the one with id except, and names it in a
// CONFLICT. The exclusion constraints make the same check atomically; this
// one only words the answer.
func checkOverlap(ctx context.Context, q querier, sourceID int64, kind Kind, from time.Time, to *time.Time, except int64) error {
	other, err := scanAssignment(q.QueryRow(ctx, selectAssignment+` WHERE a.source_id = $1 AND a.kind = $2 AND a.id <> $5
		AND tstzrange(a.valid_from, a.valid_to) && tstzrange($3::timestamptz, $4::timestamptz)
		ORDER BY a.valid_from LIMIT 1`, sourceID, string(kind), from, to, except))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check assignments of source %d: %w", sourceID, err)
	}
	until := "open-ended"
	if other.ValidTo != nil {
		until = "until " + other.ValidTo.UTC().Format(time.RFC3339)
	}
	return &api.Error{Code: api.CodeConflict,
		Message: fmt.Sprintf("source %s already has a %s tariff over part of that range: %s assigns %s from %s, %s",
			other.SourceID, kind, other.PublicID, other.TariffID, other.ValidFrom.UTC().Format(time.RFC3339), until),
		Details: map[string]string{"assignment": other.PublicID}}
}

// Assignments returns a page of a tenant's tariff's assignments, by start,
// and how many there are.
func (st *Store) Assignments(ctx context.Context, tenantID int64, tariffID string, page api.PageRequest) ([]Assignment, int64, error) {
	id, _, _, err := tariffRef(ctx, st.db, tenantID, tariffID, "")
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM tariff_assignments WHERE tariff_id = $1`, id).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count assignments of tariff %s: %w", tariffID, err)
	}
	rows, err := st.db.Query(ctx, selectAssignment+` WHERE a.tariff_id = $1 ORDER BY a.valid_from, a.id LIMIT $2 OFFSET $3`,
		id, page.Limit, page.Offset())
	if err != nil {
		return nil, 0, fmt.Errorf("list assignments of tariff %s: %w", tariffID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Assignment, error) { return scanAssignment(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("list assignments of tariff %s: %w", tariffID, err)
	}
	return list, total, nil
}

// lockAssignment reads and locks one assignment of a tenant's tariff that
// may still change: an archived tariff's assignments are history.
func lockAssignment(ctx context.Context, tx pgx.Tx, tenantID int64, tariffID, assignmentID string) (Assignment, int64, error) {
	id, _, archived, err := tariffRef(ctx, tx, tenantID, tariffID, "FOR SHARE")
	if err != nil {
		return Assignment{}, 0, err
	}
	a, err := scanAssignment(tx.QueryRow(ctx, selectAssignment+` WHERE a.tariff_id = $1 AND a.public_id = $2 FOR UPDATE OF a`, id, assignmentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Assignment{}, 0, api.NotFound("assignment", assignmentID)
	}
	if err != nil {
		return Assignment{}, 0, fmt.Errorf("read assignment %s: %w", assignmentID, err)
	}
	if archived {
		return Assignment{}, 0, api.Errorf(api.CodeConflict, "tariff %s is archived; its assignments cannot change", tariffID)
	}
	return a, id, nil
}

// UpdateAssignment moves the start or end of an assignment, with the same
// checks as Assign.
func (st *Store) UpdateAssignment(ctx context.Context, tenantID int64, tariffID, assignmentID string, p AssignmentPatch) (Assignment, error) {
	var out Assignment
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		a, _, err := lockAssignment(ctx, tx, tenantID, tariffID, assignmentID)
		if err != nil {
			return err
		}
		if p.ValidFrom != nil {
			a.ValidFrom = *p.ValidFrom
		}
		if len(p.ValidTo) > 0 {
			var to *time.Time
			if err := json.Unmarshal(p.ValidTo, &to); err != nil {
				return api.Validation("valid_to", "must be an RFC 3339 time or null")
			}
			a.ValidTo = to
		}
		if err := checkAssignmentRange(a.ValidFrom, a.ValidTo); err != nil {
			return err
		}
		var sourceID int64
		if err := tx.QueryRow(ctx, `SELECT source_id FROM tariff_assignments WHERE id = $1`, a.ID).Scan(&sourceID); err != nil {
			return fmt.Errorf("read assignment %s: %w", assignmentID, err)
		}
		if err := checkOverlap(ctx, tx, sourceID, a.Kind, a.ValidFrom, a.ValidTo, a.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tariff_assignments SET valid_from = $2, valid_to = $3 WHERE id = $1`,
			a.ID, a.ValidFrom, a.ValidTo); err != nil {
			return interpretError(err, nil)
		}
		out, err = scanAssignment(tx.QueryRow(ctx, selectAssignment+` WHERE a.id = $1`, a.ID))
		return err
	})
	return out, err
}

// DeleteAssignment removes an assignment made by mistake. To stop a tariff
// applying from some time on, end the assignment with UpdateAssignment
// instead, which keeps the history.
func (st *Store) DeleteAssignment(ctx context.Context, tenantID int64, tariffID, assignmentID string) error {
	return pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		a, _, err := lockAssignment(ctx, tx, tenantID, tariffID, assignmentID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tariff_assignments WHERE id = $1`, a.ID); err != nil {
			return fmt.Errorf("delete assignment %s: %w", assignmentID, err)
		}
		return nil
	})
}

// AssignedTariffs returns which tariff version prices a source's usage of
// one kind over [from, to): the stretches, in order and without overlap,
// each clipped to [from, to), split wherever the assignment changes or a
// newer version of the assigned tariff takes effect. Times not covered have
// no tariff: no assignment, an assignment before the first version of its
// tariff takes effect, or past the end_date_time of the version in effect.
// sourceID is the source's internal id (sources.Source.ID); a source of
// another tenant has no assignments.
func (st *Store) AssignedTariffs(ctx context.Context, tenantID, sourceID int64, kind Kind, from, to time.Time) ([]AssignedVersion, error) {
	switch kind {
	case KindCharging, KindSupply, KindExport:
	default:
		return nil, api.Validation("kind", "%q is not a tariff kind (charging, supply, export)", kind)
	}
	if !to.After(from) {
		return nil, api.Validation("to", "%s is not after from %s", to.UTC().Format(time.RFC3339Nano), from.UTC().Format(time.RFC3339Nano))
	}
	type assignment struct {
		publicID, tariff string
		tariffID         int64
		from, to         time.Time
	}
	rows, err := st.db.Query(ctx, `SELECT a.public_id, t.public_id, t.id, greatest(a.valid_from, $4::timestamptz), least(coalesce(a.valid_to, $5::timestamptz), $5::timestamptz)
		FROM tariff_assignments a JOIN tariffs t ON t.id = a.tariff_id
		WHERE a.tenant_id = $1 AND a.source_id = $2 AND a.kind = $3
		AND a.valid_from < $5 AND (a.valid_to IS NULL OR a.valid_to > $4)
		ORDER BY a.valid_from`, tenantID, sourceID, string(kind), from, to)
	if err != nil {
		return nil, fmt.Errorf("read assignments of source %d: %w", sourceID, err)
	}
	var as []assignment
	var ids []int64
	for rows.Next() {
		var a assignment
		if err := rows.Scan(&a.publicID, &a.tariff, &a.tariffID, &a.from, &a.to); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read assignments of source %d: %w", sourceID, err)
		}
		as = append(as, a)
		if !slices.Contains(ids, a.tariffID) {
			ids = append(ids, a.tariffID)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read assignments of source %d: %w", sourceID, err)
	}
	if len(as) == 0 {
		return nil, nil
	}

	// The versions that may apply before to, by tariff, in version order;
	// their documents are parsed only when used.
	type version struct {
		n         int
		validFrom time.Time
		doc       string
		parsed    *Tariff
	}
	versions := map[int64][]*version{}
	rows, err = st.db.Query(ctx, `SELECT tariff_id, version, valid_from, document::text FROM tariff_versions
		WHERE tariff_id = ANY($1) AND valid_from < $2 ORDER BY tariff_id, version`, ids, to)
	if err != nil {
		return nil, fmt.Errorf("read tariff versions: %w", err)
	}
	for rows.Next() {
		var id int64
		var n int32
		v := &version{}
		if err := rows.Scan(&id, &n, &v.validFrom, &v.doc); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read tariff versions: %w", err)
		}
		v.n = int(n)
		versions[id] = append(versions[id], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tariff versions: %w", err)
	}

	var out []AssignedVersion
	for _, a := range as {
		vs := versions[a.tariffID]
		// at returns the version valid at t: the highest-numbered one whose
		// valid_from ≤ t.
		at := func(t time.Time) *version {
			var best *version
			for _, v := range vs {
				if !v.validFrom.After(t) {
					best = v
				}
			}
			return best
		}
		cuts := []time.Time{a.from}
		for _, v := range vs {
			if v.validFrom.After(a.from) && v.validFrom.Before(a.to) {
				cuts = append(cuts, v.validFrom)
			}
		}
		slices.SortFunc(cuts, func(x, y time.Time) int { return x.Compare(y) })
		cuts = slices.CompactFunc(cuts, time.Time.Equal)
		cuts = append(cuts, a.to)
		for i := 0; i+1 < len(cuts); i++ {
			v := at(cuts[i])
			if v == nil {
				continue
			}
			if v.parsed == nil {
				if v.parsed, err = parseStored(a.tariff, v.n, v.doc); err != nil {
					return nil, err
				}
			}
			// A version is not valid after its end_date_time.
			to := cuts[i+1]
			if end := v.parsed.EndDateTime; !end.IsZero() && end.Before(to) {
				if !end.After(cuts[i]) {
					continue
				}
				to = end
			}
			if n := len(out); n > 0 && out[n-1].AssignmentID == a.publicID && out[n-1].Version == v.n && out[n-1].To.Equal(cuts[i]) {
				out[n-1].To = to
				continue
			}
			out = append(out, AssignedVersion{From: cuts[i], To: to, AssignmentID: a.publicID, TariffID: a.tariff, Version: v.n, Tariff: v.parsed})
		}
	}
	return out, nil
}

// interpretError turns constraint violations into API errors.
func interpretError(err error, t *Tariff) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "23505": // unique: a concurrent create of the same OCPI identity
		if t != nil {
			return api.Errorf(api.CodeConflict, "tariff %s/%s/%s already exists", t.CountryCode, t.PartyID, t.ID)
		}
		return api.Errorf(api.CodeConflict, "already exists")
	case "23P01": // exclusion: a concurrent overlapping assignment
		return api.Errorf(api.CodeConflict, "the source already has a tariff of this kind over part of that range")
	case "23503": // the source was deleted meanwhile
		return api.Validation("source_id", "the source no longer exists")
	}
	return err
}
