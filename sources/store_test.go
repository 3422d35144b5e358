package sources_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
)

// fixture is one test's database with a store on it.
type fixture struct {
	ctx  context.Context
	pool *pgxpool.Pool
	st   *sources.Store
}

// newFixture opens the test's database; call it once per test.
func newFixture(t *testing.T) fixture {
	t.Helper()
	pool := dbtest.New(t)
	return fixture{ctx: context.Background(), pool: pool, st: sources.NewStore(pool)}
}

func (f fixture) tenant(t *testing.T, name string) auth.Tenant {
	t.Helper()
	ten, err := auth.NewStore(f.pool).CreateTenant(f.ctx, name, false)
	if err != nil {
		t.Fatalf("create tenant %s: %v", name, err)
	}
	return ten
}

// sourceOpts describes a source to create; zero fields take defaults (a
// fresh external id, kind meter, no site, parent or metadata).
type sourceOpts struct {
	ExternalID string
	Kind       sources.Kind
	Name       string
	SiteID     string
	Timezone   string
	Parent     string // public or external id
	Metadata   string
}

var seq atomic.Int64

func (o sourceOpts) newSource() sources.NewSource {
	n := sources.NewSource{ExternalID: o.ExternalID, Kind: o.Kind, Name: o.Name, Timezone: o.Timezone}
	if n.ExternalID == "" {
		n.ExternalID = fmt.Sprintf("m%04d", seq.Add(1))
	}
	if n.Kind == "" {
		n.Kind = sources.KindMeter
	}
	if o.SiteID != "" {
		n.SiteID = &o.SiteID
	}
	if o.Parent != "" {
		n.Parent = &o.Parent
	}
	if o.Metadata != "" {
		n.Metadata = json.RawMessage(o.Metadata)
	}
	return n
}

func (f fixture) source(t *testing.T, tenantID int64, o sourceOpts) sources.Source {
	t.Helper()
	s, err := f.st.Create(f.ctx, tenantID, o.newSource())
	if err != nil {
		t.Fatalf("create source %+v: %v", o, err)
	}
	return s
}

