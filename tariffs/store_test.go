package tariffs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// fixture is one test's database with a tariff store on it.
type fixture struct {
	ctx  context.Context
	pool *pgxpool.Pool
	st   *tariffs.Store
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	pool := dbtest.New(t)
	return fixture{ctx: context.Background(), pool: pool, st: tariffs.NewStore(pool)}
}

func (f fixture) tenant(t *testing.T, name string) int64 {
	t.Helper()
	ten, err := auth.NewStore(f.pool).CreateTenant(f.ctx, name, false)
	if err != nil {
		t.Fatalf("create tenant %s: %v", name, err)
	}
	return ten.ID
}

func (f fixture) source(t *testing.T, tenantID int64, externalID string) sources.Source {
	t.Helper()
	s, err := sources.NewStore(f.pool).Create(f.ctx, tenantID, sources.NewSource{ExternalID: externalID, Kind: sources.KindConnector})
	if err != nil {
		t.Fatalf("create source %s: %v", externalID, err)
	}
	return s
}

// tariffOpts describes a tariff document; zero fields take defaults (id
// "T1", kind charging, TIME at 2.00/h, no start_date_time).
type tariffOpts struct {
	ID    string
	Kind  tariffs.Kind
	Price string
	Start string // start_date_time
	End   string // end_date_time
}

func (o tariffOpts) doc() string {
	if o.ID == "" {
		o.ID = "T1"
	}
	if o.Price == "" {
		o.Price = "2.00"
	}
	component := fmt.Sprintf(`{"type":"TIME","price":%s,"vat":10.0,"step_size":60}`, o.Price)
	ext := ""
	if o.Kind != "" && o.Kind != tariffs.KindCharging {
		component = fmt.Sprintf(`{"type":"ENERGY","price":%s,"vat":21,"step_size":0}`, o.Price)
		ext = fmt.Sprintf(`,"gridmetrics":{"kind":%q,"timezone":"Europe/Amsterdam"}`, o.Kind)
	}
	start := ""
	if o.Start != "" {
		start = fmt.Sprintf(`,"start_date_time":%q`, o.Start)
	}
	if o.End != "" {
		start += fmt.Sprintf(`,"end_date_time":%q`, o.End)
	}
	return fmt.Sprintf(`{"country_code":"DE","party_id":"ALL","id":%q,"currency":"EUR","elements":[{"price_components":[%s]}]%s%s}`,
		o.ID, component, start, ext)
}

func (o tariffOpts) tariff(t *testing.T) *tariffs.Tariff {
	t.Helper()
	tf, err := tariffs.ParseTariff([]byte(o.doc()))
	if err != nil {
		t.Fatalf("parse %s: %v", o.doc(), err)
	}
	return tf
}

func (f fixture) create(t *testing.T, tenantID int64, o tariffOpts) tariffs.StoredTariff {
	t.Helper()
	s, err := f.st.Create(f.ctx, tenantID, o.tariff(t))
	if err != nil {
		t.Fatalf("create tariff %+v: %v", o, err)
	}
	return s
}

func (f fixture) update(t *testing.T, tenantID int64, id string, o tariffOpts) tariffs.StoredTariff {
	t.Helper()
	s, err := f.st.Update(f.ctx, tenantID, id, o.tariff(t))
	if err != nil {
		t.Fatalf("update tariff %s with %+v: %v", id, o, err)
	}
	return s
}

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

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

// timePrice is the TIME price of a stored tariff's version.
func timePrice(tf *tariffs.Tariff) string {
	return tf.Elements[0].PriceComponents[0].Price.String()
}

