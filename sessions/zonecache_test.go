package sessions

import (
	"testing"
)

// TestZoneCache: a tariff read in a zone is copied and compiled once, then
// served from the cache; the cache holds at most its bound, and a dropped
// entry is made again on demand, equal to the first.
func TestZoneCache(t *testing.T) {
	t.Parallel()
	c := newZoneCache(2)
	own := testTariff(t, "UTC", parkingTariff)
	other := testTariff(t, "UTC", parkingTariff)
	a, loc, err := c.inZone(own, "Europe/Berlin")
	if err != nil || loc.String() != "Europe/Berlin" || a.Extension.TimeZone != "Europe/Berlin" || own.Extension.TimeZone != "UTC" {
		t.Fatalf("first: %v %v %v; the shared tariff must keep its zone", a.Extension, loc, err)
	}
	if b, _, _ := c.inZone(own, "Europe/Berlin"); b != a {
		t.Error("the same tariff and zone were compiled twice")
	}
	if b, _, _ := c.inZone(own, "UTC"); b != own {
		t.Error("a tariff read in its own zone is not copied")
	}
	if _, _, err := c.inZone(other, "Asia/Kolkata"); err != nil {
		t.Fatal(err)
	}
	if len(c.m) > 2 {
		t.Errorf("%d entries, bound 2", len(c.m))
	}
	b, _, err := c.inZone(own, "Europe/Berlin")
	if err != nil || b.Extension.TimeZone != "Europe/Berlin" {
		t.Errorf("after eviction: %v %v", b.Extension, err)
	}
	if _, _, err := c.inZone(own, "Mars/Olympus"); err == nil {
		t.Error("an unknown zone was accepted")
	}
}
