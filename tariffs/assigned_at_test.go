package tariffs_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// TestAssignedAtAgreesWithAssignedTariffs asks AssignedAt, in one call, the
// tariff of several sources of two tenants at many instants — around
// version changes, assignment edges, a gap, a version that ends, a first
// version that takes effect after its assignment — and checks each answer
// against AssignedTariffs over [at, at+1µs), the rule's other home.
func TestAssignedAtAgreesWithAssignedTariffs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme, other := f.tenant(t, "acme"), f.tenant(t, "other")
	c1, c2, c3 := f.source(t, acme, "CB-1/1"), f.source(t, acme, "CB-1/2"), f.source(t, other, "CB-9/1")
	x := f.create(t, acme, tariffOpts{ID: "X", Price: "1.00", Start: "2026-01-01T00:00:00Z"})
	f.update(t, acme, x.PublicID, tariffOpts{ID: "X", Price: "1.50", Start: "2026-02-10T00:00:00Z"})
	f.update(t, acme, x.PublicID, tariffOpts{ID: "X", Price: "1.75", Start: "2026-03-10T00:00:00Z", End: "2026-03-20T00:00:00Z"})
	y := f.create(t, acme, tariffOpts{ID: "Y", Price: "2.00", Start: "2026-02-05T00:00:00Z"})
	z := f.create(t, other, tariffOpts{ID: "Z", Price: "3.00", Start: "2026-01-01T00:00:00Z"})
	assign := func(tenant int64, tariff, source, from, to string) {
		t.Helper()
		n := tariffs.NewAssignment{SourceID: source, ValidFrom: ptr(at(t, from))}
		if to != "" {
			n.ValidTo = ptr(at(t, to))
		}
		if _, err := f.st.Assign(f.ctx, tenant, tariff, n); err != nil {
			t.Fatalf("assign %s to %s: %v", tariff, source, err)
		}
	}
	assign(acme, x.PublicID, c1.PublicID, "2026-01-15T00:00:00Z", "2026-04-01T00:00:00Z")
	assign(acme, y.PublicID, c1.PublicID, "2026-04-05T00:00:00Z", "")
	assign(acme, y.PublicID, c2.PublicID, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z")
	assign(other, z.PublicID, c3.PublicID, "2026-01-01T00:00:00Z", "")

	edges := []string{"2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z", "2026-02-05T00:00:00Z", "2026-02-10T00:00:00Z",
		"2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z", "2026-03-20T00:00:00Z", "2026-04-01T00:00:00Z", "2026-04-05T00:00:00Z"}
	var instants []time.Time
	for _, e := range edges {
		for _, d := range []time.Duration{-time.Microsecond, 0, time.Microsecond, time.Hour} {
			instants = append(instants, at(t, e).Add(d))
		}
	}
	rng := rand.New(rand.NewPCG(13, 1))
	begin := at(t, "2025-12-20T00:00:00Z")
	for range 40 {
		instants = append(instants, begin.Add(time.Duration(rng.Int64N(int64(130*24*time.Hour)))).Truncate(time.Microsecond))
	}
	type ask struct {
		tenant int64
		source int64
	}
	asks := []ask{{acme, c1.ID}, {acme, c2.ID}, {other, c3.ID}, {other, c1.ID}} // the last: another tenant's source
	var qs []tariffs.SourceAt
	for _, in := range instants {
		for _, a := range asks {
			qs = append(qs, tariffs.SourceAt{TenantID: a.tenant, SourceID: a.source, At: in})
		}
	}
	cache := tariffs.NewCache(2) // fewer than the versions asked for: answers must not depend on it
	got, err := f.st.AssignedAt(f.ctx, tariffs.KindCharging, qs, cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(qs) {
		t.Fatalf("%d answers to %d questions", len(got), len(qs))
	}
	found := 0
	for i, q := range qs {
		want, err := f.st.AssignedTariffs(f.ctx, q.TenantID, q.SourceID, tariffs.KindCharging, q.At, q.At.Add(time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		g := got[i]
		if len(want) == 0 {
			if g.Tariff != nil {
				t.Errorf("source %d at %s: got %s@%d, want none", q.SourceID, q.At.Format(time.RFC3339Nano), g.TariffID, g.Version)
			}
			continue
		}
		found++
		w := want[0]
		if g.Tariff == nil || g.TariffID != w.TariffID || g.Version != w.Version || timePrice(g.Tariff) != timePrice(w.Tariff) {
			t.Errorf("source %d at %s: got %+v, want %s@%d", q.SourceID, q.At.Format(time.RFC3339Nano), g, w.TariffID, w.Version)
		}
	}
	if found < len(qs)/4 {
		t.Errorf("only %d of %d questions had a tariff: the test asks too little", found, len(qs))
	}
	if n := cache.Len(); n > 2 {
		t.Errorf("cache holds %d versions, bound 2", n)
	}
	if _, err := f.st.AssignedAt(f.ctx, "heat", qs[:1], cache); api.AsError(err) == nil || api.AsError(err).Code != api.CodeValidation {
		t.Errorf("kind heat: %v, want a validation error", err)
	}
}

// TestAssignedAtCacheIsNeverStale: a tariff read through the cache, then
// updated (PUT, a new version valid from the same instant), is answered
// with the new version at once; the old version is still served, from the
// cache, where it is in effect.
func TestAssignedAtCacheIsNeverStale(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	c := f.source(t, acme, "CB-1/1")
	x := f.create(t, acme, tariffOpts{ID: "X", Price: "1.00", Start: "2026-01-01T00:00:00Z"})
	if _, err := f.st.Assign(f.ctx, acme, x.PublicID, tariffs.NewAssignment{SourceID: c.PublicID, ValidFrom: ptr(at(t, "2026-01-01T00:00:00Z"))}); err != nil {
		t.Fatal(err)
	}
	cache := tariffs.NewCache(0)
	q := []tariffs.SourceAt{{TenantID: acme, SourceID: c.ID, At: at(t, "2026-02-01T00:00:00Z")}}
	ask := func() tariffs.VersionAt {
		t.Helper()
		got, err := f.st.AssignedAt(f.ctx, tariffs.KindCharging, q, cache)
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	first := ask()
	if first.Version != 1 || timePrice(first.Tariff) != "1.00" {
		t.Fatalf("before the update: %+v", first)
	}
	if again := ask(); again.Tariff != first.Tariff {
		t.Error("the same version was parsed twice: the cache did not keep it")
	}
	f.update(t, acme, x.PublicID, tariffOpts{ID: "X", Price: "1.25", Start: "2026-01-15T00:00:00Z"})
	if got := ask(); got.Version != 2 || timePrice(got.Tariff) != "1.25" {
		t.Fatalf("after the update: %s@%d at %s, want version 2 at 1.25", got.TariffID, got.Version, timePrice(got.Tariff))
	}
	q[0].At = at(t, "2026-01-10T00:00:00Z")
	if got := ask(); got.Version != 1 || got.Tariff != first.Tariff {
		t.Errorf("before version 2 takes effect: %+v, want the cached version 1", got)
	}
}
