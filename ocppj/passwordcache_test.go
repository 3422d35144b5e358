package ocppj

import (
	"context"
	"encoding/base64"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// passwordFixture is a database with one tenant and one charger with a
// password, and a server on it.
type passwordFixture struct {
	pool     *pgxpool.Pool
	s        *Server
	tenant   string // public id
	tenantID int64
}

const (
	cacheBox = "CB-CACHE-1"
	firstPw  = "first-password-0001"
	secondPw = "second-password-0002"
)

func newPasswordFixture(t *testing.T, cfg Config) *passwordFixture {
	t.Helper()
	ctx := context.Background()
	f := &passwordFixture{pool: dbtest.New(t), tenant: "ten_cachetest"}
	if err := f.pool.QueryRow(ctx, `INSERT INTO tenants (public_id, name) VALUES ($1, 'cache') RETURNING id`, f.tenant).Scan(&f.tenantID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `INSERT INTO sources (public_id, tenant_id, external_id, kind) VALUES ('src_cachetest', $1, $2, 'charger')`, f.tenantID, cacheBox); err != nil {
		t.Fatal(err)
	}
	f.s = NewServer(NewStore(f.pool), cfg, nil)
	f.setPassword(t, f.s.Store, firstPw)
	return f
}

func (f *passwordFixture) setPassword(t *testing.T, st *Store, pw string) {
	t.Helper()
	hash, err := hashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetPassword(context.Background(), f.tenantID, cacheBox, hash); err != nil {
		t.Fatal(err)
	}
}

func (f *passwordFixture) connect(pw string) error {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(cacheBox+":"+pw))
	_, err := f.s.authenticate(context.Background(), f.tenant, cacheBox, basic)
	return err
}

// expect authenticates with pw and checks the outcome and the number of
// slow checks run so far.
func (f *passwordFixture) expect(t *testing.T, pw string, ok bool, slow int64) {
	t.Helper()
	err := f.connect(pw)
	if (err == nil) != ok {
		t.Fatalf("password %q: err %v, want ok %v", pw, err, ok)
	}
	if got := f.s.slowChecks.Load(); got != slow {
		t.Fatalf("password %q: %d slow checks so far, want %d", pw, got, slow)
	}
}

func TestPasswordCache(t *testing.T) {
	t.Parallel()

	t.Run("a hit skips the slow check; a wrong password is still refused", func(t *testing.T) {
		t.Parallel()
		f := newPasswordFixture(t, Config{PasswordCacheTTL: time.Minute})
		f.expect(t, firstPw, true, 1)
		f.expect(t, firstPw, true, 1)
		f.expect(t, firstPw, true, 1)
		f.expect(t, firstPw+"x", false, 2)
		f.expect(t, secondPw, false, 3)
		f.expect(t, firstPw, true, 3)
	})

	t.Run("disabled, every handshake takes the slow check", func(t *testing.T) {
		t.Parallel()
		f := newPasswordFixture(t, Config{})
		f.expect(t, firstPw, true, 1)
		f.expect(t, firstPw, true, 2)
	})

	t.Run("a password change in process drops the entry", func(t *testing.T) {
		t.Parallel()
		f := newPasswordFixture(t, Config{PasswordCacheTTL: time.Minute})
		f.expect(t, firstPw, true, 1)
		f.setPassword(t, f.s.Store, secondPw)
		if n := f.s.passwords.Len(); n != 0 {
			t.Fatalf("%d cache entries after the change, want 0", n)
		}
		f.expect(t, firstPw, false, 2)
		f.expect(t, secondPw, true, 3)
		f.expect(t, secondPw, true, 3)
	})

	t.Run("a password change on another replica arrives by notification", func(t *testing.T) {
		t.Parallel()
		if dbtest.SchemaIsolation() {
			t.Skip("the listener holds a connection of its own; the schema-isolated pool has one")
		}
		f := newPasswordFixture(t, Config{PasswordCacheTTL: time.Hour})
		ctx, stop := context.WithCancel(context.Background())
		before := f.s.passwords.Generation()
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.s.ListenPasswordChanges(ctx, f.pool, slog.New(slog.DiscardHandler))
		}()
		t.Cleanup(func() { stop(); <-done })
		// The listener flushes once it listens: wait for that, then cache.
		deadline := time.Now().Add(10 * time.Second)
		for f.s.passwords.Generation() == before {
			if time.Now().After(deadline) {
				t.Fatal("the listener did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		f.expect(t, firstPw, true, 1)
		f.expect(t, firstPw, true, 1)
		// Another replica's store: this server is not told in process.
		f.setPassword(t, NewStore(f.pool), secondPw)
		for f.s.passwords.Len() > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the change did not reach the cache within 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		f.expect(t, firstPw, false, 2)
		f.expect(t, secondPw, true, 3)
	})
}
