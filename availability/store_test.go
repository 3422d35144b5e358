package availability_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/availability"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
)

// fixture is one test's database: a tenant with a charge box in site
// "depot" and two connectors registered without a site, the way
// auto-registration leaves them.
type fixture struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	st     *availability.Store
	svc    *availability.Service
	tenant int64
	box    sources.Source
	c1, c2 sources.Source
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	pool := dbtest.New(t)
	ctx := context.Background()
	ten, err := auth.NewStore(pool).CreateTenant(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	src := sources.NewStore(pool)
	create := func(n sources.NewSource) sources.Source {
		s, err := src.Create(ctx, ten.ID, n)
		if err != nil {
			t.Fatalf("create %s: %v", n.ExternalID, err)
		}
		return s
	}
	site, boxID := "depot", "CB-1"
	f := fixture{ctx: ctx, pool: pool, st: availability.NewStore(pool), tenant: ten.ID}
	f.box = create(sources.NewSource{ExternalID: boxID, Kind: sources.KindCharger, SiteID: &site, Timezone: "Europe/Berlin"})
	f.c1 = create(sources.NewSource{ExternalID: "CB-1/1", Kind: sources.KindConnector, Parent: &boxID, Timezone: "Europe/Berlin"})
	f.c2 = create(sources.NewSource{ExternalID: "CB-1/2", Kind: sources.KindConnector, Parent: &boxID, Timezone: "Europe/Berlin"})
	f.svc = &availability.Service{Recorder: f.st, Reader: f.st, Sources: src, Resolver: sources.NewResolver(src),
		Config: availability.Config{PageSize: 2}} // pages of two: every read below crosses pages
	return f
}

