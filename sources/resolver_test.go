package sources_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
)

func TestResolverResolves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.tenant(t, "a"), f.tenant(t, "b")
	meter := f.source(t, a.ID, sourceOpts{ExternalID: "M-1"})
	f.source(t, b.ID, sourceOpts{ExternalID: "M-2"})
	r := sources.NewResolver(f.st)

	for range 2 { // the second round is served from the cache
		ids, err := r.Resolve(f.ctx, a.ID, []string{"M-1", meter.PublicID, "M-2", "nope"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 2 || ids["M-1"] != meter.ID || ids[meter.PublicID] != meter.ID {
			t.Fatalf("ids %v: want M-1 and %s → %d, and another tenant's M-2 unknown", ids, meter.PublicID, meter.ID)
		}
	}
}

func TestResolverFollowsRenamesAndDeletes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "a")
	s := f.source(t, ten.ID, sourceOpts{ExternalID: "old"})
	gone := f.source(t, ten.ID, sourceOpts{ExternalID: "gone"})
	r := sources.NewResolver(f.st)
	if ids, _ := r.Resolve(f.ctx, ten.ID, []string{"old", "gone"}, nil); len(ids) != 2 {
		t.Fatalf("before: %v", ids)
	}

	newName := "new"
	if _, err := f.st.Update(f.ctx, ten.ID, s.PublicID, sources.Patch{ExternalID: &newName}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Delete(f.ctx, ten.ID, gone.PublicID); err != nil {
		t.Fatal(err)
	}
	ids, err := r.Resolve(f.ctx, ten.ID, []string{"old", "new", "gone"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids["new"] != s.ID {
		t.Fatalf("after rename and delete: %v, want only new → %d", ids, s.ID)
	}
}

func TestResolverRegistersOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "a")
	f.autoRegister(t, ten.ID)
	box := "CB-7"
	register := func(missing []string) []sources.NewSource {
		out := []sources.NewSource{{ExternalID: box, Kind: sources.KindCharger}}
		for _, m := range missing {
			if m != box {
				out = append(out, sources.NewSource{ExternalID: m, Kind: sources.KindConnector, Parent: &box})
			}
		}
		return out
	}
	workers := 8
	if dbtest.SchemaIsolation() {
		workers = 1
	}
	var wg sync.WaitGroup
	results := make([]map[string]int64, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate resolvers stand for separate replicas.
			ids, err := sources.NewResolver(f.st).Resolve(f.ctx, ten.ID, []string{"CB-7/1", "CB-7/2"}, register)
			if err != nil {
				t.Error(err)
			}
			results[i] = ids
		}()
	}
	wg.Wait()
	for _, ids := range results[1:] {
		if ids["CB-7/1"] != results[0]["CB-7/1"] || ids["CB-7/2"] != results[0]["CB-7/2"] {
			t.Fatalf("replicas disagree: %v vs %v", ids, results[0])
		}
	}
	var n int
	if err := f.pool.QueryRow(f.ctx, "SELECT count(*) FROM sources WHERE tenant_id = $1", ten.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d sources, want the charge box and two connectors", n)
	}
	conn, err := f.st.Get(f.ctx, ten.ID, publicIDOf(t, f, ten.ID, "CB-7/1"))
	if err != nil || conn.Kind != sources.KindConnector || conn.Parent == nil {
		t.Fatalf("connector %+v, err %v: want a connector with the charge box as parent", conn, err)
	}
}

