package tariffs

import (
	"sort"
	"time"

	"github.com/govalues/decimal"
)

// PriceFeed looks up the dynamic energy prices of supply and export
// tariffs. The service backs it with the `price` series of price_feed
// sources; tests and tools use StaticFeed.
type PriceFeed interface {
	// PriceAt returns the price per kWh, excluding VAT, in force at t in the
	// series of the price_feed source feed. A price the series does not have
	// is an error wrapping ErrNoPrice — never a zero.
	PriceAt(feed string, t time.Time) (decimal.Decimal, error)
}

// PricePoint is one price of a series, in force from Start for the series'
// Resolution.
type PricePoint struct {
	Start time.Time
	Price decimal.Decimal
}

// PriceSeries is a price series at a fixed resolution (for example the
// 15-minute day-ahead prices). Points must be in time order; a gap is a
// missing price.
type PriceSeries struct {
	Resolution time.Duration
	Points     []PricePoint
}

// StaticFeed is a PriceFeed over series held in memory, by feed id.
type StaticFeed map[string]PriceSeries

// PriceAt returns the point whose [Start, Start+Resolution) holds t.
func (f StaticFeed) PriceAt(feed string, t time.Time) (decimal.Decimal, error) {
	s, ok := f[feed]
	if !ok {
		return zero, errorf(ErrNoPrice, "price feed %q: unknown feed", feed)
	}
	i := sort.Search(len(s.Points), func(i int) bool { return s.Points[i].Start.After(t) }) - 1
	if i < 0 || !t.Before(s.Points[i].Start.Add(s.Resolution)) {
		return zero, errorf(ErrNoPrice, "price feed %q has no price at %s", feed, formatDateTime(t))
	}
	return s.Points[i].Price, nil
}
