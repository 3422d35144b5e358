package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

func TestKeyCacheBounds(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := newKeyCache(time.Minute, time.Minute, 3)
	for i := range 10 {
		c.put(sha256.Sum256(fmt.Appendf(nil, "key %d", i)), Principal{CredentialID: fmt.Sprint("key_", i)}, now, c.generation())
		if n := c.count(); n > 3 {
			t.Fatalf("after %d puts the cache holds %d entries, want at most 3", i+1, n)
		}
	}
	last := sha256.Sum256([]byte("key 9"))
	if _, _, ok := c.get(last, now); !ok {
		t.Error("the newest entry was evicted to make room for itself")
	}

	t.Run("fresh, then stale within the grace, then gone", func(t *testing.T) {
		if _, fresh, ok := c.get(last, now.Add(59*time.Second)); !ok || !fresh {
			t.Errorf("at 59s: ok=%v fresh=%v, want a fresh entry", ok, fresh)
		}
		if _, fresh, ok := c.get(last, now.Add(90*time.Second)); !ok || fresh {
			t.Errorf("at 90s: ok=%v fresh=%v, want a stale entry", ok, fresh)
		}
		if _, _, ok := c.get(last, now.Add(121*time.Second)); ok {
			t.Error("at 121s the entry is still returned, past TTL and grace")
		}
	})

	t.Run("a lookup that overlaps a revocation is not stored", func(t *testing.T) {
		h := sha256.Sum256([]byte("racing key"))
		gen := c.generation()
		c.forget("key_racing") // the revocation commits while the lookup runs
		c.put(h, Principal{CredentialID: "key_racing"}, now, gen)
		if _, _, ok := c.get(h, now); ok {
			t.Error("a result read before the revocation was cached after it")
		}
	})

	t.Run("one entry per credential", func(t *testing.T) {
		c := newKeyCache(time.Minute, 0, 10)
		a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
		c.put(a, Principal{CredentialID: "key_1"}, now, c.generation())
		c.put(b, Principal{CredentialID: "key_1"}, now, c.generation())
		c.forget("key_1")
		if c.count() != 0 {
			t.Errorf("forget left %d entries", c.count())
		}
	})
}

// keyFixture is an authenticator with the key cache on over a fresh
// database, with one tenant and two keys.
type keyFixture struct {
	pool         *pgxpool.Pool
	store        *Store
	authn        *Authenticator
	cached, cold string // key texts; cached has been verified once
	cachedKey    APIKey
	tenant       Tenant
}

