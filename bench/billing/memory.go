package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/sessions"
)

// syntheticSpacing is the start time between two synthetic sessions.
const syntheticSpacing = 30 * time.Second

// addSyntheticSessions inserts n priced sessions for the tenant, started
// syntheticSpacing apart from start on: each a copy of one of the tenant's
// priced sessions — same connector, site, meter values, totals, price and
// CDR — under its own public id, external id, start and stop (the same
// duration) and change, so that it exports exactly as a real one does.
// One INSERT … SELECT generate_series, no service in between.
func addSyntheticSessions(ctx context.Context, pool *pgxpool.Pool, tenantID int64, n int, start time.Time) error {
	_, err := pool.Exec(ctx, `
		WITH model AS (
			SELECT row_number() OVER (ORDER BY id) - 1 AS k, s.* FROM sessions s WHERE tenant_id = $1 AND status = 'priced'),
		models AS (SELECT count(*) AS n FROM model)
		INSERT INTO sessions (public_id, tenant_id, source_id, charge_box_id, external_id, protocol, id_tag, status,
			start_time, stop_time, meter_start, meter_stop, stop_reason, failure_reason, events, tariff_ref, currency,
			energy_kwh, charging_hours, parking_hours, total_excl_vat, total_incl_vat, price, cdr, price_count,
			priced_at, created_at, updated_at, change_seq)
		SELECT 'ses_synthetic' || lpad(g::text, 9, '0'), m.tenant_id, m.source_id, m.charge_box_id, 'synthetic-' || g,
			m.protocol, m.id_tag, 'priced', t.start, t.start + (m.stop_time - m.start_time), m.meter_start, m.meter_stop,
			m.stop_reason, m.failure_reason, m.events, m.tariff_ref, m.currency, m.energy_kwh, m.charging_hours,
			m.parking_hours, m.total_excl_vat, m.total_incl_vat, m.price, m.cdr, m.price_count,
			t.start + (m.priced_at - m.start_time), t.start + (m.created_at - m.start_time), now(), nextval('session_changes')
		FROM generate_series(0, $2 - 1) g
		CROSS JOIN models
		JOIN model m ON m.k = g % models.n
		CROSS JOIN LATERAL (SELECT $3::timestamptz + g * $4::interval AS start) t`,
		tenantID, n, start, syntheticSpacing)
	if err != nil {
		return fmt.Errorf("insert %d synthetic sessions: %w", n, err)
	}
	_, err = pool.Exec(ctx, "VACUUM ANALYZE sessions")
	return err
}

// exportPeak is the server's peak resident memory while exporting.
type exportPeak struct {
	rows          int
	ndjson, arrow int64 // bytes
}

func (p exportPeak) String() string {
	return fmt.Sprintf("%d rows: NDJSON %.0f MiB, Arrow %.0f MiB", p.rows, float64(p.ndjson)/(1<<20), float64(p.arrow)/(1<<20))
}

// exportMemory measures the server's peak resident memory (VmHWM, reset
// with clear_refs before each) while it exports the first n synthetic
// sessions (start in [start, start + n·spacing)), in NDJSON and in Arrow.
func exportMemory(ctx context.Context, hc *http.Client, srv *benchutil.Server, key string, start time.Time, n int) (exportPeak, error) {
	out := exportPeak{rows: n}
	pid := srv.Cmd.Process.Pid
	to := start.Add(time.Duration(n) * syntheticSpacing)
	for _, f := range []struct {
		format sessions.ExportFormat
		peak   *int64
	}{{sessions.FormatNDJSON, &out.ndjson}, {sessions.FormatArrow, &out.arrow}} {
		if err := benchutil.ResetPeakRSS(pid); err != nil {
			return out, fmt.Errorf("reset the server's peak RSS: %w", err)
		}
		t, err := export(ctx, hc, srv.Base, key, start, to, f.format)
		if err != nil {
			return out, err
		}
		if t.rows != int64(n) {
			return out, fmt.Errorf("export %s of the synthetic sessions: %d rows, want %d", f.format, t.rows, n)
		}
		if *f.peak, err = benchutil.PeakRSS(pid); err != nil {
			return out, err
		}
	}
	return out, nil
}

// measureExportMemory adds rows synthetic sessions before the benchmark's
// range and measures the server's peak memory exporting a tenth of them,
// then all: the export holds a row (or a record batch) at a time, so the
// two peaks should be alike. It returns the larger peak of the full
// export, in MiB.
func measureExportMemory(ctx context.Context, pool *pgxpool.Pool, hc *http.Client, srv *benchutil.Server,
	tenantID int64, key string, rows int, before time.Time) (float64, error) {
	start := before.Add(-time.Duration(rows+1) * syntheticSpacing).Truncate(time.Hour)
	began := time.Now()
	if err := addSyntheticSessions(ctx, pool, tenantID, rows, start); err != nil {
		return 0, err
	}
	fmt.Printf("memory:  %d synthetic priced sessions (copies of the priced ones) inserted in %.1f s\n", rows, time.Since(began).Seconds())
	small, err := exportMemory(ctx, hc, srv, key, start, max(1, rows/10))
	if err != nil {
		return 0, err
	}
	full, err := exportMemory(ctx, hc, srv, key, start, rows)
	if err != nil {
		return 0, err
	}
	fmt.Printf("memory:  server peak RSS while exporting %s; %s\n", small, full)
	return float64(max(full.ndjson, full.arrow)) / (1 << 20), nil
}
