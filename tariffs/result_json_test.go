package tariffs

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/govalues/decimal"
)

// Results of every shape — empty and nil lists, null VAT rates, negative
// and long decimals, times in other zones and with nanoseconds, peaks set
// or not, strings that need escaping — are written as encoding/json writes
// them.
func TestResultJSONAsEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+45*60), time.FixedZone("", -3*3600)}
	dec := func() decimal.Decimal {
		d, err := decimal.New(rng.Int64N(2e12)-1e12, rng.IntN(20))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	null := func() decimal.NullDecimal { return decimal.NullDecimal{Decimal: dec(), Valid: rng.IntN(3) > 0} }
	at := func() time.Time {
		return time.Unix(1.7e9+rng.Int64N(1e8), rng.Int64N(3)*rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
	}
	amount := func() Amount { return Amount{ExclVAT: dec(), InclVAT: dec()} }
	totals := func() Totals {
		return Totals{amount(), amount(), amount(), amount(), amount(), amount(), amount(), amount(), amount(), amount()}
	}
	texts := []string{"EUR", "", `q"uo\te`, "<&>", "\u2028", "\xff", "Čk 東京"}
	for i := range 500 {
		r := Result{Currency: texts[rng.IntN(len(texts))], Totals: totals(), CDR: totals(), Invoice: totals(),
			Usage: Usage{dec(), dec(), dec(), dec(), dec(), dec(), dec(), rng.IntN(40) - 5, rng.IntN(400)}}
		if n := rng.IntN(6); n > 0 || rng.IntN(2) == 0 {
			r.Lines = make([]Line, n)
		}
		for k := range r.Lines {
			r.Lines[k] = Line{Component: Component(texts[rng.IntN(len(texts))]), ElementIndex: rng.IntN(9) - 1,
				PeriodStart: at(), PeriodEnd: at(), Volume: dec(), StepVolume: dec(), Unit: Unit(texts[rng.IntN(len(texts))]),
				UnitPrice: dec(), ExclVAT: dec(), InclVAT: dec(), VATRate: null()}
			if rng.IntN(2) == 0 {
				r.Lines[k].PeakAt = at()
			}
		}
		if n := rng.IntN(4); n > 0 || rng.IntN(2) == 0 {
			r.VAT = make([]VATLine, n)
		}
		for k := range r.VAT {
			r.VAT[k] = VATLine{Rate: null(), ExclVAT: dec(), VAT: dec()}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("result %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