func publicIDOf(t *testing.T, f fixture, tenantID int64, externalID string) string {
	t.Helper()
	list, _, err := f.st.List(f.ctx, tenantID, sources.Filter{ExternalID: externalID}, api.PageRequest{Page: 1, Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("find %s: %v %v", externalID, list, err)
	}
	return list[0].PublicID
}

// TestResolverListensToOtherReplicas renames a source through one store
// while a resolver on another store listens for the notification.
func TestResolverListensToOtherReplicas(t *testing.T) {
	if dbtest.SchemaIsolation() {
		t.Skip("the listener holds a connection of its own")
	}
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "a")
	s := f.source(t, ten.ID, sourceOpts{ExternalID: "before"})

	replica := sources.NewResolver(sources.NewStore(f.pool))
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go replica.Listen(ctx, f.pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if ids, _ := replica.Resolve(f.ctx, ten.ID, []string{"before"}, nil); ids["before"] != s.ID {
		t.Fatalf("before rename: %v", ids)
	}
	time.Sleep(100 * time.Millisecond) // let the listener subscribe

	after := "after"
	if _, err := f.st.Update(f.ctx, ten.ID, s.PublicID, sources.Patch{ExternalID: &after}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ids, err := replica.Resolve(f.ctx, ten.ID, []string{"before"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica still resolves the old name 5 s after the rename")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResolverAutoRegisterFlag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "a")
	r := sources.NewResolver(f.st)
	if on, err := r.AutoRegister(f.ctx, ten.ID); err != nil || on {
		t.Fatalf("default: %v %v, want off", on, err)
	}
	if _, err := f.pool.Exec(f.ctx, "UPDATE tenants SET auto_register = true WHERE id = $1", ten.ID); err != nil {
		t.Fatal(err)
	}
	if on, err := sources.NewResolver(f.st).AutoRegister(f.ctx, ten.ID); err != nil || !on {
		t.Fatalf("after turning it on: %v %v", on, err)
	}
}

func (f fixture) autoRegister(t *testing.T, tenantID int64) {
	t.Helper()
	if _, err := f.pool.Exec(f.ctx, "UPDATE tenants SET auto_register = true WHERE id = $1", tenantID); err != nil {
		t.Fatal(err)
	}
}

// chargerRegister registers a charge box and its connectors, as OCPP
// ingest does.
func chargerRegister(box string) sources.Register {
	return func(missing []string) []sources.NewSource {
		out := []sources.NewSource{{ExternalID: box, Kind: sources.KindCharger}}
		for _, m := range missing {
			if m != box {
				out = append(out, sources.NewSource{ExternalID: m, Kind: sources.KindConnector, Parent: &box})
			}
		}
		return out
	}
}

func TestResolverAutoRegistration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	off, on := f.tenant(t, "off"), f.tenant(t, "on")
	f.autoRegister(t, on.ID)
	count := func(tenantID int64) int {
		t.Helper()
		var n int
		if err := f.pool.QueryRow(f.ctx, "SELECT count(*) FROM sources WHERE tenant_id = $1", tenantID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("off", func(t *testing.T) {
		res, err := sources.NewResolver(f.st).ResolveEach(f.ctx, off.ID, []string{"CB-1/1"}, chargerRegister("CB-1"))
		if err != nil || len(res.IDs) != 0 || len(res.Refused) != 0 || count(off.ID) != 0 {
			t.Fatalf("tenant without auto-registration: %+v, err %v, %d sources; want nothing registered", res, err, count(off.ID))
		}
	})

	t.Run("connector cap", func(t *testing.T) {
		r := sources.NewResolver(f.st)
		r.MaxAutoChildren = 3
		refs := []string{"CB-2/1", "CB-2/2", "CB-2/3", "CB-2/4", "CB-2/5"}
		res, err := r.ResolveEach(f.ctx, on.ID, refs, chargerRegister("CB-2"))
		if err != nil {
			t.Fatal(err)
		}
		resolved := 0
		for _, ref := range refs {
			if res.IDs[ref] != 0 {
				resolved++
			}
		}
		if resolved != 3 || len(res.Refused) != 2 {
			t.Fatalf("%d connectors resolved, %d refused (%v); want 3 and 2", resolved, len(res.Refused), res.Refused)
		}
		for ref, err := range res.Refused {
			if !errors.Is(err, sources.ErrTooManyChildren) || !strings.Contains(err.Error(), "CB-2") {
				t.Errorf("%s refused with %v, want ErrTooManyChildren naming the box", ref, err)
			}
		}
		// The cap holds for later requests too.
		res, err = r.ResolveEach(f.ctx, on.ID, []string{"CB-2/9"}, chargerRegister("CB-2"))
		if _, ok := res.IDs["CB-2/9"]; err != nil || ok || !errors.Is(res.Refused["CB-2/9"], sources.ErrTooManyChildren) {
			t.Fatalf("a later connector: %+v, err %v; want it refused", res, err)
		}
	})

	t.Run("one invalid source", func(t *testing.T) {
		bad := "M-\x01"
		meters := func(missing []string) []sources.NewSource {
			var out []sources.NewSource
			for _, m := range missing {
				out = append(out, sources.NewSource{ExternalID: m, Kind: sources.KindMeter})
			}
			return out
		}
		res, err := sources.NewResolver(f.st).ResolveEach(f.ctx, on.ID, []string{"M-good", bad, "M-also-good"}, meters)
		if err != nil {
			t.Fatalf("one invalid name failed the whole resolution: %v", err)
		}
		if res.IDs["M-good"] == 0 || res.IDs["M-also-good"] == 0 || res.Refused[bad] == nil {
			t.Fatalf("%+v: want both good meters registered and the bad one refused", res)
		}
		if _, ok := res.IDs[bad]; ok {
			t.Fatalf("the invalid name resolved: %+v", res)
		}
	})
}
