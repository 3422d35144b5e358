package rollups

import "time"

// Tier is one level of precomputed buckets. Each tier is computed from the
// one below it (the first from raw readings), so a coarse bucket costs a
// handful of rows to build.
type Tier struct {
	Name  string
	Table string
	Width time.Duration
	// below is the index in Tiers of the tier this one is built from, or -1
	// for raw readings.
	below int
	// chunk is the span refreshed in one transaction: small enough to keep
	// transactions short, large enough to keep their count low.
	chunk time.Duration
}

// Tiers lists the tiers from finest to coarsest. Buckets are aligned to UTC:
// 15-minute buckets align with every UTC offset in use, hourly ones with
// whole-hour offsets, daily ones with UTC days only.
var Tiers = []Tier{
	{Name: "15m", Table: "rollup_15m", Width: 15 * time.Minute, below: -1, chunk: 2 * time.Hour},
	{Name: "1h", Table: "rollup_1h", Width: time.Hour, below: 0, chunk: 7 * 24 * time.Hour},
	{Name: "1d", Table: "rollup_1d", Width: 24 * time.Hour, below: 1, chunk: 90 * 24 * time.Hour},
}

// TierByName finds a tier.
func TierByName(name string) (Tier, bool) {
	for _, t := range Tiers {
		if t.Name == name {
			return t, true
		}
	}
	return Tier{}, false
}

// Floor returns the start of the UTC bucket holding ts. time.Truncate counts
// from 0001-01-01 00:00 UTC, a midnight, so every width that divides a day
// lands on UTC bucket boundaries.
func (t Tier) Floor(ts time.Time) time.Time { return ts.UTC().Truncate(t.Width) }

// Below returns the tier this one is built from; ok is false for the
// finest tier, which is built from raw readings.
func (t Tier) Below() (Tier, bool) {
	if t.below < 0 {
		return Tier{}, false
	}
	return Tiers[t.below], true
}
