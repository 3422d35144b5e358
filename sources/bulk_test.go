package sources_test

import (
	"testing"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/sources"
)

func bulkItems(opts ...sourceOpts) []sources.BulkItem {
	items := make([]sources.BulkItem, len(opts))
	for i, o := range opts {
		items[i].Source = o.newSource()
	}
	return items
}

func (f fixture) count(t *testing.T, tenantID int64) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM sources WHERE tenant_id = $1`, tenantID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCreateManyOneTransaction: a statement that fails mid-way (metadata
// that passes validation but that PostgreSQL refuses) rolls back the
// sources inserted before it; nothing is half-done.
func TestCreateManyOneTransaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "acme")
	items := bulkItems(
		sourceOpts{ExternalID: "TX-1"},
		sourceOpts{ExternalID: "TX-2", Parent: "TX-1"},
		sourceOpts{ExternalID: "TX-3", Metadata: `{"note":"\u0000"}`},
		sourceOpts{ExternalID: "TX-4"},
	)
	if _, err := f.st.CreateMany(f.ctx, ten.ID, items); err == nil || api.AsError(err) != nil {
		t.Fatalf("create many: %v, want a failed request", err)
	}
	if n := f.count(t, ten.ID); n != 0 {
		t.Fatalf("%d sources stored after a failed request", n)
	}

	// Without the refused item the same request stores all of them.
	out, err := f.st.CreateMany(f.ctx, ten.ID, append(items[:2:2], items[3]))
	if err != nil || out.Created != 3 || f.count(t, ten.ID) != 3 {
		t.Fatalf("create many: %+v %v", out, err)
	}
	if *out.Results[1].Source.Parent != out.Results[0].Source.PublicID {
		t.Fatalf("parent %v, want %s", *out.Results[1].Source.Parent, out.Results[0].Source.PublicID)
	}
}

// TestCreateManyLimit: more than MaxBulk items are refused before any
// work, naming the limit.
func TestCreateManyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ten := f.tenant(t, "acme")
	_, err := f.st.CreateMany(f.ctx, ten.ID, bulkItems(make([]sourceOpts, sources.MaxBulk+1)...))
	if e := api.AsError(err); e == nil || e.Code != api.CodeTooLarge {
		t.Fatalf("create many: %v, want PAYLOAD_TOO_LARGE", err)
	}
	if n := f.count(t, ten.ID); n != 0 {
		t.Fatalf("%d sources stored", n)
	}
}