func TestStoreCreateAndGet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme, other := f.tenant(t, "acme"), f.tenant(t, "other")

	before := time.Now().Add(-time.Minute)
	s := f.create(t, acme, tariffOpts{})
	if !strings.HasPrefix(s.PublicID, "tar_") || s.Version != 1 || s.LatestVersion != 1 || s.Kind != tariffs.KindCharging ||
		s.ExternalID != "T1" || s.CountryCode != "DE" || s.PartyID != "ALL" || s.ArchivedAt != nil {
		t.Fatalf("created %+v", s)
	}
	if s.ValidFrom.Before(before) || s.ValidFrom.After(time.Now().Add(time.Minute)) {
		t.Errorf("valid_from %s is not the creation time", s.ValidFrom)
	}
	got, err := f.st.Get(f.ctx, acme, s.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if timePrice(got.Tariff) != "2.00" || got.Tariff.ID != "T1" {
		t.Fatalf("stored document reads back as %+v", got.Tariff)
	}
	js, _ := got.Tariff.MarshalJSON()
	// The document as sent, with the version's time as last_updated.
	stamp := fmt.Sprintf(`,"last_updated":%q}`, s.CreatedAt.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.999Z"))
	if want := strings.TrimSuffix((tariffOpts{}).doc(), "}") + stamp; string(js) != want {
		t.Errorf("canonical document\n%s\nwant\n%s", js, want)
	}

	// The OCPI identity is unique per tenant among tariffs in use.
	e := wantCode(t, func() error { _, err := f.st.Create(f.ctx, acme, tariffOpts{Price: "3"}.tariff(t)); return err }(), api.CodeConflict)
	if d, _ := e.Details.(map[string]string); d["id"] != s.PublicID {
		t.Errorf("conflict details %v do not name %s", e.Details, s.PublicID)
	}
	if _, err := f.st.Create(f.ctx, other, tariffOpts{}.tariff(t)); err != nil {
		t.Fatalf("another tenant's tariff with the same OCPI id: %v", err)
	}
	f.create(t, acme, tariffOpts{ID: "T2"})

	// Another tenant sees nothing.
	wantCode(t, func() error { _, err := f.st.Get(f.ctx, other, s.PublicID); return err }(), api.CodeNotFound)
	wantCode(t, func() error { _, err := f.st.GetAt(f.ctx, other, s.PublicID, time.Now()); return err }(), api.CodeNotFound)
	wantCode(t, func() error { _, err := f.st.Update(f.ctx, other, s.PublicID, tariffOpts{}.tariff(t)); return err }(), api.CodeNotFound)
	wantCode(t, f.st.Archive(f.ctx, other, s.PublicID), api.CodeNotFound)
	wantCode(t, func() error {
		_, _, err := f.st.Versions(f.ctx, other, s.PublicID, api.PageRequest{Page: 1, Limit: 10})
		return err
	}(), api.CodeNotFound)
	wantCode(t, func() error { _, err := f.st.Version(f.ctx, other, s.PublicID, 1); return err }(), api.CodeNotFound)

	list, total, err := f.st.List(f.ctx, acme, tariffs.ListFilter{}, api.PageRequest{Page: 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(list) != 1 || list[0].PublicID != s.PublicID {
		t.Fatalf("list: total %d, %+v", total, list)
	}
	list, total, err = f.st.List(f.ctx, acme, tariffs.ListFilter{ExternalID: "T2"}, api.PageRequest{Page: 1, Limit: 10})
	if err != nil || total != 1 || list[0].ExternalID != "T2" {
		t.Fatalf("list by external id: %d %+v %v", total, list, err)
	}
	if _, total, _ := f.st.List(f.ctx, acme, tariffs.ListFilter{Kind: tariffs.KindSupply}, api.PageRequest{Page: 1, Limit: 10}); total != 0 {
		t.Fatalf("supply tariffs: %d", total)
	}
}

func TestStoreVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	s := f.create(t, acme, tariffOpts{})

	v2 := f.update(t, acme, s.PublicID, tariffOpts{Price: "2.50"})
	if v2.Version != 2 || v2.LatestVersion != 2 || timePrice(v2.Tariff) != "2.50" || v2.PublicID != s.PublicID {
		t.Fatalf("after update: %+v", v2)
	}
	if !v2.UpdatedAt.After(s.UpdatedAt) && !v2.UpdatedAt.Equal(s.UpdatedAt) {
		t.Errorf("updated_at went back: %s → %s", s.UpdatedAt, v2.UpdatedAt)
	}
	// The same document again (a retried PUT) adds no version.
	if again := f.update(t, acme, s.PublicID, tariffOpts{Price: "2.50"}); again.Version != 2 {
		t.Fatalf("identical update made version %d", again.Version)
	}

	list, total, err := f.st.Versions(f.ctx, acme, s.PublicID, api.PageRequest{Page: 1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(list) != 2 || list[0].Version != 1 || timePrice(list[0].Tariff) != "2.00" || timePrice(list[1].Tariff) != "2.50" {
		t.Fatalf("versions: %d %+v", total, list)
	}
	v1, err := f.st.Version(f.ctx, acme, s.PublicID, 1)
	if err != nil || timePrice(v1.Tariff) != "2.00" {
		t.Fatalf("version 1: %+v %v", v1, err)
	}
	wantCode(t, func() error { _, err := f.st.Version(f.ctx, acme, s.PublicID, 3); return err }(), api.CodeNotFound)

	tests := []struct {
		name  string
		opts  tariffOpts
		field string
	}{
		{"another OCPI id", tariffOpts{ID: "T9"}, "id"},
		{"another kind", tariffOpts{Kind: tariffs.KindSupply}, "gridmetrics.kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.st.Update(f.ctx, acme, s.PublicID, tt.opts.tariff(t))
			if e := wantCode(t, err, api.CodeValidation); !strings.HasPrefix(e.Message, tt.field+": ") {
				t.Errorf("message %q does not name %s", e.Message, tt.field)
			}
		})
	}
	wantCode(t, func() error { _, err := f.st.Update(f.ctx, acme, "tar_nope", tariffOpts{}.tariff(t)); return err }(), api.CodeNotFound)
}

// TestStoreValidAt checks that usage at t is priced by the highest-numbered
// version whose valid_from ≤ t.
func TestStoreValidAt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	s := f.create(t, acme, tariffOpts{Price: "1", Start: "2026-01-01T00:00:00Z"})
	f.update(t, acme, s.PublicID, tariffOpts{Price: "2", Start: "2026-03-01T00:00:00Z"}) // scheduled
	f.update(t, acme, s.PublicID, tariffOpts{Price: "3", Start: "2026-02-01T00:00:00Z"}) // written last, wins from February
	if got, _ := f.st.Get(f.ctx, acme, s.PublicID); got.Version != 3 || !got.ValidFrom.Equal(at(t, "2026-02-01T00:00:00Z")) {
		t.Fatalf("latest: version %d from %s", got.Version, got.ValidFrom)
	}

	tests := []struct {
		at          string
		wantVersion int
		wantPrice   string
	}{
		{"2025-12-31T23:59:59Z", 0, ""},
		{"2026-01-01T00:00:00Z", 1, "1"},
		{"2026-01-31T23:59:59Z", 1, "1"},
		{"2026-02-01T00:00:00Z", 3, "3"},
		{"2026-03-15T00:00:00Z", 3, "3"},
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			got, err := f.st.GetAt(f.ctx, acme, s.PublicID, at(t, tt.at))
			if tt.wantVersion == 0 {
				if e := wantCode(t, err, api.CodeConflict); !strings.Contains(e.Message, "2026-01-01T00:00:00Z") {
					t.Errorf("message %q does not say when the first version takes effect", e.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.wantVersion || timePrice(got.Tariff) != tt.wantPrice || got.LatestVersion != 3 {
				t.Fatalf("got version %d (latest %d) at %s, price %s; want %d at %s", got.Version, got.LatestVersion, tt.at,
					timePrice(got.Tariff), tt.wantVersion, tt.wantPrice)
			}
		})
	}

	// Without start_date_time a version takes effect when it is stored.
	now := f.create(t, acme, tariffOpts{ID: "T2"})
	wantCode(t, func() error { _, err := f.st.GetAt(f.ctx, acme, now.PublicID, time.Now().Add(-time.Hour)); return err }(), api.CodeConflict)
	if _, err := f.st.GetAt(f.ctx, acme, now.PublicID, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("just after creation: %v", err)
	}
}

func TestStoreArchive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	src := f.source(t, acme, "CB-1/1")
	s := f.create(t, acme, tariffOpts{})
	past, err := f.st.Assign(f.ctx, acme, s.PublicID, tariffs.NewAssignment{SourceID: src.PublicID, ValidFrom: ptr(time.Now().Add(-48 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	other := f.source(t, acme, "CB-2/1")
	future, err := f.st.Assign(f.ctx, acme, s.PublicID, tariffs.NewAssignment{SourceID: other.PublicID, ValidFrom: ptr(time.Now().Add(24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	if err := f.st.Archive(f.ctx, acme, s.PublicID); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.Get(f.ctx, acme, s.PublicID)
	if err != nil {
		t.Fatalf("an archived tariff stays readable: %v", err)
	}
	if got.ArchivedAt == nil || got.ArchivedAt.Before(before.Add(-time.Minute)) {
		t.Fatalf("archived_at %v", got.ArchivedAt)
	}
	if err := f.st.Archive(f.ctx, acme, s.PublicID); err != nil {
		t.Fatalf("archiving again: %v", err)
	}
	if again, _ := f.st.Get(f.ctx, acme, s.PublicID); !again.ArchivedAt.Equal(*got.ArchivedAt) {
		t.Errorf("archiving again moved archived_at from %s to %s", got.ArchivedAt, again.ArchivedAt)
	}

	// Its open assignment ended at the archive, the future one is gone.
	list, _, err := f.st.Assignments(f.ctx, acme, s.PublicID, api.PageRequest{Page: 1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].PublicID != past.PublicID || list[0].ValidTo == nil || !list[0].ValidTo.Equal(*got.ArchivedAt) {
		t.Fatalf("assignments after archiving: %+v (future one was %s)", list, future.PublicID)
	}

	wantCode(t, func() error {
		_, err := f.st.Update(f.ctx, acme, s.PublicID, tariffOpts{Price: "9"}.tariff(t))
		return err
	}(), api.CodeConflict)
	wantCode(t, func() error {
		_, err := f.st.Assign(f.ctx, acme, s.PublicID, tariffs.NewAssignment{SourceID: other.PublicID})
		return err
	}(), api.CodeConflict)
	wantCode(t, func() error {
		_, err := f.st.UpdateAssignment(f.ctx, acme, s.PublicID, past.PublicID, tariffs.AssignmentPatch{ValidTo: []byte("null")})
		return err
	}(), api.CodeConflict)
	wantCode(t, f.st.DeleteAssignment(f.ctx, acme, s.PublicID, past.PublicID), api.CodeConflict)

	// Listed only on request; its OCPI id is free again.
	if _, total, _ := f.st.List(f.ctx, acme, tariffs.ListFilter{}, api.PageRequest{Page: 1, Limit: 10}); total != 0 {
		t.Errorf("archived tariff listed by default")
	}
	if _, total, _ := f.st.List(f.ctx, acme, tariffs.ListFilter{Archived: true}, api.PageRequest{Page: 1, Limit: 10}); total != 1 {
		t.Errorf("archived tariff not listed with archived=true")
	}
	if again := f.create(t, acme, tariffOpts{}); again.PublicID == s.PublicID {
		t.Fatal("re-created tariff got the archived one's id")
	}
}

func TestStoreAssignments(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme, intruder := f.tenant(t, "acme"), f.tenant(t, "intruder")
	src := f.source(t, acme, "CB-1/1")
	otherSrc := f.source(t, acme, "CB-2/1")
	foreign := f.source(t, intruder, "CB-9/1")
	charging := f.create(t, acme, tariffOpts{})
	charging2 := f.create(t, acme, tariffOpts{ID: "T2"})
	supply := f.create(t, acme, tariffOpts{ID: "S1", Kind: tariffs.KindSupply})

	jan, feb, mar, apr, may := at(t, "2026-01-01T00:00:00Z"), at(t, "2026-02-01T00:00:00Z"), at(t, "2026-03-01T00:00:00Z"),
		at(t, "2026-04-01T00:00:00Z"), at(t, "2026-05-01T00:00:00Z")
	first, err := f.st.Assign(f.ctx, acme, charging.PublicID, tariffs.NewAssignment{SourceID: src.PublicID, ValidFrom: &jan, ValidTo: &mar})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.PublicID, "tas_") || first.TariffID != charging.PublicID || first.SourceID != src.PublicID ||
		first.Kind != tariffs.KindCharging || !first.ValidFrom.Equal(jan) || !first.ValidTo.Equal(mar) {
		t.Fatalf("assignment %+v", first)
	}

	tests := []struct {
		name     string
		tariff   string
		source   string
		from, to *time.Time
		want     api.Code // "" for success
	}{
		{"overlapping the end", charging2.PublicID, src.PublicID, &feb, &apr, api.CodeConflict},
		{"inside", charging.PublicID, src.PublicID, &feb, &feb2, api.CodeConflict},
		{"adjacent after", charging2.PublicID, src.PublicID, &mar, &apr, ""},
		{"adjacent before", charging2.PublicID, "CB-1/1", ptr(jan.Add(-24 * time.Hour)), &jan, ""},
		{"open-ended after", charging.PublicID, src.PublicID, &apr, nil, ""},
		{"open-ended overlapping", charging2.PublicID, src.PublicID, &may, nil, api.CodeConflict},
		{"other kind, same range", supply.PublicID, src.PublicID, &jan, &mar, ""},
		{"other source, same range", charging2.PublicID, otherSrc.PublicID, &jan, &mar, ""},
		{"empty range", charging.PublicID, otherSrc.PublicID, &may, &may, api.CodeValidation},
		{"unknown source", charging.PublicID, "nope", &jan, nil, api.CodeValidation},
		{"another tenant's source", charging.PublicID, foreign.PublicID, &jan, nil, api.CodeValidation},
		{"no source", charging.PublicID, "", &jan, nil, api.CodeValidation},
		{"unknown tariff", "tar_nope", src.PublicID, &jan, nil, api.CodeNotFound},
	}
	for _, tt := range tests {
		a, err := f.st.Assign(f.ctx, acme, tt.tariff, tariffs.NewAssignment{SourceID: tt.source, ValidFrom: tt.from, ValidTo: tt.to})
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if e := api.AsError(err); e == nil || e.Code != tt.want {
			t.Errorf("%s: got %+v, %v; want %s", tt.name, a, err, tt.want)
		}
	}
	_, err = f.st.Assign(f.ctx, acme, charging2.PublicID, tariffs.NewAssignment{SourceID: src.PublicID, ValidFrom: &feb, ValidTo: &apr})
	if e := wantCode(t, err, api.CodeConflict); !strings.Contains(e.Message, first.PublicID) {
		t.Errorf("conflict %q does not name the assignment in the way", e.Message)
	}
	// Another tenant cannot assign, see or change them.
	wantCode(t, func() error {
		_, err := f.st.Assign(f.ctx, intruder, charging.PublicID, tariffs.NewAssignment{SourceID: foreign.PublicID})
		return err
	}(), api.CodeNotFound)
	wantCode(t, func() error {
		_, _, err := f.st.Assignments(f.ctx, intruder, charging.PublicID, api.PageRequest{Page: 1, Limit: 10})
		return err
	}(), api.CodeNotFound)
	wantCode(t, f.st.DeleteAssignment(f.ctx, intruder, charging.PublicID, first.PublicID), api.CodeNotFound)

	// Moving an end into another assignment conflicts; null reopens.
	_, err = f.st.UpdateAssignment(f.ctx, acme, charging.PublicID, first.PublicID, tariffs.AssignmentPatch{ValidTo: []byte(`"2026-03-15T00:00:00Z"`)})
	wantCode(t, err, api.CodeConflict)
	_, err = f.st.UpdateAssignment(f.ctx, acme, charging.PublicID, first.PublicID, tariffs.AssignmentPatch{ValidFrom: &mar})
	wantCode(t, err, api.CodeValidation)
	moved, err := f.st.UpdateAssignment(f.ctx, acme, charging.PublicID, first.PublicID, tariffs.AssignmentPatch{ValidTo: []byte(`"2026-02-15T00:00:00Z"`)})
	if err != nil || !moved.ValidTo.Equal(at(t, "2026-02-15T00:00:00Z")) || !moved.ValidFrom.Equal(jan) {
		t.Fatalf("shortened: %+v %v", moved, err)
	}
	open, err := f.st.UpdateAssignment(f.ctx, acme, charging.PublicID, moved.PublicID, tariffs.AssignmentPatch{ValidTo: []byte(`null`)})
	wantCode(t, err, api.CodeConflict) // open-ended would overlap March on
	if err := f.st.DeleteAssignment(f.ctx, acme, charging.PublicID, first.PublicID); err != nil {
		t.Fatalf("delete: %v (%+v)", err, open)
	}
	wantCode(t, f.st.DeleteAssignment(f.ctx, acme, charging.PublicID, first.PublicID), api.CodeNotFound)
	list, total, err := f.st.Assignments(f.ctx, acme, charging.PublicID, api.PageRequest{Page: 1, Limit: 10})
	if err != nil || total != 1 || list[0].ValidTo != nil || !list[0].ValidFrom.Equal(apr) {
		t.Fatalf("assignments of %s: %d %+v %v", charging.PublicID, total, list, err)
	}
}

var feb2 = time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)

// TestAssignmentOverlapConstraint writes past the store: the database
// itself refuses overlapping assignments of a kind, so a writer that skips
// the store's check (or races it) cannot break the rule.
func TestAssignmentOverlapConstraint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	src := f.source(t, acme, "CB-1/1")
	s := f.create(t, acme, tariffOpts{})
	insert := func(kind, from string, to *string) error {
		_, err := f.pool.Exec(f.ctx, `INSERT INTO tariff_assignments (public_id, tenant_id, source_id, tariff_id, kind, valid_from, valid_to)
			VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz)`, auth.NewPublicID("tas"), acme, src.ID, s.ID, kind, from, to)
		return err
	}
	if err := insert("charging", "2026-01-01T00:00:00Z", nil); err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if err := insert("charging", "2030-01-01T00:00:00Z", ptr("2030-02-01T00:00:00Z")); !errors.As(err, &pgErr) || pgErr.Code != "23P01" {
		t.Fatalf("overlap: err = %v, want an exclusion violation", err)
	}
	if err := insert("supply", "2030-01-01T00:00:00Z", nil); err != nil {
		t.Fatalf("another kind: %v", err)
	}
	if err := insert("charging", "2025-01-01T00:00:00Z", ptr("2026-01-01T00:00:00Z")); err != nil {
		t.Fatalf("adjacent: %v", err)
	}
}

// TestAssignConcurrently races assignments of overlapping ranges to one
// source: exactly one wins, the others are conflicts.
func TestAssignConcurrently(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	src := f.source(t, acme, "CB-1/1")
	s := f.create(t, acme, tariffOpts{})
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := at(t, "2026-01-01T00:00:00Z").Add(time.Duration(i) * time.Hour)
			_, errs[i] = f.st.Assign(f.ctx, acme, s.PublicID, tariffs.NewAssignment{SourceID: src.PublicID, ValidFrom: &from})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch e := api.AsError(err); {
		case err == nil:
			won++
		case e == nil || e.Code != api.CodeConflict:
			t.Errorf("err = %v, want CONFLICT", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d assignments won, want 1", won)
	}
}

func TestAssignedTariffs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme, other := f.tenant(t, "acme"), f.tenant(t, "other")
	meter := f.source(t, acme, "M-1")
	x := f.create(t, acme, tariffOpts{ID: "X", Kind: tariffs.KindSupply, Price: "0.30", Start: "2026-01-01T00:00:00Z"})
	f.update(t, acme, x.PublicID, tariffOpts{ID: "X", Kind: tariffs.KindSupply, Price: "0.35", Start: "2026-02-10T00:00:00Z"})
	y := f.create(t, acme, tariffOpts{ID: "Y", Kind: tariffs.KindSupply, Price: "0.25", Start: "2026-01-01T00:00:00Z"})
	late := f.create(t, acme, tariffOpts{ID: "L", Kind: tariffs.KindSupply, Price: "0.40", Start: "2026-04-10T00:00:00Z"})
	exp := f.create(t, acme, tariffOpts{ID: "E", Kind: tariffs.KindExport, Price: "0.08", Start: "2026-01-01T00:00:00Z"})
	// Version 2 of the export tariff ends: nothing prices export after it.
	f.update(t, acme, exp.PublicID, tariffOpts{ID: "E", Kind: tariffs.KindExport, Price: "0.09", Start: "2026-08-01T00:00:00Z", End: "2026-09-01T00:00:00Z"})

	assign := func(tariff, from, to string) string {
		t.Helper()
		n := tariffs.NewAssignment{SourceID: meter.PublicID, ValidFrom: ptr(at(t, from))}
		if to != "" {
			n.ValidTo = ptr(at(t, to))
		}
		a, err := f.st.Assign(f.ctx, acme, tariff, n)
		if err != nil {
			t.Fatalf("assign %s %s–%s: %v", tariff, from, to, err)
		}
		return a.PublicID
	}
	ax := assign(x.PublicID, "2026-01-15T00:00:00Z", "2026-03-01T00:00:00Z")
	ay := assign(y.PublicID, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
	// A gap in April until the 5th, then a tariff whose first version
	// takes effect on the 10th.
	al := assign(late.PublicID, "2026-04-05T00:00:00Z", "")
	ae := assign(exp.PublicID, "2026-01-01T00:00:00Z", "")

	type piece struct {
		from, to, assignment, tariff string
		version                      int
		price                        string
	}
	tests := []struct {
		name     string
		kind     tariffs.Kind
		from, to string
		want     []piece
	}{
		{"everything", tariffs.KindSupply, "2026-01-01T00:00:00Z", "2026-05-01T00:00:00Z", []piece{
			{"2026-01-15T00:00:00Z", "2026-02-10T00:00:00Z", ax, x.PublicID, 1, "0.30"},
			{"2026-02-10T00:00:00Z", "2026-03-01T00:00:00Z", ax, x.PublicID, 2, "0.35"},
			{"2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", ay, y.PublicID, 1, "0.25"},
			{"2026-04-10T00:00:00Z", "2026-05-01T00:00:00Z", al, late.PublicID, 1, "0.40"},
		}},
		{"clipped inside one version", tariffs.KindSupply, "2026-02-11T00:00:00Z", "2026-02-12T00:00:00Z", []piece{
			{"2026-02-11T00:00:00Z", "2026-02-12T00:00:00Z", ax, x.PublicID, 2, "0.35"},
		}},
		{"across a version change and an assignment change", tariffs.KindSupply, "2026-02-01T00:00:00Z", "2026-03-02T00:00:00Z", []piece{
			{"2026-02-01T00:00:00Z", "2026-02-10T00:00:00Z", ax, x.PublicID, 1, "0.30"},
			{"2026-02-10T00:00:00Z", "2026-03-01T00:00:00Z", ax, x.PublicID, 2, "0.35"},
			{"2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", ay, y.PublicID, 1, "0.25"},
		}},
		{"in the gap", tariffs.KindSupply, "2026-04-01T00:00:00Z", "2026-04-05T00:00:00Z", nil},
		{"before the first version", tariffs.KindSupply, "2026-04-05T00:00:00Z", "2026-04-10T00:00:00Z", nil},
		{"before any assignment", tariffs.KindSupply, "2025-01-01T00:00:00Z", "2026-01-15T00:00:00Z", nil},
		{"export", tariffs.KindExport, "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", []piece{
			{"2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", ae, exp.PublicID, 1, "0.08"},
		}},
		{"export until the last version ends", tariffs.KindExport, "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", []piece{
			{"2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z", ae, exp.PublicID, 1, "0.08"},
			{"2026-08-01T00:00:00Z", "2026-09-01T00:00:00Z", ae, exp.PublicID, 2, "0.09"},
		}},
		{"export after the end", tariffs.KindExport, "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z", nil},
		{"charging", tariffs.KindCharging, "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.st.AssignedTariffs(f.ctx, acme, meter.ID, tt.kind, at(t, tt.from), at(t, tt.to))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d pieces, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if !g.From.Equal(at(t, w.from)) || !g.To.Equal(at(t, w.to)) || g.AssignmentID != w.assignment || g.TariffID != w.tariff ||
					g.Version != w.version || g.Tariff.Elements[0].PriceComponents[0].Price.String() != w.price {
					t.Errorf("piece %d = %s–%s %s %s v%d, want %+v", i, g.From.UTC().Format(time.RFC3339), g.To.UTC().Format(time.RFC3339),
						g.AssignmentID, g.TariffID, g.Version, w)
				}
			}
		})
	}

	// Another tenant's view of the source is empty; bad arguments are
	// validation errors.
	if got, err := f.st.AssignedTariffs(f.ctx, other, meter.ID, tariffs.KindSupply, at(t, "2026-01-01T00:00:00Z"), at(t, "2026-05-01T00:00:00Z")); err != nil || len(got) != 0 {
		t.Errorf("another tenant: %+v %v", got, err)
	}
	_, err := f.st.AssignedTariffs(f.ctx, acme, meter.ID, "heat", at(t, "2026-01-01T00:00:00Z"), at(t, "2026-05-01T00:00:00Z"))
	wantCode(t, err, api.CodeValidation)
	_, err = f.st.AssignedTariffs(f.ctx, acme, meter.ID, tariffs.KindSupply, at(t, "2026-01-01T00:00:00Z"), at(t, "2026-01-01T00:00:00Z"))
	wantCode(t, err, api.CodeValidation)
}

// TestVersionLastUpdated: every version carries last_updated (OCPI
// requires it of a tariff in a CDR): the version's creation time, to the
// millisecond, when its document has none, else the document's own. The
// pricing path (AssignedTariffs) reads it too.
func TestVersionLastUpdated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	box := f.source(t, acme, "CB-1")
	bare := f.create(t, acme, tariffOpts{ID: "BARE"})
	own := tariffOpts{ID: "OWN"}.tariff(t)
	own.LastUpdated = at(t, "2025-06-01T12:00:00Z")
	stamped, err := f.st.Create(f.ctx, acme, own)
	if err != nil {
		t.Fatal(err)
	}
	f.update(t, acme, bare.PublicID, tariffOpts{ID: "BARE", Price: "2.50"})
	for i, tt := range []struct {
		id      string
		version int
		own     time.Time // zero: the version's creation time
	}{
		{bare.PublicID, 1, time.Time{}},
		{bare.PublicID, 2, time.Time{}},
		{stamped.PublicID, 1, at(t, "2025-06-01T12:00:00Z")},
	} {
		v, err := f.st.Version(f.ctx, acme, tt.id, tt.version)
		if err != nil {
			t.Fatal(err)
		}
		want := tt.own
		if want.IsZero() {
			want = v.CreatedAt.Truncate(time.Millisecond)
		}
		if !v.Tariff.LastUpdated.Equal(want) {
			t.Errorf("%s v%d: last_updated %s, want %s", tt.id, tt.version, v.Tariff.LastUpdated, want)
		}
		from := at(t, "2027-01-01T00:00:00Z").AddDate(i, 0, 0)
		if _, err := f.st.Assign(f.ctx, acme, tt.id, tariffs.NewAssignment{SourceID: box.PublicID, ValidFrom: &from, ValidTo: ptr(from.AddDate(1, 0, 0))}); err != nil {
			t.Fatal(err)
		}
		got, err := f.st.AssignedTariffs(f.ctx, acme, box.ID, tariffs.KindCharging, from, from.Add(time.Microsecond))
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %+v %v", tt.id, got, err)
		}
		if got[0].Version == tt.version && !got[0].Tariff.LastUpdated.Equal(want) {
			t.Errorf("%s v%d priced with last_updated %s, want %s", tt.id, tt.version, got[0].Tariff.LastUpdated, want)
		}
	}
}