// wantCode checks that err is an api.Error with code.
func wantCode(t *testing.T, err error, code api.Code) *api.Error {
	t.Helper()
	e := api.AsError(err)
	if e == nil {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	return e
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	e := wantCode(t, err, api.CodeValidation)
	if !strings.HasPrefix(e.Message, field+": ") {
		t.Errorf("message %q does not name the field %q", e.Message, field)
	}
}

func jsonEqual(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("decode %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("json = %s, want %s", gb, wb)
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestStoreCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "acme")

	before := time.Now().Add(-time.Minute)
	s := f.source(t, ten.ID, sourceOpts{ExternalID: "CB-0042", Kind: sources.KindCharger, Name: "Box 42"})
	if !strings.HasPrefix(s.PublicID, "src_") || s.ID == 0 || s.TenantID != ten.ID {
		t.Errorf("ids: public %q, id %d, tenant %d (want %d)", s.PublicID, s.ID, s.TenantID, ten.ID)
	}
	if s.ExternalID != "CB-0042" || s.Kind != sources.KindCharger || s.Name != "Box 42" {
		t.Errorf("got %+v", s)
	}
	if s.Timezone != "UTC" {
		t.Errorf("timezone = %q, want the default UTC", s.Timezone)
	}
	jsonEqual(t, s.Metadata, `{}`)
	if s.SiteID != nil || s.Parent != nil || s.ParentID != nil {
		t.Errorf("site %s, parent %s: want both null", str(s.SiteID), str(s.Parent))
	}
	if s.CreatedAt.Before(before) || !s.UpdatedAt.Equal(s.CreatedAt) {
		t.Errorf("created_at %v, updated_at %v", s.CreatedAt, s.UpdatedAt)
	}

	full := f.source(t, ten.ID, sourceOpts{ExternalID: "CB-0042/1", Kind: sources.KindConnector, SiteID: "berlin-1",
		Timezone: "Europe/Berlin", Parent: s.PublicID, Metadata: `{"max_kw": 22, "plug": "type2"}`})
	if str(full.SiteID) != "berlin-1" || full.Timezone != "Europe/Berlin" || str(full.Parent) != s.PublicID ||
		full.ParentID == nil || *full.ParentID != s.ID {
		t.Errorf("got site %s, tz %s, parent %s", str(full.SiteID), full.Timezone, str(full.Parent))
	}
	jsonEqual(t, full.Metadata, `{"plug":"type2","max_kw":22}`)

	got, err := f.st.Get(f.ctx, ten.ID, full.PublicID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.PublicID != full.PublicID || str(got.Parent) != s.PublicID || !got.CreatedAt.Equal(full.CreatedAt) {
		t.Errorf("get = %+v, want %+v", got, full)
	}

	// Invalid input never reaches the database.
	_, err = f.st.Create(f.ctx, ten.ID, sources.NewSource{ExternalID: "x", Kind: "toaster"})
	wantField(t, err, "kind")
}

func TestStoreGetIsTenantScoped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.tenant(t, "a"), f.tenant(t, "b")
	s := f.source(t, a.ID, sourceOpts{})

	_, err := f.st.Get(f.ctx, b.ID, s.PublicID)
	wantCode(t, err, api.CodeNotFound)
	_, err = f.st.Get(f.ctx, a.ID, "src_doesnotexist")
	wantCode(t, err, api.CodeNotFound)
	// A source is also named by its external id, within its tenant only.
	got, err := f.st.Get(f.ctx, a.ID, s.ExternalID)
	if err != nil || got.ID != s.ID {
		t.Fatalf("get by external id %q = %+v, %v; want %s", s.ExternalID, got, err, s.PublicID)
	}
	_, err = f.st.Get(f.ctx, b.ID, s.ExternalID)
	wantCode(t, err, api.CodeNotFound)
}

// TestLookupPublicIDFirst: a name that is one source's public id and
// another's external id means the public id, in every lookup.
func TestLookupPublicIDFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.tenant(t, "a")
	named := f.source(t, a.ID, sourceOpts{})
	impostor := f.source(t, a.ID, sourceOpts{ExternalID: named.PublicID})
	plain := f.source(t, a.ID, sourceOpts{ExternalID: "CB-7/1"})

	got, err := f.st.Get(f.ctx, a.ID, named.PublicID)
	if err != nil || got.ID != named.ID {
		t.Fatalf("get %s = %s, %v; want %s, not the source whose external id it is (%s)", named.PublicID, got.PublicID, err, named.PublicID, impostor.PublicID)
	}
	ids, err := f.st.IDs(f.ctx, a.ID, []string{named.PublicID, "CB-7/1", impostor.PublicID, "nope"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{named.PublicID: named.ID, "CB-7/1": plain.ID, impostor.PublicID: impostor.ID}
	if len(ids) != len(want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	for ref, id := range want {
		if ids[ref] != id {
			t.Errorf("%s → %d, want %d", ref, ids[ref], id)
		}
	}
	r := sources.NewResolver(f.st)
	resolved, err := r.Resolve(f.ctx, a.ID, []string{named.PublicID}, nil)
	if err != nil || resolved[named.PublicID] != named.ID {
		t.Fatalf("resolver: %s → %v, %v; want %d", named.PublicID, resolved, err, named.ID)
	}
}

func TestStoreCreateExternalIDUniquePerTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.tenant(t, "a"), f.tenant(t, "b")
	f.source(t, a.ID, sourceOpts{ExternalID: "CB-1"})

	_, err := f.st.Create(f.ctx, a.ID, sourceOpts{ExternalID: "CB-1", Kind: sources.KindCharger}.newSource())
	e := wantCode(t, err, api.CodeConflict)
	if !strings.Contains(e.Message, `"CB-1"`) {
		t.Errorf("message %q does not name the external id", e.Message)
	}
	other := f.source(t, b.ID, sourceOpts{ExternalID: "CB-1"})
	if other.TenantID != b.ID {
		t.Errorf("tenant = %d, want %d", other.TenantID, b.ID)
	}
}

func TestStoreCreateParent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.tenant(t, "a"), f.tenant(t, "b")
	box := f.source(t, a.ID, sourceOpts{ExternalID: "CB-7", Kind: sources.KindCharger})
	foreign := f.source(t, b.ID, sourceOpts{ExternalID: "CB-9", Kind: sources.KindCharger})

	tests := []struct {
		name    string
		parent  string
		want    string // parent public id; "" for a validation error
		wantErr bool
	}{
		{name: "by public id", parent: box.PublicID, want: box.PublicID},
		{name: "by external id", parent: "CB-7", want: box.PublicID},
		{name: "unknown", parent: "CB-404", wantErr: true},
		{name: "another tenant's by public id", parent: foreign.PublicID, wantErr: true},
		{name: "another tenant's by external id", parent: "CB-9", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := f.st.Create(f.ctx, a.ID, sourceOpts{Kind: sources.KindConnector, Parent: tt.parent}.newSource())
			if tt.wantErr {
				wantField(t, err, "parent")
				return
			}
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if str(s.Parent) != tt.want {
				t.Errorf("parent = %s, want %s", str(s.Parent), tt.want)
			}
		})
	}

	// A public id wins over another source whose external id looks like it.
	impostor := f.source(t, a.ID, sourceOpts{ExternalID: box.PublicID})
	s := f.source(t, a.ID, sourceOpts{Parent: box.PublicID})
	if str(s.Parent) != box.PublicID {
		t.Errorf("parent = %s, want %s rather than %s", str(s.Parent), box.PublicID, impostor.PublicID)
	}
}

