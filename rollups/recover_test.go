package rollups

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridmetrics/gridmetrics/recovery"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestPanickingJobIsRecovered schedules the real cron jobs with a clock
// that panics: each run ends in a logged, counted panic, and the scheduler
// goes on to the next tick (an unrecovered panic in cron's goroutine would
// end the test binary). Not parallel: it counts panics.
func TestPanickingJobIsRecovered(t *testing.T) {
	pool := dbtest.New(t)
	r := newRunner(pool)
	r.cfg.Specs = map[string]string{"15m": "@every 1s", "1h": "@every 1h", "1d": "@every 1h"}
	r.cfg.InvalidationSpec = "@every 1h"
	r.Now = func() time.Time { panic("clock broke") }
	before := testutil.ToFloat64(recovery.Panics.WithLabelValues("rollup_job"))
	if err := r.Start(false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(recovery.Panics.WithLabelValues("rollup_job"))-before < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no two recovered panics within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.Stop(context.Background())
	// The locks the panicking runs held are free again.
	if err := r.exclusive(context.Background(), rollupLock, func(context.Context, *pgxpool.Conn) error { return nil }); err != nil {
		t.Fatalf("after the panics: %v", err)
	}
}
