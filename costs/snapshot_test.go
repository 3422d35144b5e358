package costs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/costs"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// writeAfterFirstRead is MeterData whose snapshots commit more readings
// as soon as the first meter's energy has been read, as an ingest running
// beside the request would.
type writeAfterFirstRead struct {
	costs.MeterData
	write func()
}

func (w writeAfterFirstRead) Snapshot(ctx context.Context) (costs.MeterSnapshot, error) {
	sn, err := w.MeterData.Snapshot(ctx)
	return &interleaved{MeterSnapshot: sn, write: w.write}, err
}

type interleaved struct {
	costs.MeterSnapshot
	write func()
	reads int
}

func (i *interleaved) EnergyIntervals(q query.IntervalQuery) (*query.Energy, error) {
	e, err := i.MeterSnapshot.EnergyIntervals(q)
	if i.reads++; i.reads == 1 {
		i.write()
	}
	return e, err
}

// TestSiteCostReadsOneSnapshot: readings committed while a site's cost is
// read are seen by none of its members or by all of them, never by the
// members read after the write only.
func TestSiteCostReadsOneSnapshot(t *testing.T) {
	t.Parallel()
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
	var energy int16
	for _, m := range metrics {
		if m.Name == "energy_import" {
			energy = m.ID
		}
	}
	site := "depot"
	var meters []sources.Source
	for _, ext := range []string{"M-1", "M-2"} {
		s, err := st.Create(ctx, ten.ID, sources.NewSource{ExternalID: ext, Kind: sources.KindMeter, Timezone: "UTC", SiteID: &site})
		if err != nil {
			t.Fatal(err)
		}
		meters = append(meters, s)
	}
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// Each meter's register: 0 Wh at midnight, 1000 at 01:00; the write
	// adds 3000 at 02:00.
	for _, m := range meters {
		insertWh(t, pool, m.ID, energy, day, 0)
		insertWh(t, pool, m.ID, energy, day.Add(time.Hour), 1000)
	}
	tf, err := tariffs.ParseTariff([]byte(`{"country_code":"NL","party_id":"GMX","id":"flat","currency":"EUR","start_date_time":"2020-01-01T00:00:00Z",
	  "elements":[{"price_components":[{"type":"ENERGY","price":1.00,"step_size":0}]}],"gridmetrics":{"kind":"supply","timezone":"UTC"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tariffStore := tariffs.NewStore(pool)
	stored, err := tariffStore.Create(ctx, ten.ID, tf)
	if err != nil {
		t.Fatal(err)
	}
	req := costs.Request{From: day, To: day.Add(3 * time.Hour), Bucket: costs.BucketDay, TariffID: stored.PublicID, Breakdown: true}
	plain := costs.QueryMeters{Query: query.NewService(pool, st, metrics, query.Config{})}
	svc := &costs.Service{Tariffs: tariffStore, Sources: st, Meters: plain}
	before, err := svc.SiteCost(ctx, ten.ID, site, req)
	if err != nil {
		t.Fatal(err)
	}
	wrote := false
	svc.Meters = writeAfterFirstRead{MeterData: plain, write: func() {
		for _, m := range meters {
			insertWh(t, pool, m.ID, energy, day.Add(2*time.Hour), 4000)
		}
		wrote = true
	}}
	during, err := svc.SiteCost(ctx, ten.ID, site, req)
	if err != nil {
		t.Fatal(err)
	}
	if !wrote {
		t.Fatal("the readings were never written")
	}
	svc.Meters = plain
	after, err := svc.SiteCost(ctx, ten.ID, site, req)
	if err != nil {
		t.Fatal(err)
	}
	if before.ImportKWh.Cmp(after.ImportKWh) == 0 {
		t.Fatalf("the write changed nothing (%s kWh): the test proves nothing", after.ImportKWh)
	}
	if during.ImportKWh.Cmp(before.ImportKWh) != 0 {
		for _, sh := range during.Buckets[0].Sources {
			t.Logf("%s: %s kWh", sh.Source, sh.ImportKWh)
		}
		t.Errorf("read during the write: %s kWh; before it %s, after it %s — a member read after the write saw it",
			during.ImportKWh, before.ImportKWh, after.ImportKWh)
	}
}

func insertWh(t *testing.T, pool *pgxpool.Pool, sourceID int64, metric int16, at time.Time, wh float64) {
	t.Helper()
	_, err := pool.CopyFrom(context.Background(), pgx.Identifier{"readings"}, []string{"time", "source_id", "metric", "value"},
		pgx.CopyFromRows([][]any{{at, sourceID, metric, wh}}))
	if err != nil {
		t.Fatal(err)
	}
}
