package sites_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sites"
	"github.com/gridmetrics/gridmetrics/sources"
)

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code api.Code) {
	t.Helper()
	if e := api.AsError(err); e == nil || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	st := sites.NewStore(pool)
	tenants := auth.NewStore(pool)
	a, err := tenants.CreateTenant(ctx, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tenants.CreateTenant(ctx, "b", false)
	if err != nil {
		t.Fatal(err)
	}

	created, err := st.Create(ctx, a.ID, sites.NewSite{ID: "depot-1", Name: "Depot", Address: ptr("Alexanderplatz 1"),
		City: ptr("Berlin"), PostalCode: ptr("10178"), Country: ptr("DEU"),
		Coordinates: &sites.Coordinates{Latitude: "52.521918", Longitude: "13.413215"}, TimeZone: "Europe/Berlin",
		Operator: &sites.Operator{Name: "Op"}, OCPILocationID: ptr("LOC-1")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, a.ID, "depot-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Coordinates == nil || got.Coordinates.Longitude != "13.413215" || got.Operator == nil || got.Operator.Website != nil ||
		*got.Country != "DEU" || got.State != nil || got.TimeZone != "Europe/Berlin" || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("read back %+v", got)
	}
	_, err = st.Create(ctx, a.ID, sites.NewSite{ID: "depot-1"})
	wantCode(t, err, api.CodeConflict)
	// The same id in another tenant is another site; neither sees the other's.
	if _, err := st.Create(ctx, b.ID, sites.NewSite{ID: "depot-1"}); err != nil {
		t.Fatal(err)
	}
	if s, err := st.Get(ctx, b.ID, "depot-1"); err != nil || s.Address != nil {
		t.Fatalf("tenant b's site: %+v, %v", s, err)
	}
	_, err = st.Get(ctx, b.ID, "nowhere")
	wantCode(t, err, api.CodeNotFound)

	// A source naming a new site creates it bare, with the source's zone.
	src := sources.NewStore(pool)
	if _, err := src.Create(ctx, a.ID, sources.NewSource{ExternalID: "M-1", Kind: sources.KindMeter, SiteID: ptr("yard"), Timezone: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Create(ctx, a.ID, sources.NewSource{ExternalID: "M-2", Kind: sources.KindMeter, SiteID: ptr("depot-1")}); err != nil {
		t.Fatal(err)
	}
	yard, err := st.Get(ctx, a.ID, "yard")
	if err != nil || yard.TimeZone != "Europe/Paris" || yard.Name != "" || yard.Address != nil {
		t.Fatalf("bare site: %+v, %v", yard, err)
	}

	// Pages in id order.
	for i := range 3 {
		if _, err := st.Create(ctx, a.ID, sites.NewSite{ID: fmt.Sprintf("z-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	page, total, err := st.List(ctx, a.ID, api.PageRequest{Page: 2, Limit: 2})
	if err != nil || total != 5 || len(page) != 2 || page[0].ID != "z-0" || page[1].ID != "z-1" {
		t.Fatalf("page 2: %v (total %d), %v", page, total, err)
	}

	// Renaming carries the sources along; null clears.
	renamed, err := st.Update(ctx, a.ID, "depot-1", sites.Patch{ID: ptr("depot-9"), Address: api.Nullable[string]{Set: true},
		State: api.Nullable[string]{Set: true, Value: ptr("Berlin")}})
	if err != nil {
		t.Fatal(err)
	}
	if renamed.ID != "depot-9" || renamed.Address != nil || *renamed.State != "Berlin" || *renamed.City != "Berlin" || !renamed.UpdatedAt.After(renamed.CreatedAt) {
		t.Fatalf("after update: %+v", renamed)
	}
	if s, err := src.Get(ctx, a.ID, "M-2"); err != nil || s.SiteID == nil || *s.SiteID != "depot-9" {
		t.Fatalf("source of the renamed site: %+v, %v", s, err)
	}
	_, err = st.Update(ctx, a.ID, "depot-9", sites.Patch{ID: ptr("yard")})
	wantCode(t, err, api.CodeConflict)
	_, err = st.Update(ctx, a.ID, "depot-1", sites.Patch{Name: ptr("x")})
	wantCode(t, err, api.CodeNotFound)
	_, err = st.Update(ctx, b.ID, "yard", sites.Patch{Name: ptr("x")})
	wantCode(t, err, api.CodeNotFound)

	// A site its sources stand at stays; an empty one goes.
	err = st.Delete(ctx, a.ID, "depot-9")
	wantCode(t, err, api.CodeConflict)
	if e := api.AsError(err); e.Details.(map[string]any)["sources"] != int64(1) {
		t.Fatalf("conflict details %v, want 1 source", e.Details)
	}
	if err := st.Delete(ctx, a.ID, "z-0"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, st.Delete(ctx, a.ID, "z-0"), api.CodeNotFound)
	wantCode(t, st.Delete(ctx, b.ID, "z-1"), api.CodeNotFound)
	if err := src.Delete(ctx, a.ID, "M-2"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, a.ID, "depot-9"); err != nil {
		t.Fatalf("delete a site no source stands at: %v", err)
	}
}
