package tariffs

import (
	"fmt"
	"testing"
	"time"
)

// The pricing benchmarks: sessions priced per second on one core for a
// 3-element time-of-use OCPI tariff and 10-period sessions, and meter-months
// priced per second for a 15-minute dynamic supply tariff. The data is built
// once, outside the timer; each iteration prices one session (one meter
// month), cycling through a set so that no single input is special.

const benchTOU = `{"country_code":"NL","party_id":"GMX","id":"tou-3","currency":"EUR","type":"REGULAR",
 "elements":[
  {"price_components":[{"type":"ENERGY","price":0.35,"vat":21,"step_size":1},{"type":"TIME","price":1.00,"vat":21,"step_size":60}],
   "restrictions":{"start_time":"17:00","end_time":"21:00","day_of_week":["MONDAY","TUESDAY","WEDNESDAY","THURSDAY","FRIDAY"]}},
  {"price_components":[{"type":"ENERGY","price":0.22,"vat":21,"step_size":1}],"restrictions":{"start_time":"23:00","end_time":"07:00"}},
  {"price_components":[{"type":"FLAT","price":0.35,"vat":21,"step_size":0},{"type":"ENERGY","price":0.28,"vat":21,"step_size":1},
                       {"type":"PARKING_TIME","price":2.00,"vat":21,"step_size":300}]}],
 "last_updated":"2024-01-01T00:00:00Z","gridmetrics":{"timezone":"Europe/Amsterdam"}}`

// benchSessions returns n sessions of 10 periods (8 charging, 2 parking),
// starting at different times of day over a month.
func benchSessions(b *testing.B, n int) []Session {
	b.Helper()
	loc := mustLoc(b, amsterdam)
	out := make([]Session, n)
	for i := range out {
		at := time.Date(2024, 3, 1+i%28, 0, 0, 0, 0, loc).Add(time.Duration(i*97%1440) * time.Minute)
		s := Session{Start: at}
		for p := 0; p < 10; p++ {
			secs := 900 + (i*31+p*17)%1800
			if p >= 8 {
				s.ChargingPeriods = append(s.ChargingPeriods, makePeriod(at, secs, true, 0, 0))
			} else {
				s.ChargingPeriods = append(s.ChargingPeriods, makePeriod(at, secs, false, 1+(i+p)%6, 16))
			}
			at = at.Add(time.Duration(secs) * time.Second)
		}
		s.End = at
		out[i] = s
	}
	return out
}

func BenchmarkPriceSession(b *testing.B) {
	tf := mustTariff(b, benchTOU)
	sessions := benchSessions(b, 256)
	b.Run("tou3/10periods", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := PriceSession(tf, sessions[i%len(sessions)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	})
	b.Run("tou3/10periods/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := PriceSession(tf, sessions[i%len(sessions)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	})
}

const benchDynamic = `{"country_code":"NL","party_id":"GMX","id":"dyn-15","currency":"EUR",
 "elements":[
  {"price_components":[{"type":"ENERGY","price":0,"vat":21,"step_size":1,
    "gridmetrics":{"price_feed":"epex-nl","multiplier":1.0,"markup":0.0242,"floor":-0.1,"cap":1.5}}]},
  {"price_components":[{"type":"STANDING","price":0.2466,"vat":21,"step_size":0}]}],
 "gridmetrics":{"kind":"supply","timezone":"Europe/Amsterdam"}}`

// benchMonth returns a month of 15-minute meter data and a 15-minute price
// feed covering it.
func benchMonth(b *testing.B, month time.Month) (MeterUsage, StaticFeed) {
	b.Helper()
	loc := mustLoc(b, amsterdam)
	from, to := time.Date(2024, month, 1, 0, 0, 0, 0, loc), time.Date(2024, month+1, 1, 0, 0, 0, 0, loc)
	u := MeterUsage{Interval: 15 * time.Minute}
	s := PriceSeries{Resolution: 15 * time.Minute}
	for at, i := from, 0; at.Before(to); at, i = at.Add(15*time.Minute), i+1 {
		u.Intervals = append(u.Intervals, IntervalEnergy{Start: at, ImportKWh: dec(fmt.Sprintf("0.%03d", 50+i*37%400)), ExportKWh: zero})
		s.Points = append(s.Points, PricePoint{Start: at, Price: dec(fmt.Sprintf("0.%05d", 1000+i*7919%20000))})
	}
	return u, StaticFeed{"epex-nl": s}
}

func BenchmarkPriceMeterMonth(b *testing.B) {
	tf := mustTariff(b, benchDynamic)
	u, feed := benchMonth(b, time.March) // includes the 23-hour day
	b.Run("dynamic15m", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := PriceMeter(tf, u, feed); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "meter-months/s")
		b.ReportMetric(float64(len(u.Intervals)), "intervals/month")
	})
}

func BenchmarkParseTariff(b *testing.B) {
	data := []byte(benchTOU)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTariff(data); err != nil {
			b.Fatal(err)
		}
	}
}
