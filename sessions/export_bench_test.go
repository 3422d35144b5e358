package sessions

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
)

// BenchmarkExport exports 50,000 priced sessions to io.Discard in each
// format, against a plain COPY (…) TO STDOUT of the same statement, the
// baseline of bench/billing; it reports rows/s and allocations per row.
func BenchmarkExport(b *testing.B) {
	const n = 50_000
	pool := dbtest.New(b)
	ctx := context.Background()
	ten, err := auth.NewStore(pool).CreateTenant(ctx, "bench", false)
	if err != nil {
		b.Fatal(err)
	}
	srcs := sources.NewStore(pool)
	site := "depot-1"
	src, err := srcs.Create(ctx, ten.ID, sources.NewSource{ExternalID: "CB-1/1", Kind: sources.KindConnector, SiteID: &site})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (public_id, tenant_id, source_id, charge_box_id, external_id, protocol,
			id_tag, status, start_time, stop_time, meter_start, meter_stop, stop_reason, tariff_ref, currency,
			energy_kwh, charging_hours, parking_hours, total_excl_vat, total_incl_vat, price_count, priced_at, updated_at, change_seq)
		SELECT 'ses_' || md5(g::text), $1, $2, 'CB-1', g::text, 'ocpp1.6', 'TAG' || g % 500, 'priced', t, t + interval '97 min 13.25 s',
			1000000 + g * 13.5, 1000000 + g * 13.5 + 23456.5, 'EVDisconnected', 'tar_0123456789abcdef0123@1', 'EUR',
			round((23456.5 + g % 1000) / 1000, 6), 1.620347, round((g % 50) / 60.0, 6), round(11.9 + g % 100 / 7.0, 2),
			round((11.9 + g % 100 / 7.0) * 1.19, 2), 1, t + interval '2 hours', t + interval '2 hours', nextval('session_changes')
		FROM generate_series(1, $3) g, LATERAL (SELECT $4::timestamptz + g * interval '1 min' AS t) x`,
		ten.ID, src.ID, n, t0); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE sessions"); err != nil {
		b.Fatal(err)
	}
	svc := NewService(pool, nil, nil, nil, Config{})
	filter := Filter{From: t0, To: t0.Add(n * 2 * time.Minute)}
	copySQL := fmt.Sprintf(`COPY (%s WHERE s.tenant_id = %d AND s.status = 'priced' AND s.start_time >= '%s'
		AND s.start_time < '%s' ORDER BY s.start_time, s.id) TO STDOUT`, exportSelect, ten.ID,
		filter.From.Format(time.RFC3339), filter.To.Format(time.RFC3339))
	b.Run("copy_text", func(b *testing.B) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Release()
		for b.Loop() {
			if _, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, copySQL); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	for _, f := range []ExportFormat{FormatNDJSON, FormatCSV, FormatArrow} {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := svc.Export(ctx, ten.ID, filter, f, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
