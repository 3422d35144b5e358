package standby

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridmetrics/gridmetrics/internal/pgpair"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestRouterOnAPair runs the router against a real primary and its
// streaming standby: reads go to the standby while it keeps up, to the
// primary while its replay is paused past MaxLag, and to the primary at
// once when the standby is down.
func TestRouterOnAPair(t *testing.T) {
	if testing.Short() || dbtest.SchemaIsolation() {
		t.Skip("starts a primary and a standby of its own")
	}
	pair := pgpair.StartForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(url string) *pgxpool.Pool {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
	primary, standbyPool := open(pair.Primary.URL), open(pair.Standby.URL)
	if _, err := primary.Exec(ctx, `CREATE TABLE marks (n int)`); err != nil {
		t.Fatal(err)
	}
	const maxLag = 400 * time.Millisecond
	mon := NewMonitor(primary, standbyPool, Config{MaxLag: maxLag, CheckInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	reg := prometheus.NewRegistry()
	mon.Register(reg)
	router := NewRouter(primary, standbyPool, mon, reg)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); mon.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// read counts marks through the router in one snapshot, as the query
	// service reads, and says which database answered.
	read := func() (int, Database) {
		t.Helper()
		rctx, served := WithServed(ctx)
		tx, err := router.BeginTx(rctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM marks`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n, served.Database()
	}
	insert := func() {
		t.Helper()
		if _, err := primary.Exec(ctx, `INSERT INTO marks VALUES (1)`); err != nil {
			t.Fatal(err)
		}
	}
	// waitFor polls until cond holds, for at most 10 s.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s: %s (state %+v)", what, mon.State())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("caught up: the standby answers", func(t *testing.T) {
		insert()
		if err := pair.WaitReplayed(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor("the standby is usable", mon.Usable)
		if n, db := read(); n != 1 || db != Standby {
			t.Fatalf("read %d marks from the %s, want 1 from the standby", n, db)
		}
	})

	t.Run("replay paused: the primary answers past MaxLag", func(t *testing.T) {
		if err := pair.PauseReplay(ctx); err != nil {
			t.Fatal(err)
		}
		insert()
		// Until the bound passes MaxLag the standby may answer, and then
		// only from what it replayed: never a row past the pause.
		for mon.Usable() {
			if n, db := read(); db == Standby && n != 1 {
				t.Fatalf("the paused standby answered %d marks, want the 1 it replayed", n)
			}
		}
		if n, db := read(); n != 2 || db != Primary {
			t.Fatalf("read %d marks from the %s, want 2 from the primary", n, db)
		}
		if s := mon.State(); !s.Paused || s.Lag(time.Now()) <= maxLag {
			t.Fatalf("state %+v: want paused, lagging past %s", s, maxLag)
		}
		if err := pair.ResumeReplay(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor("the standby is usable again", mon.Usable)
		if n, db := read(); n != 2 || db != Standby {
			t.Fatalf("read %d marks from the %s, want 2 from the standby", n, db)
		}
	})

	t.Run("standby down: the primary answers at once", func(t *testing.T) {
		if err := pair.CrashStandby(ctx); err != nil {
			t.Fatal(err)
		}
		// The monitor has not noticed yet: the read itself falls back.
		if n, db := read(); n != 2 || db != Primary {
			t.Fatalf("read %d marks from the %s, want 2 from the primary", n, db)
		}
		if mon.Usable() {
			t.Fatal("the standby is still usable after a read failed on it")
		}
		if err := pair.StartStandby(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor("the standby is usable after its restart", mon.Usable)
		if _, db := read(); db != Standby {
			t.Fatalf("read from the %s after the restart", db)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		for name, want := range map[string]float64{"gridmetrics_standby_up": 1, "gridmetrics_standby_replay_paused": 0} {
			if got := gathered(t, reg, name); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		if lag := gathered(t, reg, "gridmetrics_standby_lag_seconds"); lag < 0 || lag > maxLag.Seconds() {
			t.Errorf("lag %v s", lag)
		}
		if n := testutil.ToFloat64(router.reads.WithLabelValues("primary")); n < 2 {
			t.Errorf("%v reads counted on the primary", n)
		}
	})
}

func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal(errors.New("no metric " + name))
	return 0
}
