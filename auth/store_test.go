package auth_test

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// fixture is a store on a fresh database. Tests must use one connection at
// a time: under schema isolation the pool has a single connection.
type fixture struct {
	pool  *pgxpool.Pool
	store *auth.Store
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	pool := dbtest.New(t)
	return fixture{pool: pool, store: auth.NewStore(pool)}
}

func (f fixture) tenant(t *testing.T, name string) auth.Tenant {
	t.Helper()
	tn, err := f.store.CreateTenant(context.Background(), name, false)
	if err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn
}

// keyOpts describes a key made by fixture.key; zero fields get defaults.
type keyOpts struct {
	Name   string       // default "test key"
	Scopes []auth.Scope // default read
}

// key creates an API key and returns it with its text.
func (f fixture) key(t *testing.T, tenant auth.Tenant, o keyOpts) (auth.APIKey, string) {
	t.Helper()
	if o.Name == "" {
		o.Name = "test key"
	}
	if o.Scopes == nil {
		o.Scopes = []auth.Scope{auth.ScopeRead}
	}
	k, text, err := f.store.CreateAPIKey(context.Background(), tenant.ID, o.Name, o.Scopes)
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return k, text
}

func (f fixture) revoke(t *testing.T, tenant auth.Tenant, ref string) {
	t.Helper()
	if err := f.store.RevokeAPIKey(context.Background(), tenant.ID, ref); err != nil {
		t.Fatalf("RevokeAPIKey(%q): %v", ref, err)
	}
}

// authenticator builds an authenticator on the fixture's store.
func (f fixture) authenticator(t *testing.T, cfg auth.Config) *auth.Authenticator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := auth.NewAuthenticator(ctx, f.store, cfg)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	return a
}

// wantUnauthorized asserts err is an UNAUTHORIZED api error answered with 401.
func wantUnauthorized(t *testing.T, err error, wantInMsg string) {
	t.Helper()
	e := api.AsError(err)
	if e == nil {
		t.Fatalf("error = %v, want an UNAUTHORIZED *api.Error", err)
	}
	if e.Code != api.CodeUnauthorized || e.Status() != 401 {
		t.Errorf("error = %s (status %d), want UNAUTHORIZED 401", e, e.Status())
	}
	if !strings.Contains(e.Message, wantInMsg) {
		t.Errorf("message %q lacks %q", e.Message, wantInMsg)
	}
}

var (
	tenantIDPattern = regexp.MustCompile(`^ten_[0-9a-f]{20}$`)
	keyIDPattern    = regexp.MustCompile(`^key_[0-9a-f]{20}$`)
	keyPattern      = regexp.MustCompile(`^gm_([0-9a-f]{12})_([0-9a-f]{40})$`)
)

func TestStoreTenants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	acme := f.tenant(t, "Acme Charging")
	acme2 := f.tenant(t, "Acme Charging") // same name, younger
	volt := f.tenant(t, "Volt")

	for _, tn := range []auth.Tenant{acme, acme2, volt} {
		if !tenantIDPattern.MatchString(tn.PublicID) || tn.ID == 0 || tn.CreatedAt.IsZero() || tn.AutoRegister {
			t.Errorf("created tenant = %+v", tn)
		}
	}
	if acme.PublicID == acme2.PublicID {
		t.Fatalf("two tenants share public id %s", acme.PublicID)
	}

	tests := []struct {
		name    string
		lookup  func(context.Context, string) (auth.Tenant, error)
		ref     string
		want    auth.Tenant
		wantErr error
	}{
		{name: "by public id", lookup: f.store.TenantByPublicID, ref: volt.PublicID, want: volt},
		{name: "by public id, same name", lookup: f.store.TenantByPublicID, ref: acme2.PublicID, want: acme2},
		{name: "by public id, unknown", lookup: f.store.TenantByPublicID, ref: "ten_00000000000000000000", wantErr: auth.ErrNotFound},
		{name: "by public id, not a name", lookup: f.store.TenantByPublicID, ref: "Volt", wantErr: auth.ErrNotFound},
		{name: "by public id, empty", lookup: f.store.TenantByPublicID, ref: "", wantErr: auth.ErrNotFound},
		{name: "by ref, public id", lookup: f.store.TenantByRef, ref: acme2.PublicID, want: acme2},
		{name: "by ref, name", lookup: f.store.TenantByRef, ref: "Volt", want: volt},
		{name: "by ref, shared name is the oldest", lookup: f.store.TenantByRef, ref: "Acme Charging", want: acme},
		{name: "by ref, unknown", lookup: f.store.TenantByRef, ref: "Nobody", wantErr: auth.ErrNotFound},
		{name: "by ref, name is exact", lookup: f.store.TenantByRef, ref: "volt", wantErr: auth.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup(ctx, tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("lookup(%q) = %+v, %v; want %v", tt.ref, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("lookup(%q): %v", tt.ref, err)
			}
			if got.ID != tt.want.ID || got.PublicID != tt.want.PublicID || got.Name != tt.want.Name ||
				!got.CreatedAt.Equal(tt.want.CreatedAt) || got.AutoRegister != tt.want.AutoRegister {
				t.Errorf("lookup(%q) = %+v, want %+v", tt.ref, got, tt.want)
			}
		})
	}

	t.Run("list", func(t *testing.T) {
		all, err := f.store.ListTenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tn := range all {
			ids = append(ids, tn.PublicID)
		}
		if want := []string{acme.PublicID, acme2.PublicID, volt.PublicID}; !reflect.DeepEqual(ids, want) {
			t.Errorf("ListTenants = %v, want %v (oldest first)", ids, want)
		}
	})
}

func TestStoreCreateAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	acme := f.tenant(t, "Acme")
	volt := f.tenant(t, "Volt")
	authn := f.authenticator(t, auth.Config{})

	tests := []struct {
		name   string
		tenant auth.Tenant
		scopes []auth.Scope
	}{
		{name: "read", tenant: acme, scopes: []auth.Scope{auth.ScopeRead}},
		{name: "ingest and billing", tenant: acme, scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeBilling}},
		{name: "every scope, other tenant", tenant: volt, scopes: auth.AllScopes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, text := f.key(t, tt.tenant, keyOpts{Name: tt.name, Scopes: tt.scopes})

			m := keyPattern.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("key %q does not read gm_<12 hex>_<40 hex>", text)
			}
			prefix, secret := m[1], m[2]
			if !auth.LooksLikeAPIKey(text) {
				t.Errorf("LooksLikeAPIKey(%q) = false", text)
			}
			if !keyIDPattern.MatchString(k.PublicID) || k.Prefix != prefix || k.TenantID != tt.tenant.ID ||
				k.Name != tt.name || !reflect.DeepEqual(k.Scopes, tt.scopes) || k.CreatedAt.IsZero() || k.RevokedAt != nil {
				t.Errorf("CreateAPIKey = %+v (key %s)", k, text)
			}

			p, err := authn.Authenticate(ctx, "Bearer "+text)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			want := auth.Principal{TenantID: tt.tenant.ID, TenantPublicID: tt.tenant.PublicID, CredentialID: k.PublicID, Scopes: tt.scopes}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("Authenticate = %+v, want %+v", p, want)
			}
			for _, sc := range auth.AllScopes {
				if got, want := p.Has(sc), contains(tt.scopes, sc); got != want {
					t.Errorf("Has(%s) = %v, want %v", sc, got, want)
				}
			}

			// The key text is shown once and never stored: neither whole
			// nor its secret part appears in any column of the row.
			var hash []byte
			var row string
			err = f.pool.QueryRow(ctx, `SELECT hash, to_jsonb(k)::text FROM api_keys k WHERE public_id = $1`, k.PublicID).Scan(&hash, &row)
			if err != nil {
				t.Fatal(err)
			}
			if string(hash) == text || len(hash) != 32 {
				t.Errorf("stored hash is %d bytes (%q); want a 32-byte digest, not the key", len(hash), hash)
			}
			if strings.Contains(row, secret) || strings.Contains(strings.ToLower(row), text) {
				t.Errorf("stored row contains the key's secret: %s", row)
			}
		})
	}

	t.Run("no column of any table holds a secret", func(t *testing.T) {
		var dump string
		err := f.pool.QueryRow(ctx, `SELECT coalesce(string_agg(to_jsonb(k)::text, E'\n'), '') FROM api_keys k`).Scan(&dump)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(dump, `"prefix"`); n != len(tests) {
			t.Fatalf("found %d keys, want %d", n, len(tests))
		}
		if strings.Contains(dump, "gm_") {
			t.Errorf("api_keys holds key text:\n%s", dump)
		}
	})

	t.Run("keys differ", func(t *testing.T) {
		_, a := f.key(t, acme, keyOpts{})
		_, b := f.key(t, acme, keyOpts{})
		if a == b || a[:15] == b[:15] {
			t.Errorf("two keys share a prefix: %s, %s", a, b)
		}
	})

	t.Run("no scopes", func(t *testing.T) {
		for _, scopes := range [][]auth.Scope{nil, {}} {
			k, text, err := f.store.CreateAPIKey(ctx, acme.ID, "nothing", scopes)
			if err == nil {
				t.Errorf("CreateAPIKey(%v) = %+v, %q; want an error", scopes, k, text)
			}
		}
	})

	t.Run("unknown tenant", func(t *testing.T) {
		if _, _, err := f.store.CreateAPIKey(ctx, -1, "orphan", []auth.Scope{auth.ScopeRead}); err == nil {
			t.Error("CreateAPIKey for a missing tenant succeeded")
		}
	})
}

