package tariffs

import (
	"slices"
	"testing"
	"time"
)

// TestClockChangesAtPlusFourteen: on Samoa's fall back from +14 to +13
// (1 April 2012, 04:00 → 03:00) a window edge at 03:30 is reached twice,
// and the clock's price can change at both instants. Probing the offsets
// only 13 hours around the wall time saw the second one alone.
func TestClockChangesAtPlusFourteen(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, `{"country_code":"WS","party_id":"GMX","id":"night","currency":"USD",
	  "elements":[{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1}],"restrictions":{"start_time":"03:30","end_time":"05:00"}},
	              {"price_components":[{"type":"ENERGY","price":0.20,"step_size":1}]}]}`)
	apia := mustLoc(t, "Pacific/Apia")
	from, to := ts(t, "2012-03-31T12:00:00Z"), ts(t, "2012-03-31T17:00:00Z")
	got, err := tf.ClockChanges(from, to, apia)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{
		ts(t, "2012-03-31T13:30:00Z"), // 03:30 at +14
		ts(t, "2012-03-31T14:00:00Z"), // 04:00 at +14 becomes 03:00 at +13
		ts(t, "2012-03-31T14:30:00Z"), // 03:30 at +13
		ts(t, "2012-03-31T16:00:00Z"), // 05:00
	}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("changes %v\nwant %v", got, want)
	}
}

// TestClockChangesOfTheSession: the changes are those of the elements
// that price a session — window edges, midnights and durations — in the
// zone given; a reservation's elements do not cut the session.
func TestClockChangesOfTheSession(t *testing.T) {
	t.Parallel()
	tf := mustTariff(t, `{"country_code":"DE","party_id":"GMX","id":"mix","currency":"EUR","elements":[
	  {"price_components":[{"type":"TIME","price":1.00,"step_size":1}],"restrictions":{"reservation":"RESERVATION","start_time":"10:00"}},
	  {"price_components":[{"type":"ENERGY","price":0.30,"step_size":1}],"restrictions":{"start_time":"18:00","end_time":"20:00","max_duration":5400}},
	  {"price_components":[{"type":"ENERGY","price":0.20,"step_size":1}]}]}`)
	from, to := local(t, "Europe/Berlin", "2026-03-02 09:00"), local(t, "Europe/Berlin", "2026-03-03 19:00")
	got, err := tf.ClockChanges(from, to, mustLoc(t, "Europe/Berlin"))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{
		local(t, "Europe/Berlin", "2026-03-02 10:30"), // max_duration
		local(t, "Europe/Berlin", "2026-03-02 18:00"),
		local(t, "Europe/Berlin", "2026-03-02 20:00"),
		local(t, "Europe/Berlin", "2026-03-03 00:00"),
		local(t, "Europe/Berlin", "2026-03-03 18:00"),
	}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("changes %v\nwant %v", got, want)
	}
	// Read in UTC (no zone given) the windows are UTC's; the range ends at
	// 18:00 UTC, before the second evening window.
	utc, err := tf.ClockChanges(from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []time.Time{ts(t, "2026-03-02T09:30:00Z"), ts(t, "2026-03-02T18:00:00Z"), ts(t, "2026-03-02T20:00:00Z"), ts(t, "2026-03-03T00:00:00Z")}
	if !slices.EqualFunc(utc, want, time.Time.Equal) {
		t.Errorf("in UTC: %v\nwant %v", utc, want)
	}
}
