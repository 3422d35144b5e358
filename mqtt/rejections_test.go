package mqtt

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestRejectionsKeepTheNewestPerTenant fills one tenant's record past its
// bound: the newest stay, newest first; the other tenant's record is its
// own; payloads keep their first bytes and size, text its valid form.
func TestRejectionsKeepTheNewestPerTenant(t *testing.T) {
	pool := dbtest.New(t)
	ctx := context.Background()
	st := auth.NewStore(pool)
	acme, err := st.CreateTenant(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateTenant(ctx, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	rej := NewRejections(pool, 5)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 8 {
		if err := rej.Add(ctx, acme.ID, fmt.Sprintf("gridmetrics/%s/value/m-%d/power_import/W", acme.PublicID, i), at.Add(time.Duration(i)*time.Second),
			fmt.Sprintf("reason %d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	big := append([]byte("\x00bad \xff"), strings.Repeat("x", 1000)...)
	if err := rej.Add(ctx, other.ID, "gridmetrics/other/\xff", at, strings.Repeat("r", 5000), big); err != nil {
		t.Fatal(err)
	}

	list, total, err := rej.List(ctx, acme.ID, api.PageRequest{Page: 1, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 || len(list) != 3 || list[0].Reason != "reason 7" || list[2].Reason != "reason 5" {
		t.Fatalf("first page of acme (total %d): %+v", total, list)
	}
	list, total, err = rej.List(ctx, acme.ID, api.PageRequest{Page: 2, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 || len(list) != 2 || list[1].Reason != "reason 3" || list[1].PayloadHead != "3" || list[1].Truncated {
		t.Fatalf("second page of acme (total %d): %+v", total, list)
	}
	if _, total, _ = rej.List(ctx, acme.ID, api.PageRequest{Page: 9, Limit: 3}); total != 5 {
		t.Errorf("a page past the end counts %d, want 5", total)
	}

	list, total, err = rej.List(ctx, other.ID, api.PageRequest{Page: 1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || len(list) != 1 {
		t.Fatalf("other: %d, %+v", total, list)
	}
	r := list[0]
	if r.PayloadSize != len(big) || !r.Truncated || len(r.PayloadHead) < PayloadHead-10 || strings.ContainsRune(r.PayloadHead, 0) ||
		r.Topic != "gridmetrics/other/\uFFFD" || len(r.Reason) > maxReason+len("…") {
		t.Errorf("other's rejection: size %d truncated %v head %q topic %q reason of %d bytes", r.PayloadSize, r.Truncated, r.PayloadHead, r.Topic, len(r.Reason))
	}
}
