package idtags

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
)

// Store keeps the tenants' id-tag policies and lists (tables
// ocpp_id_tag_policies and ocpp_id_tags).
type Store struct{ db *pgxpool.Pool }

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// CodeTooManyTags is the details code of the CONFLICT that refuses a new
// tag past the tenant's cap.
const CodeTooManyTags = "TOO_MANY_ID_TAGS"

// Lookup reads a tenant's mode and, in list mode, the tag's entry (nil
// when it is not listed): one query, on the path of every check.
func (s *Store) Lookup(ctx context.Context, tenantID int64, tag string) (Mode, *Tag, error) {
	var mode string
	var t Tag
	var name, status, note *string
	var updated *time.Time
	err := s.db.QueryRow(ctx, `SELECT coalesce(p.mode, 'accept_all'), t.tag, t.status, t.expires_at, t.note, t.updated_at
		FROM (SELECT $1::bigint AS tenant_id) q
		LEFT JOIN ocpp_id_tag_policies p ON p.tenant_id = q.tenant_id
		LEFT JOIN ocpp_id_tags t ON p.mode = 'list' AND t.tenant_id = q.tenant_id AND t.tag_key = $2`,
		tenantID, Key(tag)).Scan(&mode, &name, &status, &t.ExpiresAt, &note, &updated)
	if err != nil {
		return "", nil, fmt.Errorf("look up id tag: %w", err)
	}
	if name == nil {
		return Mode(mode), nil, nil
	}
	t.Tag, t.Status, t.Note, t.UpdatedAt = *name, TagStatus(*status), *note, *updated
	return Mode(mode), &t, nil
}

// Policy returns a tenant's mode.
func (s *Store) Policy(ctx context.Context, tenantID int64) (Mode, error) {
	mode, _, err := s.Lookup(ctx, tenantID, "")
	return mode, err
}

// SetPolicy sets a tenant's mode.
func (s *Store) SetPolicy(ctx context.Context, tenantID int64, mode Mode) error {
	_, err := s.db.Exec(ctx, `INSERT INTO ocpp_id_tag_policies (tenant_id, mode) VALUES ($1, $2)
		ON CONFLICT (tenant_id) DO UPDATE SET mode = EXCLUDED.mode, updated_at = now()`, tenantID, string(mode))
	if err != nil {
		return fmt.Errorf("set id-tag policy: %w", err)
	}
	return nil
}

// lockTenant takes the tenant's policy row (creating it in accept_all
// mode) for the transaction and returns its tag count: the tag writes of a
// tenant run one at a time, so the count and the cap hold.
func lockTenant(ctx context.Context, tx pgx.Tx, tenantID int64) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `INSERT INTO ocpp_id_tag_policies (tenant_id) VALUES ($1)
		ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id RETURNING tag_count`, tenantID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("lock id-tag list: %w", err)
	}
	return n, nil
}

// Put creates or replaces a listed tag; a new tag past maxTags is a
// CONFLICT with details code CodeTooManyTags. It reports whether the tag
// is new.
func (s *Store) Put(ctx context.Context, tenantID int64, t Tag, maxTags int) (Tag, bool, error) {
	var created bool
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		count, err := lockTenant(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ocpp_id_tags WHERE tenant_id = $1 AND tag_key = $2)`,
			tenantID, Key(t.Tag)).Scan(&exists); err != nil {
			return fmt.Errorf("find id tag: %w", err)
		}
		if !exists && count >= maxTags {
			return &api.Error{Code: api.CodeConflict,
				Message: fmt.Sprintf("the id-tag list holds %d tags, the most a tenant may have; delete some first", count),
				Details: map[string]any{"code": CodeTooManyTags, "limit": maxTags}}
		}
		err = tx.QueryRow(ctx, `INSERT INTO ocpp_id_tags (tenant_id, tag_key, tag, status, expires_at, note) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id, tag_key) DO UPDATE SET tag = EXCLUDED.tag, status = EXCLUDED.status,
				expires_at = EXCLUDED.expires_at, note = EXCLUDED.note, updated_at = now()
			RETURNING updated_at`, tenantID, Key(t.Tag), t.Tag, string(t.Status), t.ExpiresAt, t.Note).Scan(&t.UpdatedAt)
		if err != nil {
			return fmt.Errorf("store id tag: %w", err)
		}
		if !exists {
			created = true
			_, err = tx.Exec(ctx, `UPDATE ocpp_id_tag_policies SET tag_count = tag_count + 1 WHERE tenant_id = $1`, tenantID)
		}
		return err
	})
	if err != nil {
		return Tag{}, false, err
	}
	return t, created, nil
}

// Delete removes a listed tag; NOT_FOUND when it is not listed.
func (s *Store) Delete(ctx context.Context, tenantID int64, tag string) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := lockTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM ocpp_id_tags WHERE tenant_id = $1 AND tag_key = $2`, tenantID, Key(tag))
		if err != nil {
			return fmt.Errorf("delete id tag: %w", err)
		}
		if res.RowsAffected() == 0 {
			return api.Errorf(api.CodeNotFound, "id tag %q is not listed", tag)
		}
		_, err = tx.Exec(ctx, `UPDATE ocpp_id_tag_policies SET tag_count = tag_count - 1 WHERE tenant_id = $1`, tenantID)
		return err
	})
}

// List returns a page of a tenant's tags, in tag order, and their number.
func (s *Store) List(ctx context.Context, tenantID int64, page api.PageRequest) ([]Tag, int64, error) {
	var total int64
	err := s.db.QueryRow(ctx, `SELECT coalesce((SELECT tag_count FROM ocpp_id_tag_policies WHERE tenant_id = $1), 0)`,
		tenantID).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count id tags: %w", err)
	}
	rows, err := s.db.Query(ctx, `SELECT tag, status, expires_at, note, updated_at FROM ocpp_id_tags
		WHERE tenant_id = $1 ORDER BY tag_key LIMIT $2 OFFSET $3`, tenantID, page.Limit, page.Offset())
	if err != nil {
		return nil, 0, fmt.Errorf("list id tags: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tag, error) {
		var t Tag
		var status string
		err := r.Scan(&t.Tag, &status, &t.ExpiresAt, &t.Note, &t.UpdatedAt)
		t.Status = TagStatus(status)
		return t, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list id tags: %w", err)
	}
	return list, total, nil
}