func TestStoreUpdate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "acme")
	site := "site-1"
	parent := f.source(t, ten.ID, sourceOpts{ExternalID: "P-1", Kind: sources.KindCharger})

	tests := []struct {
		name  string
		patch string // JSON, decoded as the HTTP layer does
		check func(t *testing.T, before, after sources.Source)
	}{
		{name: "empty patch changes nothing", patch: `{}`, check: func(t *testing.T, before, after sources.Source) {
			if after.ExternalID != before.ExternalID || after.Kind != before.Kind || after.Name != before.Name ||
				str(after.SiteID) != str(before.SiteID) || after.Timezone != before.Timezone || str(after.Parent) != str(before.Parent) {
				t.Errorf("before %+v, after %+v", before, after)
			}
			jsonEqual(t, after.Metadata, string(before.Metadata))
		}},
		{name: "external id", patch: `{"external_id":"renamed"}`, check: func(t *testing.T, before, after sources.Source) {
			if after.ExternalID != "renamed" || after.Name != before.Name || str(after.SiteID) != site {
				t.Errorf("got %+v", after)
			}
		}},
		{name: "kind", patch: `{"kind":"battery"}`, check: func(t *testing.T, _, after sources.Source) {
			if after.Kind != sources.KindBattery {
				t.Errorf("kind = %s", after.Kind)
			}
		}},
		{name: "name", patch: `{"name":"Garage"}`, check: func(t *testing.T, before, after sources.Source) {
			if after.Name != "Garage" || after.Kind != before.Kind || str(after.Parent) != parent.PublicID {
				t.Errorf("got %+v", after)
			}
		}},
		{name: "site id", patch: `{"site_id":"site-2"}`, check: func(t *testing.T, _, after sources.Source) {
			if str(after.SiteID) != "site-2" {
				t.Errorf("site = %s", str(after.SiteID))
			}
		}},
		{name: "null clears site id", patch: `{"site_id":null}`, check: func(t *testing.T, _, after sources.Source) {
			if after.SiteID != nil || str(after.Parent) != parent.PublicID {
				t.Errorf("site = %s, parent = %s", str(after.SiteID), str(after.Parent))
			}
		}},
		{name: "timezone", patch: `{"timezone":"Asia/Kolkata"}`, check: func(t *testing.T, _, after sources.Source) {
			if after.Timezone != "Asia/Kolkata" {
				t.Errorf("timezone = %s", after.Timezone)
			}
		}},
		{name: "metadata is replaced", patch: `{"metadata":{"b":2}}`, check: func(t *testing.T, _, after sources.Source) {
			jsonEqual(t, after.Metadata, `{"b":2}`)
		}},
		{name: "null clears parent", patch: `{"parent":null}`, check: func(t *testing.T, _, after sources.Source) {
			if after.Parent != nil || after.ParentID != nil || str(after.SiteID) != site {
				t.Errorf("parent = %s, site = %s", str(after.Parent), str(after.SiteID))
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.source(t, ten.ID, sourceOpts{ExternalID: fmt.Sprintf("U-%d", i), Name: "Meter", SiteID: site,
				Parent: parent.PublicID, Metadata: `{"a":1}`})
			var p sources.Patch
			if err := json.Unmarshal([]byte(tt.patch), &p); err != nil {
				t.Fatalf("decode patch: %v", err)
			}
			after, err := f.st.Update(f.ctx, ten.ID, before.PublicID, p)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if after.PublicID != before.PublicID || !after.CreatedAt.Equal(before.CreatedAt) || after.UpdatedAt.Before(before.UpdatedAt) {
				t.Errorf("identity or times changed: before %+v, after %+v", before, after)
			}
			tt.check(t, before, after)
			got, err := f.st.Get(f.ctx, ten.ID, before.PublicID)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if got.ExternalID != after.ExternalID || got.Kind != after.Kind || got.Name != after.Name ||
				str(got.SiteID) != str(after.SiteID) || got.Timezone != after.Timezone || str(got.Parent) != str(after.Parent) {
				t.Errorf("stored %+v, returned %+v", got, after)
			}
		})
	}

	t.Run("set parent by external id", func(t *testing.T) {
		s := f.source(t, ten.ID, sourceOpts{})
		after, err := f.st.Update(f.ctx, ten.ID, s.PublicID, sources.Patch{Parent: sources.Nullable[string]{Set: true, Value: &parent.ExternalID}})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if str(after.Parent) != parent.PublicID {
			t.Errorf("parent = %s, want %s", str(after.Parent), parent.PublicID)
		}
	})
}

func TestStoreUpdateErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.tenant(t, "a"), f.tenant(t, "b")
	// root ← mid ← leaf
	root := f.source(t, a.ID, sourceOpts{ExternalID: "root"})
	mid := f.source(t, a.ID, sourceOpts{ExternalID: "mid", Parent: root.PublicID})
	leaf := f.source(t, a.ID, sourceOpts{ExternalID: "leaf", Parent: "mid"})
	foreign := f.source(t, b.ID, sourceOpts{ExternalID: "foreign"})

	parentTo := func(ref string) sources.Patch {
		return sources.Patch{Parent: sources.Nullable[string]{Set: true, Value: &ref}}
	}
	tests := []struct {
		name     string
		tenantID int64
		id       string
		patch    sources.Patch
		wantCode api.Code
		field    string
	}{
		{name: "rename to a taken external id", tenantID: a.ID, id: leaf.PublicID, patch: sources.Patch{ExternalID: &root.ExternalID}, wantCode: api.CodeConflict},
		{name: "self parent", tenantID: a.ID, id: mid.PublicID, patch: parentTo(mid.PublicID), wantCode: api.CodeValidation, field: "parent"},
		{name: "self parent by external id", tenantID: a.ID, id: mid.PublicID, patch: parentTo("mid"), wantCode: api.CodeValidation, field: "parent"},
		{name: "parent is a child", tenantID: a.ID, id: root.PublicID, patch: parentTo(mid.PublicID), wantCode: api.CodeValidation, field: "parent"},
		{name: "parent is a grandchild", tenantID: a.ID, id: root.PublicID, patch: parentTo("leaf"), wantCode: api.CodeValidation, field: "parent"},
		{name: "unknown parent", tenantID: a.ID, id: leaf.PublicID, patch: parentTo("nope"), wantCode: api.CodeValidation, field: "parent"},
		{name: "another tenant's parent", tenantID: a.ID, id: leaf.PublicID, patch: parentTo(foreign.PublicID), wantCode: api.CodeValidation, field: "parent"},
		{name: "invalid timezone", tenantID: a.ID, id: leaf.PublicID, patch: sources.Patch{Timezone: new("CET")}, wantCode: api.CodeValidation, field: "timezone"},
		{name: "another tenant's source", tenantID: b.ID, id: leaf.PublicID, patch: sources.Patch{Name: new("x")}, wantCode: api.CodeNotFound},
		{name: "unknown source", tenantID: a.ID, id: "src_nope", patch: sources.Patch{Name: new("x")}, wantCode: api.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.st.Update(f.ctx, tt.tenantID, tt.id, tt.patch)
			if tt.field != "" {
				wantField(t, err, tt.field)
			} else {
				wantCode(t, err, tt.wantCode)
			}
		})
	}

	// Nothing above changed anything.
	for _, want := range []sources.Source{root, mid, leaf} {
		got, err := f.st.Get(f.ctx, a.ID, want.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ExternalID != want.ExternalID || str(got.Parent) != str(want.Parent) || got.Name != want.Name ||
			got.Timezone != want.Timezone || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Errorf("%s changed: %+v, was %+v", want.ExternalID, got, want)
		}
	}
	got, err := f.st.Get(f.ctx, b.ID, foreign.PublicID)
	if err != nil || got.Name != foreign.Name {
		t.Errorf("other tenant's source: %+v, %v", got, err)
	}

	// Re-parenting within the tree the other way round is fine once the
	// cycle is broken: move leaf under root, then root under leaf fails,
	// mid under leaf works.
	if _, err := f.st.Update(f.ctx, a.ID, leaf.PublicID, parentTo("root")); err != nil {
		t.Fatalf("move leaf under root: %v", err)
	}
	if _, err := f.st.Update(f.ctx, a.ID, root.PublicID, parentTo("leaf")); err == nil {
		t.Fatal("root under its child leaf: no error")
	}
	if got, err := f.st.Update(f.ctx, a.ID, mid.PublicID, parentTo("leaf")); err != nil || str(got.Parent) != leaf.PublicID {
		t.Fatalf("mid under leaf: %+v, %v", got, err)
	}
}

