package query

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
)

// dbNow is the fixed clock of the database tests; data spans the days
// before it, across London's fall back (2025-10-26) and New York's
// (2025-11-02).
var dbNow = time.Date(2025, 11, 3, 12, 7, 0, 0, time.UTC)

// fixture is a migrated database with one tenant, a service on it and a
// rollup runner whose clock is dbNow.
type fixture struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	svc    *Service
	src    *sources.Store
	runner *rollups.Runner
	tenant int64
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	pool := dbtest.New(t)
	ctx := context.Background()
	ten, err := auth.NewStore(pool).CreateTenant(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	st := sources.NewStore(pool)
	metrics, err := st.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := rollups.NewRunner(pool, rollups.Config{}, log, rollups.NewMetrics(nil))
	r.Now = func() time.Time { return dbNow }
	return fixture{ctx: ctx, pool: pool, svc: NewService(pool, st, metrics, Config{Logger: log}), src: st, runner: r, tenant: ten.ID}
}

func (f fixture) source(t *testing.T, externalID, kind, site, tz string) sources.Source {
	t.Helper()
	n := sources.NewSource{ExternalID: externalID, Kind: sources.Kind(kind), Timezone: tz}
	if site != "" {
		n.SiteID = &site
	}
	s, err := f.src.Create(f.ctx, f.tenant, n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f fixture) insert(t *testing.T, sourceID int64, metric string, samples []sample) {
	t.Helper()
	m := f.svc.byName[metric]
	_, err := f.pool.CopyFrom(f.ctx, pgx.Identifier{"readings"}, []string{"time", "source_id", "metric", "value"},
		pgx.CopyFromSlice(len(samples), func(i int) ([]any, error) {
			return []any{time.UnixMicro(samples[i].t), sourceID, m.ID, samples[i].v}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
}

// late writes rows the way ingest writes late data: upserted, with an
// invalidation for the rollups.
func (f fixture) late(t *testing.T, sourceID int64, metric string, samples []sample) {
	t.Helper()
	m := f.svc.byName[metric]
	for _, s := range samples {
		_, err := f.pool.Exec(f.ctx, `INSERT INTO readings (time, source_id, metric, value) VALUES ($1, $2, $3, $4)
			ON CONFLICT (source_id, metric, time) DO UPDATE SET value = EXCLUDED.value`, time.UnixMicro(s.t), sourceID, m.ID, s.v)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.pool.Exec(f.ctx, `INSERT INTO rollup_invalidations (source_id, metric, earliest) VALUES ($1, $2, $3)
			ON CONFLICT (source_id, metric) DO UPDATE SET earliest = least(rollup_invalidations.earliest, EXCLUDED.earliest), updated_at = now()`,
			sourceID, m.ID, time.UnixMicro(s.t))
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (f fixture) refresh(t *testing.T) {
	t.Helper()
	for _, tier := range rollups.Tiers {
		if err := f.runner.Refresh(f.ctx, tier); err != nil {
			t.Fatal(err)
		}
	}
}

// downsample runs a downsampled query to the end.
func (f fixture) downsample(t *testing.T, q ReadingsQuery) ([]Row, Meta) {
	t.Helper()
	s, err := f.svc.Downsample(f.ctx, f.tenant, q)
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	var rows []Row
	err = s.Each(func(r Row) error {
		rows = append(rows, Row{Time: r.Time, Values: append([]float64(nil), r.Values...), Valid: append([]bool(nil), r.Valid...)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, s.Meta
}

func sameRows(a, b []Row) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d rows vs %d", len(a), len(b))
	}
	for i := range a {
		if !a[i].Time.Equal(b[i].Time) {
			return fmt.Errorf("row %d at %s vs %s", i, a[i].Time, b[i].Time)
		}
		for j := range a[i].Values {
			if a[i].Valid[j] != b[i].Valid[j] || !close9(a[i].Values[j], b[i].Values[j]) {
				return fmt.Errorf("row %d (%s) value %d: %v/%v vs %v/%v", i, a[i].Time, j, a[i].Values[j], a[i].Valid[j], b[i].Values[j], b[i].Valid[j])
			}
		}
	}
	return nil
}

func sameEnergy(a, b []EnergyRow) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d rows vs %d", len(a), len(b))
	}
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || close9(*x, *y)) }
	for i := range a {
		if !a[i].Time.Equal(b[i].Time) || !eq(a[i].ImportKWh, b[i].ImportKWh) || !eq(a[i].ExportKWh, b[i].ExportKWh) || a[i].Quality != b[i].Quality {
			return fmt.Errorf("row %d: %s %v %v %s vs %s %v %v %s", i, a[i].Time, deref(a[i].ImportKWh), deref(a[i].ExportKWh), a[i].Quality,
				b[i].Time, deref(b[i].ImportKWh), deref(b[i].ExportKWh), b[i].Quality)
		}
	}
	return nil
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestPlannerMatchesRaw: real tiers built by the rollups runner answer
// like raw readings, through the planner, for every bucket and zone — also
// while late data waits in the invalidation log, and after it is applied.
func TestPlannerMatchesRaw(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	meter := f.source(t, "M-1", "meter", "depot", "Europe/London")
	rng := rand.New(rand.NewPCG(11, 12))
	start, end := dbNow.Add(-6*24*time.Hour).UnixMicro(), dbNow.UnixMicro()
	f.insert(t, meter.ID, "energy_import", dedupe(genSeries(rng, start, end, true)))
	f.insert(t, meter.ID, "power_import", dedupe(genSeries(rng, start, end, false)))
	f.refresh(t)

	check := func(stage string) {
		t.Helper()
		tiersSeen := map[string]bool{}
		for _, zone := range propertyZones {
			for _, step := range []string{"15m", "1h", "1d", "1w"} {
				from := dbNow.Add(-5*24*time.Hour - 17*time.Minute)
				r := Range{From: from, To: dbNow.Add(-time.Hour), TZ: zone, Bucket: step}
				q := ReadingsQuery{Range: r, Source: meter.PublicID, Metric: "power_import", Agg: Aggs, Fill: FillNull}
				got, meta := f.downsample(t, q)
				q.RawOnly = true
				want, rawMeta := f.downsample(t, q)
				if err := sameRows(got, want); err != nil {
					t.Fatalf("%s: %s %s: tiers %v vs raw: %v", stage, zone, step, meta.Tiers, err)
				}
				if fmt.Sprint(rawMeta.Tiers) != "[raw]" {
					t.Fatalf("raw-only answer came from %v", rawMeta.Tiers)
				}
				for _, n := range meta.Tiers {
					tiersSeen[n] = true
				}

				eq := EnergyQuery{Range: r, Source: meter.PublicID}
				e, err := f.svc.Energy(f.ctx, f.tenant, eq)
				if err != nil {
					t.Fatal(err)
				}
				eq.RawOnly = true
				eraw, err := f.svc.Energy(f.ctx, f.tenant, eq)
				if err != nil {
					t.Fatal(err)
				}
				if err := sameEnergy(e.Rows, eraw.Rows); err != nil {
					t.Fatalf("%s: energy %s %s: tiers %v vs raw: %v", stage, zone, step, e.Meta.Tiers, err)
				}
				if e.Meta.ImportMethod != MethodCounter || e.Meta.ExportMethod != MethodNone || !close9(*e.Meta.TotalImportKWh, *eraw.Meta.TotalImportKWh) {
					t.Fatalf("energy meta %+v", e.Meta)
				}
			}
		}
		for _, tier := range []string{"15m", "1h", "1d", "raw"} {
			if !tiersSeen[tier] {
				t.Errorf("%s: no answer used %s (%v)", stage, tier, tiersSeen)
			}
		}
		sq := StatsQuery{Range: Range{From: dbNow.Add(-4 * 24 * time.Hour), To: dbNow}, Source: meter.PublicID}
		st, meta, err := f.svc.Stats(f.ctx, f.tenant, sq)
		if err != nil {
			t.Fatal(err)
		}
		sq.RawOnly = true
		stRaw, _, err := f.svc.Stats(f.ctx, f.tenant, sq)
		if err != nil {
			t.Fatal(err)
		}
		if !st.PeakTime.Equal(*stRaw.PeakTime) || *st.PeakPowerW != *stRaw.PeakPowerW || !close9(*st.EnergyKWh, *stRaw.EnergyKWh) ||
			st.SampleCount != stRaw.SampleCount || !close9(st.Completeness, stRaw.Completeness) || fmt.Sprint(meta.Tiers) == "[raw]" {
			t.Fatalf("%s: stats from %v\n%+v\nraw\n%+v", stage, meta.Tiers, st, stRaw)
		}
	}
	check("fresh tiers")

	// Late rows behind the watermarks: a new peak, a correction, a reset.
	late := []sample{
		{dbNow.Add(-3*24*time.Hour + 7*time.Minute).UnixMicro(), 99_000},
		{dbNow.Add(-2*24*time.Hour + 30*time.Second).UnixMicro(), 1},
	}
	f.late(t, meter.ID, "power_import", late)
	f.late(t, meter.ID, "energy_import", []sample{{dbNow.Add(-4*24*time.Hour + 90*time.Second).UnixMicro(), 3}})
	check("late data pending")
	if _, err := f.runner.ApplyInvalidations(f.ctx); err != nil {
		t.Fatal(err)
	}
	check("late data applied")
	st, _, err := f.svc.Stats(f.ctx, f.tenant, StatsQuery{Range: Range{From: dbNow.Add(-4 * 24 * time.Hour), To: dbNow}, Source: meter.PublicID})
	if err != nil || *st.PeakPowerW != 99_000 || !st.PeakTime.Equal(time.UnixMicro(late[0].t)) {
		t.Fatalf("peak %v at %v (err %v), want the late 99 kW at %s", *st.PeakPowerW, st.PeakTime, err, time.UnixMicro(late[0].t))
	}
}

// TestRawCursorUnderConcurrentIngest pages through raw readings while rows
// keep arriving: no reading is served twice, and every reading after the
// cursor when a page is read is served.
func TestRawCursorUnderConcurrentIngest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	meter := f.source(t, "M-1", "meter", "", "UTC")
	from := dbNow.Add(-24 * time.Hour)
	var initial []sample
	for i := range 2500 {
		initial = append(initial, sample{from.Add(time.Duration(i) * 30 * time.Second).UnixMicro(), float64(i)})
	}
	f.insert(t, meter.ID, "power_import", initial)

	q := ReadingsQuery{Range: Range{From: from, To: dbNow}, Source: meter.PublicID, Metric: "power_import", Limit: 1000}
	served := map[int64]int{}
	var order []int64
	behind := 0
	for page := 0; ; page++ {
		p, err := f.svc.Raw(f.ctx, f.tenant, q)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = p.Each(func(at time.Time, v float64) error {
			served[at.UnixMicro()]++
			order = append(order, at.UnixMicro())
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n > q.Limit {
			t.Fatalf("page %d holds %d rows, limit %d", page, n, q.Limit)
		}
		if p.NextCursor == "" {
			break
		}
		// Between pages: a row ahead of the cursor (must come), one behind
		// it (inherently not seen by this pull), one exactly on it (an
		// update of a served row: not served again).
		last := order[len(order)-1]
		f.insert(t, meter.ID, "power_import", []sample{{last + 7, -1}, {last - 3, -2}})
		behind++
		if _, err := f.pool.Exec(f.ctx, `UPDATE readings SET value = -3 WHERE time = $1`, time.UnixMicro(last)); err != nil {
			t.Fatal(err)
		}
		q.Cursor = p.NextCursor
	}
	for at, n := range served {
		if n != 1 {
			t.Fatalf("reading at %d served %d times", at, n)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("out of order at %d", i)
		}
	}
	var total int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM readings`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if len(served) != total-behind {
		t.Fatalf("served %d readings; %d are stored, %d of them written behind the cursor", len(served), total, behind)
	}
}

func TestSiteEnergyAndLatest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	meter := f.source(t, "GRID-1", "meter", "depot", "Europe/Berlin")
	charger := f.source(t, "CB-1", "charger", "depot", "Europe/Berlin")
	conn, err := f.src.Create(f.ctx, f.tenant, sources.NewSource{ExternalID: "CB-1/1", Kind: sources.KindConnector, SiteID: ptr("depot"), Parent: ptr(charger.PublicID), Timezone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2025, 10, 1, 0, 0, 0, 0, mustZone(t, "Europe/Berlin"))
	var counter, power, connPower []sample
	for i := range 4*24*4 + 1 { // 15-minute samples for four days
		at := from.Add(time.Duration(i) * 15 * time.Minute).UnixMicro()
		counter = append(counter, sample{at, 1000 * float64(i)}) // 4 kWh an hour
		power = append(power, sample{at, 2000})                  // 2 kW
		connPower = append(connPower, sample{at, 500})
	}
	f.insert(t, meter.ID, "energy_import", counter)
	f.insert(t, charger.ID, "power_import", power)
	f.insert(t, conn.ID, "power_import", connPower)

	r := Range{From: from, To: from.Add(48 * time.Hour), Bucket: "1d"}
	e, err := f.svc.SiteEnergy(f.ctx, f.tenant, SiteEnergyQuery{Range: r, Site: "depot", Breakdown: true})
	if err != nil {
		t.Fatal(err)
	}
	// Per day: the meter 96 kWh, the charger 48; its connector is inside it.
	if len(e.Rows) != 2 || !close9(*e.Rows[0].ImportKWh, 144) || e.Rows[0].ExportKWh != nil || e.Rows[0].Quality != Complete ||
		len(e.Breakdown) != 2 || e.Meta.TZ != "Europe/Berlin" || len(e.Meta.Sources) != 2 {
		t.Fatalf("site energy %+v %+v", e.Rows, e.Meta)
	}
	e, err = f.svc.SiteEnergy(f.ctx, f.tenant, SiteEnergyQuery{Range: r, Site: "depot", Kind: "connector"})
	if err != nil || !close9(*e.Rows[1].ImportKWh, 12) {
		t.Fatalf("connectors: %+v, %v", e, err)
	}
	if _, err := f.svc.SiteEnergy(f.ctx, f.tenant, SiteEnergyQuery{Range: r, Site: "nowhere"}); api.AsError(err) == nil || api.AsError(err).Code != api.CodeNotFound {
		t.Fatalf("unknown site: %v", err)
	}

	if _, err := f.pool.Exec(f.ctx, `INSERT INTO latest_readings (source_id, metric, time, value) VALUES ($1, 3, $2, 2000), ($1, 1, $2, 5), ($3, 3, $2, 500)`,
		charger.ID, from, conn.ID); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Latest(f.ctx, f.tenant, []string{charger.PublicID, conn.PublicID}, []string{"power_import"})
	if err != nil || len(got) != 2 || got[0].Unit != "W" || got[0].Metric != "power_import" {
		t.Fatalf("latest %+v, %v", got, err)
	}
	other, err := auth.NewStore(f.pool).CreateTenant(f.ctx, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Latest(f.ctx, other.ID, []string{charger.PublicID}, nil); api.AsError(err) == nil || api.AsError(err).Code != api.CodeNotFound {
		t.Fatalf("another tenant's source: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
