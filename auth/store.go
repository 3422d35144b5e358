package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tenant is one customer of the platform; every object belongs to one.
type Tenant struct {
	ID           int64     `json:"-"`
	PublicID     string    `json:"id"`
	Name         string    `json:"name"`
	AutoRegister bool      `json:"auto_register"`
	CreatedAt    time.Time `json:"created_at"`
}

// APIKey describes a stored key; the key itself is shown once, at creation.
type APIKey struct {
	ID        int64      `json:"-"`
	PublicID  string     `json:"id"`
	TenantID  int64      `json:"-"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Scopes    []Scope    `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Errors of the store. Callers map them to API errors.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadKey     = errors.New("invalid API key")
	ErrRevokedKey = errors.New("API key is revoked")
)

// Store keeps tenants and API keys.
type Store struct {
	db *pgxpool.Pool

	mu        sync.Mutex
	onRevoked []func(keyPublicID string)
}

// KeyChangesChannel is the PostgreSQL notification channel on which a
// revocation is announced, with the key's public id as payload, so that every
// replica drops the key from its cache. The notification is sent by the
// statement that revokes, so it is delivered exactly when the revocation
// commits.
const KeyChangesChannel = "gridmetrics_api_keys"

// OnRevoke registers a function called, after commit, with the public id of
// every key this store revokes: the in-process twin of KeyChangesChannel.
func (s *Store) OnRevoke(f func(keyPublicID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRevoked = append(s.onRevoked, f)
}

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// CreateTenant adds a tenant. autoRegister makes ingest register unknown
// sources on first sight instead of rejecting their readings.
func (s *Store) CreateTenant(ctx context.Context, name string, autoRegister bool) (Tenant, error) {
	t := Tenant{PublicID: NewPublicID("ten"), Name: name, AutoRegister: autoRegister}
	err := s.db.QueryRow(ctx, `INSERT INTO tenants (public_id, name, auto_register) VALUES ($1, $2, $3) RETURNING id, created_at`,
		t.PublicID, name, autoRegister).Scan(&t.ID, &t.CreatedAt)
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return t, nil
}

const tenantColumns = `id, public_id, name, auto_register, created_at`

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.PublicID, &t.Name, &t.AutoRegister, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// TenantByPublicID finds a tenant by its public id (ten_…).
func (s *Store) TenantByPublicID(ctx context.Context, id string) (Tenant, error) {
	return scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE public_id = $1`, id))
}

// TenantByRef finds a tenant by public id or, failing that, by name (the
// oldest of that name), for the command line.
func (s *Store) TenantByRef(ctx context.Context, ref string) (Tenant, error) {
	return scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE public_id = $1 OR name = $1 ORDER BY (public_id = $1) DESC, id LIMIT 1`, ref))
}

// CreateAPIKey makes a key for a tenant and returns it with the key text,
// which is not stored and cannot be shown again.
func (s *Store) CreateAPIKey(ctx context.Context, tenantID int64, name string, scopes []Scope) (APIKey, string, error) {
	if len(scopes) == 0 {
		return APIKey{}, "", errors.New("create api key: at least one scope is needed")
	}
	key, prefix := newAPIKey()
	k := APIKey{PublicID: NewPublicID("key"), TenantID: tenantID, Name: name, Prefix: prefix, Scopes: scopes}
	err := s.db.QueryRow(ctx, `INSERT INTO api_keys (public_id, tenant_id, name, prefix, hash, scopes)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`,
		k.PublicID, tenantID, name, prefix, hashAPIKey(key), scopeStrings(scopes)).Scan(&k.ID, &k.CreatedAt)
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	return k, key, nil
}

// ListAPIKeys lists a tenant's keys, newest first, revoked ones included.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID int64) ([]APIKey, error) {
	rows, err := s.db.Query(ctx, `SELECT id, public_id, tenant_id, name, prefix, scopes, created_at, revoked_at
		FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		var scopes []string
		err := r.Scan(&k.ID, &k.PublicID, &k.TenantID, &k.Name, &k.Prefix, &scopes, &k.CreatedAt, &k.RevokedAt)
		k.Scopes = toScopes(scopes)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes a tenant's key by its public id (key_…) or prefix.
// Revoking twice is harmless.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID int64, ref string) error {
	rows, err := s.db.Query(ctx, `WITH revoked AS (
			UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
			WHERE tenant_id = $1 AND (public_id = $2 OR prefix = $2) RETURNING public_id)
		SELECT public_id, pg_notify($3, public_id) FROM revoked`, tenantID, ref, KeyChangesChannel)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var id string
		err := r.Scan(&id, nil)
		return id, err
	})
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if len(ids) == 0 {
		return ErrNotFound
	}
	s.mu.Lock()
	listeners := s.onRevoked
	s.mu.Unlock()
	for _, id := range ids {
		for _, f := range listeners {
			f(id)
		}
	}
	return nil
}

// authenticateKey checks a presented API key and returns what it grants.
func (s *Store) authenticateKey(ctx context.Context, key string) (Principal, error) {
	prefix, ok := splitAPIKey(key)
	if !ok {
		return Principal{}, ErrBadKey
	}
	var p Principal
	var hash []byte
	var scopes []string
	var revoked *time.Time
	err := s.db.QueryRow(ctx, `SELECT k.public_id, k.hash, k.scopes, k.revoked_at, t.id, t.public_id
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = $1`, prefix).
		Scan(&p.CredentialID, &hash, &scopes, &revoked, &p.TenantID, &p.TenantPublicID)
	if errors.Is(err, pgx.ErrNoRows) {
		// Compare anyway so an unknown prefix takes as long as a bad secret.
		subtle.ConstantTimeCompare(hashAPIKey(key), make([]byte, 32))
		return Principal{}, ErrBadKey
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up api key: %w", err)
	}
	if subtle.ConstantTimeCompare(hashAPIKey(key), hash) != 1 {
		return Principal{}, ErrBadKey
	}
	if revoked != nil {
		return Principal{}, ErrRevokedKey
	}
	p.Scopes = toScopes(scopes)
	return p, nil
}

func scopeStrings(scopes []Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

func toScopes(names []string) []Scope {
	out := make([]Scope, len(names))
	for i, n := range names {
		out[i] = Scope(n)
	}
	return out
}

// ListTenants lists every tenant, oldest first.
func (s *Store) ListTenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.db.Query(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
}
