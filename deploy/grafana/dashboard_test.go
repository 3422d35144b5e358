package grafana

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sessions"
	"github.com/gridmetrics/gridmetrics/sources"
)

// dashboard is the part of a Grafana dashboard this test reads.
type dashboard struct {
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      string `json:"query"`
			Multi      bool   `json:"multi"`
			IncludeAll bool   `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID       int    `json:"id"`
		Title    string `json:"title"`
		Interval string `json:"interval"`
		Targets  []struct {
			RefID  string `json:"refId"`
			Format string `json:"format"`
			RawSQL string `json:"rawSql"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("dashboards/gridmetrics.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboards/gridmetrics.json: %v", err)
	}
	return d
}

// The test's days (UTC). The rollups are refreshed at rollupNow, so day0
// and day1 are read from daily rollups, day2 from hourly ones until noon,
// 15-minute ones until 12:45 and raw readings after; day3 is raw only.
var (
	day0      = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day1      = day0.Add(24 * time.Hour)
	day2      = day0.Add(48 * time.Hour)
	day3      = day0.Add(72 * time.Hour)
	rollupNow = day2.Add(13*time.Hour + 7*time.Minute)
)

type sample struct {
	at time.Time
	v  float64
}

// fixture is a migrated database holding two tenants' sites, readings,
// rollups and sessions.
type fixture struct {
	ctx         context.Context
	pool        *pgxpool.Pool
	query       *query.Service
	acme, other auth.Tenant
	acmeID      int64
	chargerPub  string
	connPub     string
	// chargerPower is CB-1's power_import.
	chargerPower []sample
	timescaledb  bool
}

