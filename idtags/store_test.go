package idtags_test

import (
	"context"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/idtags"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

func TestStoreAndCheck(t *testing.T) {
	pool := dbtest.New(t)
	ctx := context.Background()
	tenant := func(name string) int64 {
		ten, err := auth.NewStore(pool).CreateTenant(ctx, name, false)
		if err != nil {
			t.Fatal(err)
		}
		return ten.ID
	}
	a, b := tenant("a"), tenant("b")
	svc := idtags.NewService(idtags.NewStore(pool), idtags.Config{MaxTags: 3, ModeTTL: time.Hour})
	status := func(tenant int64, tag string) string {
		t.Helper()
		d, err := svc.Check(ctx, tenant, tag)
		if err != nil {
			t.Fatal(err)
		}
		return d.OCPP16()["status"].(string)
	}
	put := func(tenant int64, tag idtags.Tag) (bool, error) {
		_, created, err := svc.Put(ctx, tenant, tag)
		return created, err
	}

	// accept_all by default, whatever the list holds.
	if mode, err := svc.Policy(ctx, a); err != nil || mode != idtags.AcceptAll {
		t.Fatalf("default mode %q, %v", mode, err)
	}
	if created, err := put(a, idtags.Tag{Tag: "Rfid-Blocked", Status: idtags.TagBlocked}); err != nil || !created {
		t.Fatalf("put: %v %v", created, err)
	}
	if got := status(a, "rfid-blocked"); got != "Accepted" {
		t.Fatalf("accept_all: %s", got)
	}

	// list mode: set in this process, it applies at once despite the
	// hour-long cache.
	if err := svc.SetPolicy(ctx, a, idtags.List); err != nil {
		t.Fatal(err)
	}
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	for _, tag := range []idtags.Tag{{Tag: "RFID-OK", Status: idtags.TagAccepted, ExpiresAt: &future, Note: "fleet"},
		{Tag: "RFID-OLD", Status: idtags.TagAccepted, ExpiresAt: &past}} {
		if _, err := put(a, tag); err != nil {
			t.Fatal(err)
		}
	}
	for tag, want := range map[string]string{"rfid-ok": "Accepted", "RFID-OK": "Accepted", "RFID-BLOCKED": "Blocked",
		"rfid-old": "Expired", "RFID-NEW": "Invalid"} {
		if got := status(a, tag); got != want {
			t.Errorf("%s: %s, want %s", tag, got, want)
		}
	}
	// Tenant b keeps its own policy and list.
	if got := status(b, "RFID-OK"); got != "Accepted" {
		t.Fatalf("b, accept_all: %s", got)
	}
	if err := svc.SetPolicy(ctx, b, idtags.List); err != nil {
		t.Fatal(err)
	}
	if got := status(b, "RFID-OK"); got != "Invalid" {
		t.Fatalf("b sees a's tag: %s", got)
	}

	// Replacing a tag (in another case) keeps one entry; the cap counts
	// entries, not writes.
	if created, err := put(a, idtags.Tag{Tag: "rfid-old", Status: idtags.TagAccepted}); err != nil || created {
		t.Fatalf("replace: %v %v", created, err)
	}
	if got := status(a, "RFID-OLD"); got != "Accepted" {
		t.Fatalf("after renewal: %s", got)
	}
	_, err := put(a, idtags.Tag{Tag: "RFID-4", Status: idtags.TagAccepted})
	if e := api.AsError(err); e == nil || e.Code != api.CodeConflict || e.Details.(map[string]any)["code"] != idtags.CodeTooManyTags {
		t.Fatalf("past the cap: %v", err)
	}
	if _, err := put(b, idtags.Tag{Tag: "RFID-4", Status: idtags.TagAccepted}); err != nil {
		t.Fatalf("b's cap is its own: %v", err)
	}

	// Pages in tag order, with the total.
	list, total, err := svc.Store().List(ctx, a, api.PageRequest{Page: 1, Limit: 2})
	if err != nil || total != 3 || len(list) != 2 || list[1].Tag != "RFID-OK" || list[1].Note != "fleet" || list[1].ExpiresAt == nil {
		t.Fatalf("page 1: %+v total %d, %v", list, total, err)
	}
	list, _, err = svc.Store().List(ctx, a, api.PageRequest{Page: 2, Limit: 2})
	if err != nil || len(list) != 1 || list[0].Tag != "rfid-old" {
		t.Fatalf("page 2: %+v, %v", list, err)
	}

	// Delete frees a place; deleting twice is NOT_FOUND; another tenant's
	// tag is not found either.
	if err := svc.Store().Delete(ctx, b, "rfid-ok"); api.AsError(err) == nil || api.AsError(err).Code != api.CodeNotFound {
		t.Fatalf("delete another tenant's: %v", err)
	}
	if err := svc.Store().Delete(ctx, a, "rfid-ok"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Store().Delete(ctx, a, "RFID-OK"); api.AsError(err) == nil || api.AsError(err).Code != api.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}
	if got := status(a, "RFID-OK"); got != "Invalid" {
		t.Fatalf("deleted tag: %s", got)
	}
	if _, err := put(a, idtags.Tag{Tag: "RFID-4", Status: idtags.TagAccepted}); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}

// A replica sees another's policy change within its ModeTTL.
func TestModeCacheExpires(t *testing.T) {
	pool := dbtest.New(t)
	ctx := context.Background()
	ten, err := auth.NewStore(pool).CreateTenant(ctx, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := idtags.Config{ModeTTL: 100 * time.Millisecond}
	one, two := idtags.NewService(idtags.NewStore(pool), cfg), idtags.NewService(idtags.NewStore(pool), cfg)
	check := func() string {
		d, err := one.Check(ctx, ten.ID, "RFID-1")
		if err != nil {
			t.Fatal(err)
		}
		return d.OCPP201()["status"].(string)
	}
	if got := check(); got != "Accepted" {
		t.Fatalf("accept_all: %s", got)
	}
	if err := two.SetPolicy(ctx, ten.ID, idtags.List); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for check() != "Unknown" {
		if time.Now().After(deadline) {
			t.Fatal("the other replica's list mode never applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