func (f fixture) record(t *testing.T, id int64, state, when string) {
	t.Helper()
	if err := f.st.Record(f.ctx, f.tenant, id, state, mustTime(t, when)); err != nil {
		t.Fatalf("record %s at %s: %v", state, when, err)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRecordValidates(t *testing.T) {
	f := newFixture(t)
	other, err := auth.NewStore(f.pool).CreateTenant(f.ctx, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name     string
		tenant   int64
		source   int64
		state    string
		at       time.Time
		wantCode api.Code
		wantMsg  string
	}{
		{"unknown state", f.tenant, f.c1.ID, "Broken", now, api.CodeValidation, `state: "Broken" is not a state`},
		{"state names are exact", f.tenant, f.c1.ID, "available", now, api.CodeValidation, "is not a state"},
		{"no time", f.tenant, f.c1.ID, "Available", time.Time{}, api.CodeValidation, "time: is required"},
		{"before 2000", f.tenant, f.c1.ID, "Available", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), api.CodeValidation, "before 2000"},
		{"future", f.tenant, f.c1.ID, "Available", now.Add(time.Hour), api.CodeValidation, "in the future"},
		{"another tenant's source", other.ID, f.c1.ID, "Available", now, api.CodeNotFound, "not found"},
		{"no such source", f.tenant, 1 << 40, "Online", now, api.CodeNotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.st.Record(f.ctx, tt.tenant, tt.source, tt.state, tt.at)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tt.wantCode || !strings.Contains(ae.Message, tt.wantMsg) {
				t.Fatalf("err %v, want %s containing %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM availability_changes`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d changes stored (err %v), want none", n, err)
	}
}

// Changes recorded out of order and resent are read back once each, in
// time order, across pages; the state at from is the last change before it.
func TestChangesOrderedAndIdempotent(t *testing.T) {
	f := newFixture(t)
	f.record(t, f.c1.ID, "Charging", "2025-01-01T10:00:00Z")
	f.record(t, f.c1.ID, "Available", "2025-01-01T08:00:00Z") // late
	f.record(t, f.box.ID, availability.Offline, "2025-01-01T11:00:00Z")
	f.record(t, f.c1.ID, "Finishing", "2025-01-01T12:00:00Z")
	f.record(t, f.c1.ID, "Charging", "2025-01-01T10:00:00Z") // resent
	f.record(t, f.box.ID, availability.Online, "2025-01-01T11:30:00Z")
	f.record(t, f.box.ID, "Faulted", "2025-01-01T11:45:00Z") // the box's own status: not the connector's
	f.record(t, f.c2.ID, "Faulted", "2025-01-01T11:50:00Z")  // another connector
	f.record(t, f.c1.ID, "Preparing", "2025-01-01T07:00:00Z")
	f.record(t, f.c1.ID, "Available", "2025-01-01T13:00:00Z")
	f.record(t, f.c1.ID, "Faulted", "2025-01-01T13:00:00Z") // a correction at the same instant wins

	var got []string
	n, err := f.st.Changes(f.ctx, f.c1.ID, &f.box.ID, mustTime(t, "2025-01-01T09:00:00Z"), mustTime(t, "2025-01-01T14:00:00Z"), 2, 100,
		func(c availability.Change) error {
			got = append(got, c.Time.UTC().Format("15:04")+" "+c.State)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := "08:00 Available, 10:00 Charging, 11:00 Offline, 11:30 Online, 12:00 Finishing, 13:00 Faulted"
	if strings.Join(got, ", ") != want || n != 5 {
		t.Fatalf("read %d in range: %s\nwant 5: %s", n, strings.Join(got, ", "), want)
	}

	_, err = f.st.Changes(f.ctx, f.c1.ID, &f.box.ID, mustTime(t, "2025-01-01T09:00:00Z"), mustTime(t, "2025-01-01T14:00:00Z"), 2, 4,
		func(availability.Change) error { return nil })
	var tooMany availability.ErrTooManyChanges
	if !errors.As(err, &tooMany) || tooMany.Limit != 4 {
		t.Fatalf("err %v with a limit of 4 below 5 changes, want ErrTooManyChanges", err)
	}
}

func TestAvailabilityAnswers(t *testing.T) {
	f := newFixture(t)
	f.record(t, f.c1.ID, "Available", "2025-03-29T12:00:00Z")
	f.record(t, f.c1.ID, "Charging", "2025-03-30T06:00:00Z") // 08:00 CEST
	f.record(t, f.c1.ID, "Available", "2025-03-30T08:00:00Z")
	f.record(t, f.box.ID, availability.Offline, "2025-03-30T10:00:00Z")
	f.record(t, f.box.ID, availability.Online, "2025-03-30T13:00:00Z")
	f.record(t, f.c2.ID, "Faulted", "2025-03-30T00:00:00Z")
	r := query.Range{From: mustTime(t, "2025-03-29T23:00:00Z"), To: mustTime(t, "2025-03-31T22:00:00Z"), Bucket: "1d"}

	a, err := f.svc.Source(f.ctx, f.tenant, f.c1.PublicID, r)
	if err != nil {
		t.Fatal(err)
	}
	// The connector's zone: Berlin days, the first of 23 hours.
	if a.Meta.TZ != "Europe/Berlin" || len(a.Rows) != 2 || a.Meta.Changes != 4 {
		t.Fatalf("meta %+v, %d rows; want Europe/Berlin, 2 days, 4 changes", a.Meta, len(a.Rows))
	}
	d := a.Rows[0]
	if d.Seconds["Charging"] != 7200 || d.Seconds["Available"] != 18*3600 || d.OfflineSeconds != 3*3600 || d.UnknownSeconds != 3*3600 {
		t.Fatalf("30 March: %+v", d)
	}
	if d.KnownSeconds+d.UnknownSeconds != 23*3600 || *d.AvailabilityPct != 100 {
		t.Fatalf("30 March: %+v", d)
	}

	site, err := f.svc.Site(f.ctx, f.tenant, "depot", r)
	if err != nil {
		t.Fatal(err)
	}
	if len(site.Meta.Connectors) != 2 || site.Meta.TZ != "Europe/Berlin" {
		t.Fatalf("site meta %+v", site.Meta)
	}
	s := site.Rows[1] // 31 March: c1 available all day, c2 faulted all day
	if s.AvailableSeconds != 24*3600 || s.Seconds["Faulted"] != 24*3600 || *s.AvailabilityPct != 50 {
		t.Fatalf("site, 31 March: %+v", s)
	}

	r.Bucket = "15m"
	r.To = r.From.Add(101 * time.Hour) // 404 buckets
	_, err = f.svc.Source(f.ctx, f.tenant, f.c1.PublicID, r)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeValidation || ae.Details.(map[string]any)["max_buckets"] != 400 {
		t.Fatalf("404 buckets: err %v, want a VALIDATION_ERROR with max_buckets 400", err)
	}
	if _, err := f.svc.Site(f.ctx, f.tenant, "nowhere", r); !errors.As(err, &ae) || ae.Code != api.CodeNotFound {
		t.Fatalf("unknown site: err %v, want NOT_FOUND", err)
	}

	f.svc.Config.MaxSiteConnectors = 1
	if _, err := f.svc.Site(f.ctx, f.tenant, "depot", r); !errors.As(err, &ae) || ae.Details.(map[string]any)["max_connectors"] != 1 {
		t.Fatalf("2 connectors over a limit of 1: err %v, want a VALIDATION_ERROR with max_connectors", err)
	}
	f.svc.Config.MaxSiteConnectors = 0

	f.svc.Config.MaxChanges = 3
	r = query.Range{From: mustTime(t, "2025-03-29T23:00:00Z"), To: mustTime(t, "2025-03-31T22:00:00Z")}
	if _, err := f.svc.Site(f.ctx, f.tenant, "depot", r); !errors.As(err, &ae) || ae.Details.(map[string]any)["max_changes"] != 3 {
		t.Fatalf("5 changes over a limit of 3: err %v, want a VALIDATION_ERROR with max_changes", err)
	}
}

// On TimescaleDB the changes are a hypertable, like readings.
func TestHypertable(t *testing.T) {
	f := newFixture(t)
	var backend bool
	if err := f.pool.QueryRow(f.ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	if !backend {
		if dbtest.ExpectedBackend() == schema.BackendTimescaleDB {
			t.Fatal("TimescaleDB expected but not installed")
		}
		t.Skip("plain PostgreSQL: availability_changes is a plain table")
	}
	var n int
	err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM timescaledb_information.hypertables
		WHERE hypertable_name = 'availability_changes' AND hypertable_schema = current_schema()`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("availability_changes is a hypertable: %d (err %v)", n, err)
	}
	f.record(t, f.c1.ID, "Available", "2025-01-01T00:00:00Z")
	f.record(t, f.c1.ID, "Faulted", "2025-01-01T00:00:00Z") // ON CONFLICT on a hypertable
}

// Deleting a source deletes its state changes, not its charge box's.
func TestDeleteSourceRemovesChanges(t *testing.T) {
	f := newFixture(t)
	f.record(t, f.c1.ID, "Available", "2025-01-01T00:00:00Z")
	f.record(t, f.box.ID, availability.Online, "2025-01-01T00:00:00Z")
	if err := sources.NewStore(f.pool).Delete(f.ctx, f.tenant, f.c1.PublicID); err != nil {
		t.Fatal(err)
	}
	var mine, box int
	err := f.pool.QueryRow(f.ctx, `SELECT count(*) FILTER (WHERE source_id = $1), count(*) FILTER (WHERE source_id = $2) FROM availability_changes`,
		f.c1.ID, f.box.ID).Scan(&mine, &box)
	if err != nil || mine != 0 || box != 1 {
		t.Fatalf("after deleting the connector: %d of its changes, %d of the box's (err %v); want 0 and 1", mine, box, err)
	}
}

// A chatty connector: thousands of changes, read in pages, answer what the
// fold of all of them in memory answers.
func TestChattyConnectorPages(t *testing.T) {
	f := newFixture(t)
	const n = 5000
	// A change every 7 s for about 10 h, cycling through statuses, with the
	// box dropping offline every 97th and back every 101st change.
	_, err := f.pool.Exec(f.ctx, `INSERT INTO availability_changes (time, tenant_id, source_id, kind, state)
		SELECT '2025-01-01T00:00:00Z'::timestamptz + i * interval '7 seconds', $1::bigint, $2::bigint, 'status',
			(ARRAY['Available','Preparing','Charging','SuspendedEV','Finishing','Faulted','Unavailable'])[1 + i % 7]
		FROM generate_series(0, $4::int - 1) AS i
		UNION ALL
		SELECT '2025-01-01T00:00:03Z'::timestamptz + i * interval '7 seconds', $1::bigint, $3::bigint, 'connection',
			CASE WHEN i % 97 = 0 THEN 'Offline' ELSE 'Online' END
		FROM generate_series(0, $4::int - 1) AS i WHERE i % 97 = 0 OR i % 101 = 0`, f.tenant, f.c1.ID, f.box.ID, n)
	if err != nil {
		t.Fatal(err)
	}
	var all []availability.Change
	rows, err := f.pool.Query(f.ctx, `SELECT time, source_id, kind, state FROM availability_changes`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c availability.Change
		var kind string
		if err := rows.Scan(&c.Time, &c.SourceID, &kind, &c.State); err != nil {
			t.Fatal(err)
		}
		c.Kind = availability.Kind(kind)
		all = append(all, c)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	r := query.Range{From: mustTime(t, "2025-01-01T01:00:00Z"), To: mustTime(t, "2025-01-01T12:00:00Z"), Bucket: "15m", TZ: "UTC"}
	f.svc.Config.PageSize = 333
	a, err := f.svc.Source(f.ctx, f.tenant, f.c1.PublicID, r)
	if err != nil {
		t.Fatal(err)
	}
	step, _ := query.ParseStep("15m")
	g, err := step.Grid(r.From, r.To, time.UTC, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := availability.Compute(g, all)
	for i := range want {
		if !equalBucket(a.Rows[i], want[i]) {
			t.Fatalf("bucket %d: read in pages %+v, folded in memory %+v", i, a.Rows[i], want[i])
		}
	}
	if a.Meta.Changes < 4000 {
		t.Fatalf("%d changes read, want the ~4 500 in range", a.Meta.Changes)
	}
}

func equalBucket(a, b availability.Bucket) bool {
	if len(a.Seconds) != len(b.Seconds) || a.UnknownSeconds != b.UnknownSeconds || a.OfflineSeconds != b.OfflineSeconds ||
		a.AvailableSeconds != b.AvailableSeconds || (a.AvailabilityPct == nil) != (b.AvailabilityPct == nil) ||
		a.AvailabilityPct != nil && *a.AvailabilityPct != *b.AvailabilityPct || !a.Time.Equal(b.Time) {
		return false
	}
	for k, v := range a.Seconds {
		if b.Seconds[k] != v {
			return false
		}
	}
	return true
}