func newKeyFixture(t *testing.T, cfg Config) keyFixture {
	t.Helper()
	ctx := context.Background()
	f := keyFixture{pool: dbtest.New(t)}
	f.store = NewStore(f.pool)
	var err error
	if f.tenant, err = f.store.CreateTenant(ctx, "Acme", false); err != nil {
		t.Fatal(err)
	}
	if f.cachedKey, f.cached, err = f.store.CreateAPIKey(ctx, f.tenant.ID, "cached", []Scope{ScopeRead}); err != nil {
		t.Fatal(err)
	}
	if _, f.cold, err = f.store.CreateAPIKey(ctx, f.tenant.ID, "cold", []Scope{ScopeRead}); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	if f.authn, err = NewAuthenticator(actx, f.store, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := f.authn.Authenticate(ctx, "Bearer "+f.cached); err != nil {
		t.Fatalf("first authentication: %v", err)
	}
	return f
}

// deadPool is a pool whose every connection attempt is refused, as when the
// database is down.
func deadPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pool, err := pgxpool.New(context.Background(), "postgres://gridmetrics@"+addr+"/gridmetrics?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestKeyCacheServesWithoutDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newKeyFixture(t, Config{KeyCacheTTL: time.Hour, KeyCacheGrace: time.Hour})
	// Queries now fail: a cached key must not need one.
	f.authn.store = &Store{db: deadPool(t)}

	p, err := f.authn.Authenticate(ctx, "Bearer "+f.cached)
	if err != nil {
		t.Fatalf("cached key during an outage: %v", err)
	}
	if p.TenantPublicID != f.tenant.PublicID || p.CredentialID != f.cachedKey.PublicID || !p.Has(ScopeRead) {
		t.Errorf("cached principal = %+v", p)
	}

	t.Run("a wrong secret with the cached key's prefix is not accepted", func(t *testing.T) {
		wrong := f.cached[:len(f.cached)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(f.cached, "0")]
		if p, err := f.authn.Authenticate(ctx, "Bearer "+wrong); err == nil {
			t.Fatalf("a wrong secret authenticated as %+v", p)
		}
	})

	t.Run("an unknown key gets the database error unchanged", func(t *testing.T) {
		_, err := f.authn.Authenticate(ctx, "Bearer "+f.cold)
		if err == nil {
			t.Fatal("an uncached key authenticated with the database down")
		}
		if e := api.AsError(err); e != nil {
			t.Fatalf("error = %v, an api error; want the database error so that it is classified", e)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("error = %v, want it to wrap the refused connection", err)
		}
	})

	t.Run("over HTTP: cached key 200, unknown key 503 UNAVAILABLE", func(t *testing.T) {
		// A database error says nothing about the credential: it must not
		// count as a failed authentication, even with a limit of one.
		f.authn.failures = newFailureLimiter(1, time.Minute, 10)
		app := api.New(api.Config{Logger: slog.New(slog.DiscardHandler)})
		app.Get("/v1/x", f.authn.Middleware(), func(c *fiber.Ctx) error { return api.OK(c, "ok") })
		for _, tt := range []struct {
			key        string
			wantStatus int
		}{{f.cached, http.StatusOK}, {f.cold, http.StatusServiceUnavailable}, {f.cold, http.StatusServiceUnavailable}, {f.cached, http.StatusOK}} {
			req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
			req.Header.Set("Authorization", "Bearer "+tt.key)
			res, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}
	})
}

func TestKeyCacheGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		grace  time.Duration
		wantOK bool
	}{
		{name: "stale key works within the grace", grace: time.Hour, wantOK: true},
		{name: "stale key fails without a grace", grace: 0, wantOK: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newKeyFixture(t, Config{KeyCacheTTL: time.Millisecond, KeyCacheGrace: tt.grace})
			time.Sleep(5 * time.Millisecond)
			f.authn.store = &Store{db: deadPool(t)}
			_, err := f.authn.Authenticate(ctx, "Bearer "+f.cached)
			if ok := err == nil; ok != tt.wantOK {
				t.Errorf("stale key during an outage: err = %v, want ok %v", err, tt.wantOK)
			}
		})
	}
}

func TestKeyCacheRevocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("in process", func(t *testing.T) {
		t.Parallel()
		f := newKeyFixture(t, Config{KeyCacheTTL: time.Hour})
		if err := f.store.RevokeAPIKey(ctx, f.tenant.ID, f.cachedKey.PublicID); err != nil {
			t.Fatal(err)
		}
		if p, err := f.authn.Authenticate(ctx, "Bearer "+f.cached); err == nil {
			t.Fatalf("revoked key authenticated from the cache as %+v", p)
		}
	})

	t.Run("from another process, through the notification", func(t *testing.T) {
		t.Parallel()
		if dbtest.SchemaIsolation() {
			t.Skip("the listener holds a connection of its own; the schema-isolated pool has one")
		}
		f := newKeyFixture(t, Config{KeyCacheTTL: time.Hour})
		lctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.authn.Listen(lctx, f.pool, slog.New(slog.DiscardHandler))
		}()
		t.Cleanup(func() { stop(); <-done })
		// Listen flushes once it listens: wait for that, then cache again.
		deadline := time.Now().Add(10 * time.Second)
		for f.authn.keys.generation() < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the listener did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := f.authn.Authenticate(ctx, "Bearer "+f.cached); err != nil {
			t.Fatal(err)
		}
		// Another store: what the apikey command or another replica does.
		if err := NewStore(f.pool).RevokeAPIKey(ctx, f.tenant.ID, f.cachedKey.Prefix); err != nil {
			t.Fatal(err)
		}
		for f.authn.keys.count() > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the revocation did not reach the cache within 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if p, err := f.authn.Authenticate(ctx, "Bearer "+f.cached); err == nil {
			t.Fatalf("revoked key authenticated as %+v", p)
		}
	})
}
