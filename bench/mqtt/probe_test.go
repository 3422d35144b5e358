package main

import (
	"context"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// The probe sees a row once it is committed, and only the row it watches:
// the same meter and time under another metric is not it.
func TestProberSeesCommittedRows(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	var tenant int64
	if err := pool.QueryRow(ctx, `INSERT INTO tenants (public_id, name) VALUES ('ten_probe', 'probe') RETURNING id`).Scan(&tenant); err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, 2)
	for i, ext := range []string{"m-0", "m-1"} {
		if err := pool.QueryRow(ctx, `INSERT INTO sources (public_id, tenant_id, external_id, kind) VALUES ($1, $2, $1, 'meter') RETURNING id`,
			"src_"+ext, tenant).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	metricID := func(name string) int16 {
		var id int16
		if err := pool.QueryRow(ctx, "SELECT id FROM metrics WHERE name = $1", name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	power, energy := metricID(metric), metricID("energy_import")
	insert := func(source int, at time.Time, m int16) {
		t.Helper()
		if _, err := pool.Exec(ctx, "INSERT INTO readings (time, source_id, metric, value) VALUES ($1, $2, $3, 1)", at, ids[source], m); err != nil {
			t.Fatal(err)
		}
	}

	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	p := newProber(pool, ids, power, time.Millisecond)
	p.reset()
	began := time.Now()
	p.sending(probeKey{source: 0, at: at.UnixMicro()}, began)
	p.sending(probeKey{source: 1, at: at.UnixMicro()}, began)
	insert(0, at, power)
	insert(1, at, energy) // not the row watched
	done, ran := make(chan struct{}), make(chan error, 1)
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() { ran <- p.run(runCtx, done) }()
	time.Sleep(50 * time.Millisecond)
	insert(1, at, power)
	close(done) // run still waits for the row watched
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	lat, resolution := p.result()
	if len(lat) != 2 {
		t.Fatalf("%d latencies, want 2", len(lat))
	}
	if lat[0] > 50*time.Millisecond || lat[1] < 50*time.Millisecond || lat[1] > time.Since(began) {
		t.Errorf("latencies %v: want one under 50 ms, one from 50 ms to %v", lat, time.Since(began))
	}
	if resolution < time.Millisecond {
		t.Errorf("resolution %v, less than the interval", resolution)
	}

	// After a reset nothing is pending: run returns at once.
	p.reset()
	if err := p.run(runCtx, done); err != nil {
		t.Fatal(err)
	}
	if lat, _ := p.result(); len(lat) != 0 {
		t.Errorf("%d latencies after a reset", len(lat))
	}
}