func contains(scopes []auth.Scope, s auth.Scope) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}

func TestStoreListAPIKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	acme := f.tenant(t, "Acme")
	volt := f.tenant(t, "Volt")
	empty := f.tenant(t, "Empty")

	first, _ := f.key(t, acme, keyOpts{Name: "first", Scopes: []auth.Scope{auth.ScopeIngest}})
	second, _ := f.key(t, acme, keyOpts{Name: "second", Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeAdmin}})
	third, _ := f.key(t, acme, keyOpts{Name: "third"})
	voltKey, _ := f.key(t, volt, keyOpts{Name: "volt"})
	f.revoke(t, acme, second.PublicID)

	tests := []struct {
		name        string
		tenant      auth.Tenant
		want        []auth.APIKey // newest first
		wantRevoked []bool
	}{
		{name: "several, newest first", tenant: acme, want: []auth.APIKey{third, second, first}, wantRevoked: []bool{false, true, false}},
		{name: "other tenant", tenant: volt, want: []auth.APIKey{voltKey}, wantRevoked: []bool{false}},
		{name: "none", tenant: empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.store.ListAPIKeys(ctx, tt.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ListAPIKeys = %d keys, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, k := range got {
				w := tt.want[i]
				if k.ID != w.ID || k.PublicID != w.PublicID || k.TenantID != tt.tenant.ID || k.Name != w.Name ||
					k.Prefix != w.Prefix || !reflect.DeepEqual(k.Scopes, w.Scopes) || !k.CreatedAt.Equal(w.CreatedAt) {
					t.Errorf("key %d = %+v, want %+v", i, k, w)
				}
				if revoked := k.RevokedAt != nil; revoked != tt.wantRevoked[i] {
					t.Errorf("key %d (%s) revoked = %v, want %v", i, k.Name, revoked, tt.wantRevoked[i])
				}
			}
		})
	}
}

func TestStoreRevokeAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	acme := f.tenant(t, "Acme")
	volt := f.tenant(t, "Volt")
	authn := f.authenticator(t, auth.Config{})

	byID, byIDText := f.key(t, acme, keyOpts{Name: "by id"})
	byPrefix, byPrefixText := f.key(t, acme, keyOpts{Name: "by prefix"})
	kept, keptText := f.key(t, acme, keyOpts{Name: "kept"})
	voltKey, voltText := f.key(t, volt, keyOpts{Name: "volt"})

	revokedAt := func(t *testing.T, id string) *string {
		t.Helper()
		var at *string
		if err := f.pool.QueryRow(ctx, `SELECT revoked_at::text FROM api_keys WHERE public_id = $1`, id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	tests := []struct {
		name    string
		tenant  auth.Tenant
		ref     string
		wantErr error
	}{
		{name: "by public id", tenant: acme, ref: byID.PublicID},
		{name: "by prefix", tenant: acme, ref: byPrefix.Prefix},
		{name: "again", tenant: acme, ref: byID.PublicID},
		{name: "again by prefix", tenant: acme, ref: byPrefix.Prefix},
		{name: "unknown id", tenant: acme, ref: "key_00000000000000000000", wantErr: auth.ErrNotFound},
		{name: "empty ref", tenant: acme, ref: "", wantErr: auth.ErrNotFound},
		{name: "name is not a ref", tenant: acme, ref: "kept", wantErr: auth.ErrNotFound},
		{name: "whole key is not a ref", tenant: acme, ref: keptText, wantErr: auth.ErrNotFound},
		{name: "another tenant's key by id", tenant: acme, ref: voltKey.PublicID, wantErr: auth.ErrNotFound},
		{name: "another tenant's key by prefix", tenant: acme, ref: voltKey.Prefix, wantErr: auth.ErrNotFound},
		{name: "unknown tenant", tenant: auth.Tenant{ID: -1}, ref: kept.PublicID, wantErr: auth.ErrNotFound},
	}
	var firstRevokedAt *string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.store.RevokeAPIKey(ctx, tt.tenant.ID, tt.ref)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("RevokeAPIKey(%q) = %v, want %v", tt.ref, err, tt.wantErr)
			}
			if tt.ref == byID.PublicID {
				at := revokedAt(t, byID.PublicID)
				if at == nil {
					t.Fatal("revoked_at is null after revoking")
				}
				if firstRevokedAt == nil {
					firstRevokedAt = at
				} else if *at != *firstRevokedAt {
					t.Errorf("revoking again moved revoked_at from %s to %s", *firstRevokedAt, *at)
				}
			}
		})
	}

	t.Run("revoked keys are refused", func(t *testing.T) {
		for _, text := range []string{byIDText, byPrefixText} {
			p, err := authn.Authenticate(ctx, "Bearer "+text)
			if err == nil {
				t.Fatalf("revoked key authenticated as %+v", p)
			}
			wantUnauthorized(t, err, "revoked")
		}
	})

	t.Run("other keys still work", func(t *testing.T) {
		for _, c := range []struct {
			text   string
			tenant auth.Tenant
		}{{keptText, acme}, {voltText, volt}} {
			p, err := authn.Authenticate(ctx, "Bearer "+c.text)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.TenantPublicID != c.tenant.PublicID {
				t.Errorf("tenant = %s, want %s", p.TenantPublicID, c.tenant.PublicID)
			}
		}
		if at := revokedAt(t, voltKey.PublicID); at != nil {
			t.Errorf("another tenant's key was revoked at %s", *at)
		}
	})
}

func TestStoreAuthenticateKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	acme := f.tenant(t, "Acme")
	_, text := f.key(t, acme, keyOpts{})
	m := keyPattern.FindStringSubmatch(text)
	prefix, secret := m[1], m[2]
	authn := f.authenticator(t, auth.Config{})

	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == '0' {
			b[len(b)-1] = '1'
		} else {
			b[len(b)-1] = '0'
		}
		return string(b)
	}

	tests := []struct {
		name      string
		header    string
		wantInMsg string
	}{
		{name: "empty header", header: "", wantInMsg: "missing credentials"},
		{name: "only spaces", header: "   ", wantInMsg: "malformed"},
		{name: "basic scheme", header: "Basic " + text, wantInMsg: "malformed"},
		{name: "no token", header: "Bearer", wantInMsg: "malformed"},
		{name: "blank token", header: "Bearer    ", wantInMsg: "malformed"},
		{name: "key without scheme", header: text, wantInMsg: "malformed"},
		{name: "not a key", header: "Bearer hello", wantInMsg: "invalid API key"},
		{name: "uppercase hex", header: "Bearer " + strings.ToUpper(text), wantInMsg: "invalid API key"},
		{name: "short secret", header: "Bearer " + text[:len(text)-1], wantInMsg: "invalid API key"},
		{name: "long secret", header: "Bearer " + text + "0", wantInMsg: "invalid API key"},
		{name: "unknown prefix", header: "Bearer gm_000000000000_" + secret, wantInMsg: "invalid API key"},
		{name: "right prefix, wrong secret", header: "Bearer gm_" + prefix + "_" + flip(secret), wantInMsg: "invalid API key"},
		{name: "other tag", header: "Bearer gx_" + prefix + "_" + secret, wantInMsg: "invalid API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := authn.Authenticate(ctx, tt.header)
			if err == nil {
				t.Fatalf("Authenticate(%q) = %+v, want an error", tt.header, p)
			}
			wantUnauthorized(t, err, tt.wantInMsg)
		})
	}

	t.Run("scheme is case-insensitive and spaces are trimmed", func(t *testing.T) {
		for _, h := range []string{"bearer " + text, "BEARER " + text, "  Bearer   " + text + "  "} {
			if _, err := authn.Authenticate(ctx, h); err != nil {
				t.Errorf("Authenticate(%q): %v", h, err)
			}
		}
	})
}