func countRows(t *testing.T, f fixture, table string, sourceID int64) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, "SELECT count(*) FROM "+table+" WHERE source_id = $1", sourceID).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func insertReadings(t *testing.T, f fixture, sourceID int64, n int) {
	t.Helper()
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	_, err := f.pool.Exec(f.ctx, `INSERT INTO readings (time, source_id, metric, value)
		SELECT $2::timestamptz + i * interval '1 minute', $1, 1, i * 10.0 FROM generate_series(0, $3 - 1) i`,
		sourceID, start, n)
	if err != nil {
		t.Fatalf("insert readings: %v", err)
	}
	_, err = f.pool.Exec(f.ctx, `INSERT INTO latest_readings (source_id, metric, time, value) VALUES ($1, 1, $2, 1), ($1, 3, $2, 2)`,
		sourceID, start)
	if err != nil {
		t.Fatalf("insert latest readings: %v", err)
	}
}

func TestStoreDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.tenant(t, "a"), f.tenant(t, "b")
	gone := f.source(t, a.ID, sourceOpts{ExternalID: "gone", Kind: sources.KindCharger})
	child := f.source(t, a.ID, sourceOpts{ExternalID: "child", Kind: sources.KindConnector, Parent: "gone"})
	kept := f.source(t, a.ID, sourceOpts{ExternalID: "kept"})
	foreign := f.source(t, b.ID, sourceOpts{ExternalID: "gone"})
	for _, s := range []sources.Source{gone, child, kept, foreign} {
		insertReadings(t, f, s.ID, 5)
	}

	// Another tenant cannot delete it.
	wantCode(t, f.st.Delete(f.ctx, b.ID, gone.PublicID), api.CodeNotFound)
	if n := countRows(t, f, "readings", gone.ID); n != 5 {
		t.Fatalf("readings after a foreign delete: %d, want 5", n)
	}

	if err := f.st.Delete(f.ctx, a.ID, gone.PublicID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := f.st.Get(f.ctx, a.ID, gone.PublicID)
	wantCode(t, err, api.CodeNotFound)
	for _, table := range []string{"readings", "latest_readings"} {
		if n := countRows(t, f, table, gone.ID); n != 0 {
			t.Errorf("%s of the deleted source: %d rows, want 0", table, n)
		}
	}
	for _, s := range []sources.Source{child, kept, foreign} {
		if n := countRows(t, f, "readings", s.ID); n != 5 {
			t.Errorf("readings of %s: %d, want 5", s.ExternalID, n)
		}
		if n := countRows(t, f, "latest_readings", s.ID); n != 2 {
			t.Errorf("latest readings of %s: %d, want 2", s.ExternalID, n)
		}
	}

	got, err := f.st.Get(f.ctx, a.ID, child.PublicID)
	if err != nil {
		t.Fatalf("get child: %v", err)
	}
	if got.Parent != nil || got.ParentID != nil {
		t.Errorf("child's parent = %s, want null", str(got.Parent))
	}
	if _, err := f.st.Get(f.ctx, b.ID, foreign.PublicID); err != nil {
		t.Errorf("other tenant's source with the same external id: %v", err)
	}

	wantCode(t, f.st.Delete(f.ctx, a.ID, gone.PublicID), api.CodeNotFound)

	// The external id is free again.
	again := f.source(t, a.ID, sourceOpts{ExternalID: "gone"})
	if n := countRows(t, f, "readings", again.ID); n != 0 {
		t.Errorf("a new source inherits %d readings", n)
	}
}