// newFixture builds the fixture; withRollups refreshes every tier before
// a late reading arrives, else no tier has a watermark yet.
func newFixture(t *testing.T, withRollups bool) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.New(t)
	tenants := auth.NewStore(pool)
	acme, err := tenants.CreateTenant(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tenants.CreateTenant(ctx, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	st := sources.NewStore(pool)
	metrics, err := st.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	metricID := map[string]int16{}
	for _, m := range metrics {
		metricID[m.Name] = m.ID
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fixture{ctx: ctx, pool: pool, acme: acme, other: other, acmeID: acme.ID,
		query: query.NewService(pool, st, metrics, query.Config{Logger: log})}
	// The data source's timescaledb option follows the backend: on
	// TimescaleDB the queries run as the compose stack's Grafana sends them.
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&f.timescaledb); err != nil {
		t.Fatal(err)
	}
	if want := dbtest.ExpectedBackend(); want != "" && f.timescaledb != (want == schema.BackendTimescaleDB) {
		t.Fatalf("timescaledb installed: %v; the run expects the %s backend", f.timescaledb, want)
	}

	source := func(tenant int64, ext, kind, name, site string, parent *string) sources.Source {
		t.Helper()
		s, err := st.Create(ctx, tenant, sources.NewSource{ExternalID: ext, Kind: sources.Kind(kind), Name: name, SiteID: &site, Parent: parent})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	insert := func(src sources.Source, metric string, samples []sample) {
		t.Helper()
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"readings"}, []string{"time", "source_id", "metric", "value"},
			pgx.CopyFromSlice(len(samples), func(i int) ([]any, error) {
				return []any{samples[i].at, src.ID, metricID[metric], samples[i].v}, nil
			}))
		if err != nil {
			t.Fatal(err)
		}
	}
	series := func(from, to time.Time, step time.Duration, value func(time.Time) (float64, bool)) []sample {
		var out []sample
		for at := from; !at.After(to); at = at.Add(step) {
			if v, ok := value(at); ok {
				out = append(out, sample{at, v})
			}
		}
		return out
	}
	end := day3.Add(6 * time.Hour)

	// acme's shop: one meter whose register grows 5 Wh a minute.
	shop := source(acme.ID, "METER-2", "meter", "Shop meter", "shop", nil)
	insert(shop, "energy_import", series(day0.Add(-24*time.Hour), end, 15*time.Minute, func(at time.Time) (float64, bool) {
		return 5 * at.Sub(day0.Add(-24*time.Hour)).Minutes(), true
	}))

	// acme's depot: a grid meter with a register that restarts and has a
	// gap across midnight, a charger with power only, its connector (inside
	// the charger: not a member of the site), a heat pump's meter with power
	// only, and a PV inverter that exports (power only).
	grid := source(acme.ID, "GRID-1", "meter", "Grid", "depot", nil)
	restart := day1.Add(12 * time.Hour)
	insert(grid, "energy_import", series(day0.Add(5*time.Minute), end, 10*time.Minute, func(at time.Time) (float64, bool) {
		switch {
		case at.After(day1.Add(18*time.Hour)) && at.Before(day2.Add(6*time.Hour)):
			return 0, false
		case !at.Before(restart):
			return 3.1 + 10.37*at.Sub(restart).Minutes(), true
		}
		return 50000.3 + 10.37*at.Sub(day0).Minutes(), true
	}))
	charger := source(acme.ID, "CB-1", "charger", "Charger 1", "depot", nil)
	f.chargerPub = charger.PublicID
	f.chargerPower = series(day0, day2.Add(18*time.Hour), time.Minute, func(at time.Time) (float64, bool) {
		switch h := at.Hour(); {
		case h == 8 || h == 9:
			return 11000, true
		case h == 12:
			return 7400.3, true
		case h == 16 && at.Minute() < 20:
			return 3680.27, true
		}
		return 0, true
	})
	insert(charger, "power_import", f.chargerPower)
	conn := source(acme.ID, "CB-1/1", "connector", "", "depot", &charger.PublicID)
	f.connPub = conn.PublicID
	insert(conn, "energy_import", series(day0, end, 5*time.Minute, func(at time.Time) (float64, bool) {
		return 7 * at.Sub(day0).Minutes(), true
	}))
	heat := source(acme.ID, "HEAT-1", "meter", "Heat pump", "depot", nil)
	insert(heat, "power_import", series(day0.Add(3*time.Hour), day3, 7*time.Minute, func(at time.Time) (float64, bool) {
		return 1200.1 + float64(at.Minute()%13)*0.7, true
	}))
	pv := source(acme.ID, "PV-1", "inverter", "Roof", "depot", nil)
	insert(pv, "power_export", series(day0.Add(6*time.Hour), day2.Add(18*time.Hour), 5*time.Minute, func(at time.Time) (float64, bool) {
		if h := at.Hour(); h >= 10 && h < 14 {
			return 3000.7, true
		}
		return 0, true
	}))

	// The other tenant has a site of the same name.
	otherGrid := source(other.ID, "GRID-9", "meter", "Grid", "depot", nil)
	insert(otherGrid, "energy_import", series(day0, end, 15*time.Minute, func(at time.Time) (float64, bool) {
		return at.Sub(day0).Minutes(), true
	}))
	otherConn := source(other.ID, "OC-1", "connector", "", "depot", nil)

	if withRollups {
		runner := rollups.NewRunner(pool, rollups.Config{}, log, rollups.NewMetrics(nil))
		runner.Now = func() time.Time { return rollupNow }
		for _, tier := range rollups.Tiers {
			if err := runner.Refresh(ctx, tier); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A late reading of the grid meter, waiting for re-aggregation: its
	// series is read from raw readings from that time on.
	late := day0.Add(10*time.Hour + 3*time.Minute)
	if _, err := pool.Exec(ctx, `INSERT INTO readings (time, source_id, metric, value) VALUES ($1, $2, $3, $4)`,
		late, grid.ID, metricID["energy_import"], 50000.3+10.37*late.Sub(day0).Minutes()+2.9); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO rollup_invalidations (source_id, metric, earliest) VALUES ($1, $2, $3)`,
		grid.ID, metricID["energy_import"], late); err != nil {
		t.Fatal(err)
	}

	// Sessions, through the session service as the API starts and stops
	// them.
	svc := sessions.NewService(pool, sources.NewResolver(st), nil, nil, sessions.Config{})
	session := func(tenant int64, connector, ext string, start time.Time, meterStart float64, stop time.Time, meterStop float64) {
		t.Helper()
		s, _, err := svc.Start(ctx, tenant, sessions.NewSession{Source: connector, ExternalID: ext, StartTime: start, MeterStart: &meterStart})
		if err != nil {
			t.Fatal(err)
		}
		if stop.IsZero() {
			return
		}
		if _, err := svc.Stop(ctx, tenant, s.PublicID, sessions.StopSession{StopTime: stop, MeterStop: &meterStop}); err != nil {
			t.Fatal(err)
		}
	}
	session(acme.ID, "CB-1/1", "s1", day0.Add(8*time.Hour), 1000, day0.Add(9*time.Hour+30*time.Minute), 17500)
	session(acme.ID, "CB-1/1", "s2", day0.Add(20*time.Hour), 20000, day1.Add(time.Hour), 30000)
	session(acme.ID, "CB-1/1", "s3", day1.Add(8*time.Hour), 31000, time.Time{}, 0)
	session(other.ID, otherConn.ExternalID, "o1", day0.Add(9*time.Hour), 0, day0.Add(10*time.Hour), 4000)
	return f
}

// run expands a dashboard query and returns its rows, each value read as
// pgx decodes it.
func (f *fixture) run(t *testing.T, e expansion, sql string) [][]any {
	t.Helper()
	e.timescaledb = f.timescaledb
	expanded, err := e.expand(sql)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.pool.Query(f.ctx, expanded)
	if err != nil {
		t.Fatalf("%s\n%v", expanded, err)
	}
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s\n%v", expanded, err)
	}
	return out
}

// number reads a numeric value of any of the types the queries return;
// ok is false for NULL.
func number(t *testing.T, v any) (float64, bool) {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return 0, false
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil {
			t.Fatal(err)
		}
		return f.Float64, f.Valid
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return 0, false
}

// instant reads a time column: a timestamptz, or epoch seconds as
// $__timeGroup gives them without TimescaleDB.
func instant(t *testing.T, v any) time.Time {
	t.Helper()
	if at, ok := v.(time.Time); ok {
		return at.UTC()
	}
	s, ok := number(t, v)
	if !ok {
		t.Fatalf("time is NULL")
	}
	return time.Unix(0, int64(math.Round(s*1e9))).UTC()
}

func (f *fixture) vars(sites ...string) map[string]variable {
	return map[string]variable{
		"tenant":  {values: []string{f.acme.PublicID}},
		"site":    {values: sites, multi: true},
		"charger": {values: []string{f.chargerPub}},
	}
}

// TestDashboardQueries runs every variable and panel query of the
// dashboard against known data and checks the rows.
func TestDashboardQueries(t *testing.T) {
	d := loadDashboard(t)
	f := newFixture(t, true)

	varChecks := map[string]func(t *testing.T, sql string){
		"tenant": func(t *testing.T, sql string) {
			got := f.run(t, expansion{from: day0, to: day3}, sql)
			want := [][2]string{{"acme", f.acme.PublicID}, {"other", f.other.PublicID}}
			checkPairs(t, got, want)
		},
		"site": func(t *testing.T, sql string) {
			got := f.run(t, expansion{from: day0, to: day3, vars: f.vars()}, sql)
			if len(got) != 2 || got[0][0] != "depot" || got[1][0] != "shop" {
				t.Errorf("sites %v, want depot and shop", got)
			}
		},
		"charger": func(t *testing.T, sql string) {
			got := f.run(t, expansion{from: day0, to: day3, vars: f.vars("depot", "shop")}, sql)
			checkPairs(t, got, [][2]string{{"CB-1/1", f.connPub}, {"Charger 1", f.chargerPub}})
			got = f.run(t, expansion{from: day0, to: day3, vars: f.vars("shop")}, sql)
			if len(got) != 0 {
				t.Errorf("chargers of the shop: %v, want none", got)
			}
		},
	}
	for _, v := range d.Templating.List {
		check, ok := varChecks[v.Name]
		if !ok {
			t.Errorf("variable %q has no check in this test", v.Name)
			continue
		}
		if v.Type != "query" || v.Query == "" {
			t.Errorf("variable %q: type %q with query %q, want an SQL query", v.Name, v.Type, v.Query)
			continue
		}
		if (v.Name == "site") != (v.Multi || v.IncludeAll) {
			t.Errorf("variable %q: multi %v, includeAll %v; the queries quote only site as a list", v.Name, v.Multi, v.IncludeAll)
		}
		t.Run("variable "+v.Name, func(t *testing.T) { check(t, v.Query) })
	}

	panelChecks := map[int]func(t *testing.T, sql string){
		1: f.checkEnergy,
		2: f.checkPower,
		3: f.checkSessions,
	}
	for _, p := range d.Panels {
		check, ok := panelChecks[p.ID]
		if !ok {
			t.Errorf("panel %d %q has no check in this test", p.ID, p.Title)
			continue
		}
		if len(p.Targets) != 1 || p.Targets[0].RawSQL == "" {
			t.Errorf("panel %d %q: want one SQL target, got %d", p.ID, p.Title, len(p.Targets))
			continue
		}
		t.Run(p.Title, func(t *testing.T) { check(t, p.Targets[0].RawSQL) })
	}
}

func checkPairs(t *testing.T, got [][]any, want [][2]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for i, w := range want {
		if len(got[i]) != 2 || got[i][0] != w[0] || got[i][1] != w[1] {
			t.Errorf("row %d: %v, want %v", i, got[i], w)
		}
	}
}

// checkEnergy compares the energy panel with the API's site energy, day
// by day and bit for bit, and one day with its value worked out by hand.
func (f *fixture) checkEnergy(t *testing.T, sql string) {
	got := f.run(t, expansion{from: day0, to: day3, vars: f.vars("depot", "shop")}, sql)
	f.compareEnergy(t, got, []string{"1d", "1h", "15m", "raw"})
	// The shop's register grows 5 Wh a minute: 7.2 kWh a day, nothing
	// exported.
	shop := got[0]
	for _, r := range got {
		if r[1] == "shop" && instant(t, r[0]).Equal(day1) {
			shop = r
		}
	}
	if v, _ := number(t, shop[2]); shop[1] != "shop" || math.Abs(v-7.2) > 1e-9 || shop[3] != nil {
		t.Errorf("shop on day 1: %v, want 7.2 kWh imported and export NULL", shop)
	}
}

// compareEnergy compares rows of the energy panel over [day0, day3] with
// the API's answer for the same days, which must have read the depot from
// the tiers named.
func (f *fixture) compareEnergy(t *testing.T, got [][]any, tiers []string) {
	t.Helper()
	type row struct{ imp, exp *float64 }
	view := map[string]map[time.Time]row{}
	for _, r := range got {
		if len(r) != 4 {
			t.Fatalf("row %v: want time, metric, import_kwh, export_kwh", r)
		}
		at, site := instant(t, r[0]), r[1].(string)
		if at.Before(day0) || at.After(day3) {
			t.Errorf("%s %s: outside the dashboard's range", site, at)
		}
		var out row
		if v, ok := number(t, r[2]); ok {
			out.imp = &v
		}
		if v, ok := number(t, r[3]); ok {
			out.exp = &v
		}
		if view[site] == nil {
			view[site] = map[time.Time]row{}
		}
		view[site][at] = out
	}
	for _, site := range []string{"depot", "shop"} {
		api, err := f.query.SiteEnergy(f.ctx, f.acmeID, query.SiteEnergyQuery{Site: site,
			Range: query.Range{From: day0, To: day3.Add(24 * time.Hour), TZ: "UTC", Bucket: "1d"}})
		if err != nil {
			t.Fatal(err)
		}
		if site == "depot" && strings.Join(api.Meta.Tiers, " ") != strings.Join(tiers, " ") {
			t.Errorf("the API read the depot from %v; the data should make it read %v", api.Meta.Tiers, tiers)
		}
		for _, w := range api.Rows {
			g, ok := view[site][w.Time.UTC()]
			if !ok {
				t.Errorf("%s %s: no row; the API has import %v, export %v", site, w.Time, show(w.ImportKWh), show(w.ExportKWh))
				continue
			}
			if !same(g.imp, w.ImportKWh) || !same(g.exp, w.ExportKWh) {
				t.Errorf("%s %s: import %s, export %s; the API has %s, %s", site, w.Time,
					show(g.imp), show(g.exp), show(w.ImportKWh), show(w.ExportKWh))
			}
			delete(view[site], w.Time.UTC())
		}
		for at := range view[site] {
			t.Errorf("%s %s: a row the API does not have", site, at)
		}
	}
}

// TestSiteEnergyBeforeRollups compares the energy panel with the API
// before any tier has a watermark: both read raw readings only.
func TestSiteEnergyBeforeRollups(t *testing.T) {
	d := loadDashboard(t)
	f := newFixture(t, false)
	for _, p := range d.Panels {
		if p.ID == 1 {
			got := f.run(t, expansion{from: day0, to: day3, vars: f.vars("depot", "shop")}, p.Targets[0].RawSQL)
			f.compareEnergy(t, got, []string{"raw"})
			return
		}
	}
	t.Fatal("no energy panel (id 1)")
}

func same(a, b *float64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func show(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// checkPower compares the power panel with the mean and peak of the
// charger's samples per group, at the panel's minimum interval and at an
// hour, across the 15-minute rollups and the raw readings after them.
func (f *fixture) checkPower(t *testing.T, sql string) {
	from, to := day2.Add(6*time.Hour), day2.Add(18*time.Hour)
	for _, interval := range []time.Duration{15 * time.Minute, time.Hour} {
		type agg struct {
			n        int
			sum, max float64
		}
		want := map[time.Time]*agg{}
		for _, s := range f.chargerPower {
			// The view's 15-minute buckets are what the time filter sees.
			if b := s.at.Truncate(15 * time.Minute); b.Before(from) || b.After(to) {
				continue
			}
			g := s.at.Truncate(interval)
			a := want[g]
			if a == nil {
				a = &agg{max: math.Inf(-1)}
				want[g] = a
			}
			a.n++
			a.sum += s.v
			a.max = math.Max(a.max, s.v)
		}
		got := f.run(t, expansion{from: from, to: to, interval: interval, vars: f.vars("depot")}, sql)
		if len(got) != len(want) {
			t.Errorf("every %s: %d rows, want %d", interval, len(got), len(want))
		}
		var prev time.Time
		for _, r := range got {
			at := instant(t, r[0])
			if !at.After(prev) {
				t.Errorf("every %s: %s does not follow %s", interval, at, prev)
			}
			prev = at
			w, ok := want[at]
			if !ok {
				t.Errorf("every %s: unexpected row %s", interval, at)
				continue
			}
			avg, _ := number(t, r[1])
			peak, _ := number(t, r[2])
			if math.Abs(avg-w.sum/float64(w.n)) > 1e-9 || peak != w.max {
				t.Errorf("every %s at %s: avg %v peak %v, want %v and %v", interval, at, avg, peak, w.sum/float64(w.n), w.max)
			}
		}
	}
}

// checkSessions checks the sessions panel: acme's sessions by the day they
// started, the other tenant's left out.
func (f *fixture) checkSessions(t *testing.T, sql string) {
	got := f.run(t, expansion{from: day0, to: day3, vars: f.vars("depot", "shop")}, sql)
	want := []struct {
		at                        time.Time
		sessions, stopped, energy float64
	}{
		{day0, 2, 2, 16.5 + 10},
		{day1, 1, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %d", got, len(want))
	}
	for i, w := range want {
		r := got[i]
		n, _ := number(t, r[1])
		stopped, _ := number(t, r[2])
		e, _ := number(t, r[3])
		if at := instant(t, r[0]); !at.Equal(w.at) || n != w.sessions || stopped != w.stopped || math.Abs(e-w.energy) > 1e-9 {
			t.Errorf("row %d: %s %v sessions, %v stopped, %v kWh; want %s %v, %v, %v", i, at, n, stopped, e, w.at, w.sessions, w.stopped, w.energy)
		}
	}
}

// TestProvisioningAgrees checks that the pieces Grafana puts together name
// each other: every data source reference of the dashboard is the
// provisioned data source, and docker-compose.yml mounts the provisioning
// and the dashboards where the provider looks for them.
func TestProvisioningAgrees(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	field := func(text, key string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^\s*` + key + `:\s*(\S+)\s*$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s: line in\n%s", key, text)
		}
		return m[1]
	}
	ds := read("provisioning/datasources/gridmetrics.yml")
	uid, typ := field(ds, "uid"), field(ds, "type")

	var refs []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["datasource"].(map[string]any); ok {
				refs = append(refs, r)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var dash any
	if err := json.Unmarshal([]byte(read("dashboards/gridmetrics.json")), &dash); err != nil {
		t.Fatal(err)
	}
	walk(dash)
	if len(refs) == 0 {
		t.Fatal("the dashboard names no data source")
	}
	for _, r := range refs {
		if r["uid"] != uid || r["type"] != typ {
			t.Errorf("data source %v, want uid %q of type %q", r, uid, typ)
		}
	}

	path := field(read("provisioning/dashboards/gridmetrics.yml"), "path")
	compose := read("../../docker-compose.yml")
	for _, mount := range []string{
		"./deploy/grafana/provisioning:/etc/grafana/provisioning:ro",
		"./deploy/grafana/dashboards:" + path + ":ro",
		"./deploy/grafana/grants.sql:/grants.sql:ro",
	} {
		if !strings.Contains(compose, "- "+mount+"\n") {
			t.Errorf("docker-compose.yml does not mount %s", mount)
		}
	}
	// The data source's settings come from the Grafana service's
	// environment.
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(ds, -1) {
		if !regexp.MustCompile(`(?m)^\s+` + m[1] + `: \S`).MatchString(compose) {
			t.Errorf("docker-compose.yml does not set %s for the data source", m[1])
		}
	}
}
