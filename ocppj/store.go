package ocppj

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Store keeps the charge boxes' OCPP passwords (table ocpp_passwords, one
// row per charger source).
type Store struct {
	db *pgxpool.Pool
	// onChange is told of each password stored, after its commit (the
	// Server's cache).
	onChange func(tenantID int64, box string)
}

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// chargeBox is a charge box that may connect: its tenant, its source and
// its stored password hash.
type chargeBox struct {
	TenantID int64
	SourceID int64
	ID       string // the chargeBoxId, the source's external id
	hash     string
}

// errUnknownBox: no charger of that id with a password in that tenant.
var errUnknownBox = errors.New("unknown charge box")

// chargeBox finds a charger by tenant public id and charge box id, with
// its password. A charger without a password cannot connect.
func (s *Store) chargeBox(ctx context.Context, tenantPublicID, box string) (chargeBox, error) {
	cb := chargeBox{ID: box}
	err := s.db.QueryRow(ctx, `SELECT s.tenant_id, s.id, p.hash
		FROM tenants t
		JOIN sources s ON s.tenant_id = t.id AND s.external_id = $2 AND s.kind = 'charger'
		JOIN ocpp_passwords p ON p.source_id = s.id
		WHERE t.public_id = $1`, tenantPublicID, box).Scan(&cb.TenantID, &cb.SourceID, &cb.hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return chargeBox{}, errUnknownBox
	}
	if err != nil {
		return chargeBox{}, fmt.Errorf("look up charge box: %w", err)
	}
	return cb, nil
}

// SetPassword stores the hash of a charger's new password. ref is the
// charger's public id (src_…) or external id (its chargeBoxId). It returns
// the charge box id.
func (s *Store) SetPassword(ctx context.Context, tenantID int64, ref, hash string) (string, error) {
	id, err := sources.LookupID(ctx, s.db, tenantID, ref)
	if err != nil {
		return "", err
	}
	var box, kind string
	err = s.db.QueryRow(ctx, `SELECT external_id, kind FROM sources WHERE tenant_id = $1 AND id = $2`, tenantID, id).Scan(&box, &kind)
	if errors.Is(err, pgx.ErrNoRows) { // deleted since the lookup
		return "", api.NotFound("source", ref)
	}
	if err != nil {
		return "", fmt.Errorf("find source %s: %w", ref, err)
	}
	if kind != "charger" {
		return "", api.Validation("id", "source %q is a %s; only a charger (kind charger, its external_id the chargeBoxId) connects over OCPP-J", ref, kind)
	}
	// The notification commits with the password: other replicas drop
	// the box's cached password exactly when the new one holds.
	_, err = s.db.Exec(ctx, `WITH stored AS (
			INSERT INTO ocpp_passwords (source_id, hash) VALUES ($1, $2)
			ON CONFLICT (source_id) DO UPDATE SET hash = EXCLUDED.hash, updated_at = now()
			RETURNING source_id)
		SELECT pg_notify($3, $4) FROM stored`, id, hash, PasswordChangesChannel, passwordOwner(tenantID, box))
	if err != nil {
		return "", fmt.Errorf("store password of %s: %w", ref, err)
	}
	if s.onChange != nil {
		s.onChange(tenantID, box)
	}
	return box, nil
}

// notifyConnection announces a charge box's new connection on
// ConnectionsChannel and returns when, by the database's clock (µs since
// 1970): the time that orders the box's connections across replicas.
func (s *Store) notifyConnection(ctx context.Context, tenantID int64, box, token string) (int64, error) {
	var at int64
	err := s.db.QueryRow(ctx, `SELECT a.at, pg_notify($1, json_build_object('tenant_id', $2::bigint, 'box', $3::text, 'token', $4::text, 'at_us', a.at)::text)
		FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS at) a`, ConnectionsChannel, tenantID, box, token).Scan(&at, nil)
	if err != nil {
		return 0, fmt.Errorf("announce connection of %s: %w", box, err)
	}
	return at, nil
}