// listAll lists every page of a tenant's sources with limit, checking the
// pagination totals as it goes.
func listAll(t *testing.T, f fixture, tenantID int64, filter sources.Filter, limit int) []sources.Source {
	t.Helper()
	var all []sources.Source
	var total int64 = -1
	for page := 1; ; page++ {
		list, n, err := f.st.List(f.ctx, tenantID, filter, api.PageRequest{Page: page, Limit: limit})
		if err != nil {
			t.Fatalf("list page %d: %v", page, err)
		}
		if total >= 0 && n != total {
			t.Fatalf("total changed from %d to %d on page %d", total, n, page)
		}
		total = n
		if len(list) > limit {
			t.Fatalf("page %d has %d rows, limit %d", page, len(list), limit)
		}
		all = append(all, list...)
		if len(list) < limit {
			break
		}
		if page > 1000 {
			t.Fatal("pagination does not end")
		}
	}
	if int64(len(all)) != total {
		t.Fatalf("walked %d rows, total says %d", len(all), total)
	}
	return all
}

func publicIDs(list []sources.Source) []string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.PublicID
	}
	return ids
}

func TestStoreListFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.tenant(t, "a"), f.tenant(t, "b")
	m1 := f.source(t, a.ID, sourceOpts{ExternalID: "m1", Kind: sources.KindMeter, SiteID: "s1"})
	m2 := f.source(t, a.ID, sourceOpts{ExternalID: "m2", Kind: sources.KindMeter, SiteID: "s2"})
	c1 := f.source(t, a.ID, sourceOpts{ExternalID: "c1", Kind: sources.KindCharger, SiteID: "s1"})
	p1 := f.source(t, a.ID, sourceOpts{ExternalID: "p1", Kind: sources.KindPriceFeed})
	f.source(t, b.ID, sourceOpts{ExternalID: "m1", Kind: sources.KindMeter, SiteID: "s1"})

	tests := []struct {
		name   string
		filter sources.Filter
		want   []sources.Source // in created order
	}{
		{name: "all", want: []sources.Source{m1, m2, c1, p1}},
		{name: "kind", filter: sources.Filter{Kind: sources.KindMeter}, want: []sources.Source{m1, m2}},
		{name: "kind with none", filter: sources.Filter{Kind: sources.KindBattery}},
		{name: "site", filter: sources.Filter{SiteID: "s1"}, want: []sources.Source{m1, c1}},
		{name: "external id", filter: sources.Filter{ExternalID: "c1"}, want: []sources.Source{c1}},
		{name: "external id is exact", filter: sources.Filter{ExternalID: "m"}},
		{name: "kind and site", filter: sources.Filter{Kind: sources.KindMeter, SiteID: "s1"}, want: []sources.Source{m1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, total, err := f.st.List(f.ctx, a.ID, tt.filter, api.PageRequest{Page: 1, Limit: 50})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if list == nil {
				t.Error("list is nil; an empty page must encode as []")
			}
			if got, want := publicIDs(list), publicIDs(tt.want); !slices.Equal(got, want) || total != int64(len(want)) {
				t.Errorf("got %v (total %d), want %v", got, total, want)
			}
		})
	}

	_, _, err := f.st.List(f.ctx, a.ID, sources.Filter{Sort: "tenant_id"}, api.PageRequest{Page: 1, Limit: 10})
	wantField(t, err, "sort")
	for _, bad := range []string{"-", "--name", "name ", "id", "name; DROP TABLE sources"} {
		_, _, err := f.st.List(f.ctx, a.ID, sources.Filter{Sort: bad}, api.PageRequest{Page: 1, Limit: 10})
		wantField(t, err, "sort")
	}
}

func TestStoreListSortAndPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "acme")
	// Names and kinds repeat, so only the id tie-break makes the order
	// total. Values are lowercase letters and digits, which every collation
	// orders the same way.
	specs := []sourceOpts{
		{ExternalID: "e5", Name: "bravo", Kind: sources.KindMeter},
		{ExternalID: "e2", Name: "alpha", Kind: sources.KindCharger},
		{ExternalID: "e7", Name: "bravo", Kind: sources.KindMeter},
		{ExternalID: "e1", Name: "charlie", Kind: sources.KindBattery},
		{ExternalID: "e4", Name: "alpha", Kind: sources.KindMeter},
		{ExternalID: "e3", Name: "bravo", Kind: sources.KindCharger},
		{ExternalID: "e6", Name: "alpha", Kind: sources.KindInverter},
	}
	var created []sources.Source
	for _, o := range specs {
		created = append(created, f.source(t, ten.ID, o))
	}
	// Touch two sources so updated_at differs from created_at order.
	for _, i := range []int{0, 3} {
		s, err := f.st.Update(f.ctx, ten.ID, created[i].PublicID, sources.Patch{})
		if err != nil {
			t.Fatal(err)
		}
		created[i] = s
	}

	keys := map[string]func(a, b sources.Source) int{
		"created_at":  func(a, b sources.Source) int { return a.CreatedAt.Compare(b.CreatedAt) },
		"updated_at":  func(a, b sources.Source) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
		"external_id": func(a, b sources.Source) int { return strings.Compare(a.ExternalID, b.ExternalID) },
		"name":        func(a, b sources.Source) int { return strings.Compare(a.Name, b.Name) },
		"kind":        func(a, b sources.Source) int { return strings.Compare(string(a.Kind), string(b.Kind)) },
	}
	for _, sort := range []string{"", "created_at", "-created_at", "updated_at", "-updated_at", "external_id", "-external_id", "name", "-name", "kind", "-kind"} {
		t.Run("sort="+sort, func(t *testing.T) {
			name, desc := strings.CutPrefix(sort, "-")
			if name == "" {
				name = "created_at"
			}
			want := slices.Clone(created)
			slices.SortFunc(want, func(a, b sources.Source) int {
				return cmp.Or(keys[name](a, b), cmp.Compare(a.ID, b.ID))
			})
			if desc {
				slices.Reverse(want)
			}
			filter := sources.Filter{Sort: sort}

			list, total, err := f.st.List(f.ctx, ten.ID, filter, api.PageRequest{Page: 1, Limit: 100})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if got := publicIDs(list); !slices.Equal(got, publicIDs(want)) || total != int64(len(want)) {
				t.Fatalf("order %v, want %v", got, publicIDs(want))
			}
			// Walking one row at a time and three at a time visits the
			// same rows in the same order: no repeats, no gaps.
			for _, limit := range []int{1, 3} {
				if got := publicIDs(listAll(t, f, ten.ID, filter, limit)); !slices.Equal(got, publicIDs(want)) {
					t.Errorf("limit %d walks %v, want %v", limit, got, publicIDs(want))
				}
			}
		})
	}

	t.Run("pages beyond the end", func(t *testing.T) {
		for _, page := range []api.PageRequest{{Page: 3, Limit: 5}, {Page: 8, Limit: 1}, {Page: 1 << 30, Limit: 1000}} {
			list, total, err := f.st.List(f.ctx, ten.ID, sources.Filter{}, page)
			if err != nil {
				t.Fatalf("%+v: %v", page, err)
			}
			if len(list) != 0 || list == nil || total != int64(len(specs)) {
				t.Errorf("%+v: %d rows (nil %v), total %d; want [] and %d", page, len(list), list == nil, total, len(specs))
			}
		}
		list, _, err := f.st.List(f.ctx, ten.ID, sources.Filter{}, api.PageRequest{Page: 2, Limit: 5})
		if err != nil || len(list) != 2 {
			t.Errorf("last partial page: %d rows, %v; want 2", len(list), err)
		}
	})
}

func TestStoreMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	list, err := f.st.Metrics(f.ctx)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	byName := map[string]sources.Metric{}
	for _, m := range list {
		if m.ID == 0 || m.Description == "" {
			t.Errorf("incomplete metric %+v", m)
		}
		byName[m.Name] = m
	}
	if len(byName) != len(list) {
		t.Errorf("duplicate names in %+v", list)
	}
	tests := []struct{ name, unit, kind string }{
		{"energy_import", "Wh", "counter"},
		{"energy_export", "Wh", "counter"},
		{"power_import", "W", "gauge"},
		{"power_export", "W", "gauge"},
		{"power_offered", "W", "gauge"},
		{"current_import", "A", "gauge"},
		{"voltage", "V", "gauge"},
		{"soc", "%", "gauge"},
		{"temperature", "", "gauge"},
		{"frequency", "Hz", "gauge"},
		{"price", "", "gauge"},
	}
	for _, tt := range tests {
		m, ok := byName[tt.name]
		if !ok {
			t.Errorf("catalogue lacks %s", tt.name)
			continue
		}
		if (tt.unit != "" && m.Unit != tt.unit) || m.Unit == "" || m.Kind != tt.kind {
			t.Errorf("%s: unit %q kind %q, want unit %q kind %q", tt.name, m.Unit, m.Kind, tt.unit, tt.kind)
		}
	}
	if !slices.IsSortedFunc(list, func(a, b sources.Metric) int { return cmp.Compare(a.ID, b.ID) }) {
		t.Error("catalogue is not in id order")
	}
}

// TestStoreUpdateConcurrentParents sets parents concurrently such that
// each change alone is fine but together they close a loop. One must win
// and the other must be refused; the tree must never get a cycle.
func TestStoreUpdateConcurrentParents(t *testing.T) {
	if dbtest.SchemaIsolation() {
		t.Skip("needs two connections at once")
	}
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "acme")
	setParent := func(id, parent string) error {
		_, err := f.st.Update(f.ctx, ten.ID, id, sources.Patch{Parent: sources.Nullable[string]{Set: true, Value: &parent}})
		return err
	}
	const rounds = 20
	for round := range rounds {
		// Existing edges y→u and v→x; the racing updates add x→y and u→v,
		// which would close x→y→u→v→x. The two-node case adds a→b and b→a.
		x := f.source(t, ten.ID, sourceOpts{})
		v := f.source(t, ten.ID, sourceOpts{Parent: x.PublicID})
		u := f.source(t, ten.ID, sourceOpts{})
		y := f.source(t, ten.ID, sourceOpts{Parent: u.PublicID})
		a := f.source(t, ten.ID, sourceOpts{})
		b := f.source(t, ten.ID, sourceOpts{})
		for _, pair := range [][2][2]string{
			{{x.PublicID, y.PublicID}, {u.PublicID, v.PublicID}},
			{{a.PublicID, b.PublicID}, {b.PublicID, a.PublicID}},
		} {
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 2)
			for i, edge := range pair {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = setParent(edge[0], edge[1])
				}()
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
					continue
				}
				if e := api.AsError(err); e == nil || e.Code != api.CodeValidation {
					t.Errorf("round %d: err = %v, want success or a VALIDATION_ERROR", round, err)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d of the two racing updates succeeded (%v), want exactly 1", round, ok, errs)
			}
		}
		for _, s := range []sources.Source{x, a} {
			if hasCycle(t, f, ten.ID, s.PublicID) {
				t.Fatalf("round %d: the parents of %s form a cycle", round, s.ExternalID)
			}
		}
	}
}

// hasCycle walks up from id and reports whether it comes back to a source
// it has seen.
func hasCycle(t *testing.T, f fixture, tenantID int64, id string) bool {
	t.Helper()
	seen := map[string]bool{}
	for {
		if seen[id] {
			return true
		}
		seen[id] = true
		s, err := f.st.Get(f.ctx, tenantID, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if s.Parent == nil {
			return false
		}
		id = *s.Parent
	}
}
