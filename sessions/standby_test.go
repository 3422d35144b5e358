package sessions

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/internal/pgpair"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/standby"
)

// standbyServed counts the pages and exports served by the standby and by
// the primary.
type standbyServed struct{ standby, primary atomic.Int64 }

func (c *standbyServed) record(_ context.Context, onStandby bool) {
	if onStandby {
		c.standby.Add(1)
	} else {
		c.primary.Add(1)
	}
}

// TestBillingPullFromStandby points the billing pull at a streaming
// standby of a primary of the test's own. The standby's lag bound is set
// far above anything the test reaches, so that only the pull's own rule
// keeps it right: a page is served there only when the standby has
// replayed every change the cursor was served from.
func TestBillingPullFromStandby(t *testing.T) {
	if testing.Short() || dbtest.SchemaIsolation() {
		t.Skip("starts a primary and a standby of its own")
	}
	pair := pgpair.StartForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	open := func(url string) *pgxpool.Pool {
		t.Helper()
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
	// One migrated template; each subtest gets a copy on the primary,
	// which replication brings to the standby.
	if err := pair.CreateDatabase(ctx, "tmpl", ""); err != nil {
		t.Fatal(err)
	}
	tmpl, err := pgxpool.New(ctx, pair.Primary.Database("tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = schema.Migrate(ctx, tmpl, dbtest.Options)
	tmpl.Close()
	if err != nil {
		t.Fatal(err)
	}
	mon := standby.NewMonitor(open(pair.Primary.Database("postgres")), open(pair.Standby.Database("postgres")),
		standby.Config{MaxLag: time.Hour, CheckInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	runCtx, stop := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.Run(runCtx) }()
	defer func() { stop(); <-monDone }()
	// database returns a fixture on a fresh copy of the template, whose
	// service reads the standby, and a service that reads the primary only.
	database := func(t *testing.T, name string) (*fixture, *Service, *standbyServed) {
		t.Helper()
		if err := pair.CreateDatabase(ctx, name, "tmpl"); err != nil {
			t.Fatal(err)
		}
		f := newFixtureOn(t, open(pair.Primary.Database(name)))
		onPrimary := f.svc.OnPool(f.pool, NoTariffs)
		served := &standbyServed{}
		f.svc.ReadFromStandby(Standby{Store: NewStore(open(pair.Standby.Database(name))), Usable: mon.Usable, Served: served.record})
		return f, onPrimary, served
	}
	waitUsable := func(t *testing.T) {
		t.Helper()
		if err := pair.WaitReplayed(ctx); err != nil {
			t.Fatal(err)
		}
		for !mon.Usable() {
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("a cursor ahead of the standby", func(t *testing.T) {
		f, onPrimary, served := database(t, "cursor")
		f.source("CB-1/1", "UTC")
		start := at(t, "UTC", "2024-03-04 10:00")
		begin := func(ext string, h int) Session {
			t.Helper()
			s, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: ext, StartTime: start.Add(time.Duration(h) * time.Hour), MeterStart: ptr(0)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		end := func(s Session) {
			t.Helper()
			if _, err := f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: s.StartTime.Add(time.Hour), MeterStop: ptr(1000)}); err != nil {
				t.Fatal(err)
			}
		}
		list := func(svc *Service, cursor string, limit int) Page {
			t.Helper()
			p, err := svc.List(f.ctx, f.tenant, Filter{}, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		ids := func(p Page) (out []string) {
			for _, s := range p.Sessions {
				out = append(out, s.ID)
			}
			return out
		}
		a, b := begin("a", 0), begin("b", 1)
		waitUsable(t)
		p := list(f.svc, "", 100)
		if len(p.Sessions) != 2 || p.HasMore || served.standby.Load() != 1 {
			t.Fatalf("first pull: %v (more %v), %d pages from the standby; want a and b from the standby", ids(p), p.HasMore, served.standby.Load())
		}

		// The standby stops replaying; the primary goes on.
		if err := pair.PauseReplay(ctx); err != nil {
			t.Fatal(err)
		}
		defer pair.ResumeReplay(ctx)
		end(a)
		end(b)
		c := begin("c", 2)
		// The next pull's first page comes from the primary: a.
		p1 := list(onPrimary, p.NextCursor, 1)
		if got := ids(p1); len(got) != 1 || got[0] != a.PublicID || !p1.HasMore {
			t.Fatalf("first page from the primary: %v (more %v), want %s and more", got, p1.HasMore, a.PublicID)
		}
		// Its cursor reaches past what the standby replayed: served there,
		// the rest of the pull would be empty and b's stop and c skipped.
		p2 := list(f.svc, p1.NextCursor, 100)
		if got := ids(p2); len(got) != 2 || got[0] != b.PublicID || got[1] != c.PublicID || p2.HasMore {
			t.Fatalf("rest of the pull: %v (more %v), want %s, %s", got, p2.HasMore, b.PublicID, c.PublicID)
		}
		if served.primary.Load() != 1 {
			t.Fatalf("%d pages served by the primary, want the one the standby could not", served.primary.Load())
		}
		// A new pull from the end finds nothing newer, from the primary
		// while the standby lags it, then from the standby once it
		// replayed.
		if p3 := list(f.svc, p2.NextCursor, 100); len(p3.Sessions) != 0 || served.primary.Load() != 2 {
			t.Fatalf("pull after the end while paused: %v, %d pages from the primary", ids(p3), served.primary.Load())
		}
		if err := pair.ResumeReplay(ctx); err != nil {
			t.Fatal(err)
		}
		waitUsable(t)
		if p4 := list(f.svc, p2.NextCursor, 100); len(p4.Sessions) != 0 || served.standby.Load() != 2 {
			t.Fatalf("pull after the end, replayed: %v, %d pages from the standby", ids(p4), served.standby.Load())
		}
	})

	t.Run("forged cursors", func(t *testing.T) {
		// Cursors are readable JSON, so a client can write its own: one the
		// standby can never satisfy goes to the primary, one below anything
		// served stays harmless, and none fails.
		f, _, served := database(t, "forged")
		f.source("CB-1/1", "UTC")
		if _, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: "a", StartTime: at(t, "UTC", "2024-03-04 10:00"), MeterStart: ptr(0)}); err != nil {
			t.Fatal(err)
		}
		waitUsable(t)
		fp := Filter{}.fingerprint()
		for _, c := range []struct {
			name      string
			cursor    cursor
			wantCount int
			onStandby bool
		}{
			{"far ahead", cursor{After: 1 << 62, Filter: fp}, 0, false},
			{"horizon far ahead", cursor{After: 0, Horizon: 1 << 62, Filter: fp}, 1, false},
			{"negative", cursor{After: -5, Horizon: -3, Filter: fp}, 0, true},
		} {
			before := served.standby.Load()
			p, err := f.svc.List(f.ctx, f.tenant, Filter{}, api.EncodeCursor(c.cursor), 10)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if len(p.Sessions) != c.wantCount || (served.standby.Load() > before) != c.onStandby {
				t.Errorf("%s: %d sessions, standby %v; want %d, standby %v", c.name, len(p.Sessions), served.standby.Load() > before, c.wantCount, c.onStandby)
			}
		}
	})

	t.Run("concurrent writers", func(t *testing.T) {
		f, onPrimary, served := database(t, "concurrent")
		waitUsable(t)
		// Replay stops and starts under the pull, as a standby behind a
		// conflicting query or a slow disk does.
		pauses := make(chan struct{})
		var pauser sync.WaitGroup
		var stopPauses sync.Once
		stopPausing := func() {
			stopPauses.Do(func() { close(pauses) })
			pauser.Wait()
		}
		defer stopPausing() // when the test fails before settling
		pauser.Add(1)
		go func() {
			defer pauser.Done()
			for {
				select {
				case <-pauses:
					_ = pair.ResumeReplay(ctx)
					return
				case <-time.After(20 * time.Millisecond):
				}
				_ = pair.PauseReplay(ctx)
				time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
				_ = pair.ResumeReplay(ctx)
			}
		}()
		// A billing client whose pages go to either: through replicas of
		// the service, some with a standby and some without.
		testBillingPullUnderConcurrentWrites(t, f, func() *Service {
			if rand.IntN(2) == 0 {
				return onPrimary
			}
			return f.svc
		}, func() {
			// The standby answers as of what it replayed: the last pulls
			// see every change once it has replayed them all.
			stopPausing()
			waitUsable(t)
		})
		t.Logf("%d pages served by the standby, %d by the primary in its place", served.standby.Load(), served.primary.Load())
		if served.standby.Load() == 0 || served.primary.Load() == 0 {
			t.Errorf("the standby served %d pages and fell back %d times: want both", served.standby.Load(), served.primary.Load())
		}
	})
}
