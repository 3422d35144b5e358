package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// plan is one generated charging session: what its lifecycle reports.
type plan struct {
	connector   int // index: external id connectorID(connector)
	start, stop time.Time
	meterStart  float64 // Wh, the register at start, as the charger reports it
	meterStop   float64
	idTag       string
}

func chargerID(c int) string   { return fmt.Sprintf("CB-%04d", c+1) }
func connectorID(c int) string { return chargerID(c) + "/1" }
func externalID(k int) string  { return fmt.Sprintf("bench-%06d", k) }

// layout places n sessions on connectors over [begin, end): session k uses
// connector k mod connectors, in slot k div connectors of that connector's
// time, so a connector's sessions never overlap, nor do their readings.
type layout struct {
	sessions, connectors int
	begin, end           time.Time
	interval             time.Duration // readings spacing
	slot                 time.Duration // one session's share of a connector's time
}

// Session lengths, and the margin kept free at each end of a slot so the
// readings of neighbouring sessions (one sample either side) stay apart.
const (
	minSession = 30 * time.Minute
	maxSession = 180*time.Minute + 59*time.Second
)

func newLayout(sessions, connectors int, begin, end time.Time, interval time.Duration) (layout, error) {
	l := layout{sessions: sessions, connectors: min(connectors, sessions), begin: begin, end: end, interval: interval}
	perConnector := (sessions + l.connectors - 1) / l.connectors
	l.slot = (end.Sub(begin) / time.Duration(perConnector)).Truncate(time.Minute)
	if l.slot < maxSession+4*interval+2*time.Minute {
		return layout{}, fmt.Errorf("%d sessions on %d connectors in %s leave %s a session; give more -connectors or -days",
			sessions, l.connectors, end.Sub(begin), l.slot)
	}
	return l, nil
}

// slots is the number of sessions on connector c.
func (l layout) slots(c int) int {
	n := l.sessions / l.connectors
	if c < l.sessions%l.connectors {
		n++
	}
	return n
}

// rng is splitmix64: deterministic per connector, so a connector's data
// does not depend on which copy connection generates it.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// ratings are AC and DC charger ratings, in W.
var ratings = []float64{7400, 11000, 11000, 22000, 22000, 50000}

// profile is a session's power: charging at about its rating until
// chargeEnd, tapering over the last fifth of that, then parked (a few W
// of standby) until the car leaves.
type profile struct {
	start, chargeEnd time.Time
	rated            float64
}

func (p profile) power(t time.Time, r *rng) float64 {
	standby := 2 + 3*r.float()
	if t.Before(p.start) || !t.Before(p.chargeEnd) {
		return standby
	}
	w := p.rated * (0.96 + 0.03*r.float())
	total, left := p.chargeEnd.Sub(p.start), p.chargeEnd.Sub(t)
	if f := float64(left) / float64(total); f < 0.2 {
		w *= 0.1 + 0.9*f/0.2
	}
	return w
}

// readingsSource is a pgx.CopyFromSource of the readings of connectors
// [lo, hi): for each session, energy_import (whole Wh) and power_import
// (W) every interval from the sample at or before its start to the sample
// at or after its stop. It fills in plans as it goes.
type readingsSource struct {
	l             layout
	plans         []plan
	ids           []int64 // source ids by connector index
	energy, power int16   // metric ids
	hi            int

	// Position: connector, its slot, the session's samples.
	c, slot  int
	r        rng
	register float64 // Wh, unrounded
	prof     profile
	samples  []sample
	i        int // next sample
	metric   int // 0: energy next, 1: power next
	rows     int64

	// The row handed to pgx: pointers into these, so nothing allocates.
	t      time.Time
	src    int64
	m      int16
	v      float64
	values []any
}

type sample struct {
	t        time.Time
	energy   float64 // whole Wh
	powerW   float64
	register float64 // unrounded
}

func newReadingsSource(l layout, plans []plan, ids []int64, energy, power int16, lo, hi int) *readingsSource {
	s := &readingsSource{l: l, plans: plans, ids: ids, energy: energy, power: power, hi: hi, c: lo - 1}
	s.values = []any{&s.t, &s.src, &s.m, &s.v}
	s.nextConnector()
	return s
}

func (s *readingsSource) nextConnector() {
	s.c++
	s.slot = -1
	if s.c >= s.hi {
		return
	}
	s.r = rng(uint64(s.c)*0x51ed27 + 1)
	s.register = 1e6 + float64(s.r.intn(40_000_000)) // 1 to 41 MWh on the register already
}

// simulate generates the samples of the connector's next session and its
// plan.
func (s *readingsSource) simulate() {
	r := &s.r
	k := s.slot*s.l.connectors + s.c
	slotStart := s.l.begin.Add(time.Duration(s.slot) * s.l.slot)
	length := minSession + time.Duration(r.intn(int((maxSession-minSession)/time.Second)+1))*time.Second
	room := s.l.slot - length - 4*s.l.interval - 2*time.Minute
	start := slotStart.Add(2*s.l.interval + time.Minute + time.Duration(r.intn(int(room/time.Second)+1))*time.Second)
	stop := start.Add(length)
	charging := length
	if r.float() > 0.3 { // most cars stay parked a while after charging
		charging = time.Duration(float64(length) * (0.55 + 0.4*r.float()))
	}
	s.prof = profile{start: start, chargeEnd: start.Add(charging), rated: ratings[r.intn(len(ratings))]}

	s.samples = s.samples[:0]
	first := start.Truncate(s.l.interval)
	for t := first; ; t = t.Add(s.l.interval) {
		p := s.prof.power(t, r)
		if n := len(s.samples); n > 0 {
			prev := s.samples[n-1]
			s.register += (prev.powerW + p) / 2 * s.l.interval.Hours()
		}
		s.samples = append(s.samples, sample{t: t, energy: math.Floor(s.register), powerW: math.Round(p*10) / 10, register: s.register})
		if !t.Before(stop) {
			break
		}
	}
	s.plans[k] = plan{connector: s.c, start: start, stop: stop,
		meterStart: s.registerAt(start), meterStop: s.registerAt(stop), idTag: fmt.Sprintf("RFID-%05d", r.intn(50_000))}
	s.i, s.metric = 0, 0
}

// registerAt is the register a charger reports at t: the readings around t
// interpolated, to the Wh, so it fits between them.
func (s *readingsSource) registerAt(t time.Time) float64 {
	for i := 1; i < len(s.samples); i++ {
		a, b := s.samples[i-1], s.samples[i]
		if !t.After(b.t) {
			f := float64(t.Sub(a.t)) / float64(b.t.Sub(a.t))
			return math.Round(a.energy + f*(b.energy-a.energy))
		}
	}
	return s.samples[len(s.samples)-1].energy
}

func (s *readingsSource) Next() bool {
	for s.i >= len(s.samples) {
		if s.c >= s.hi {
			return false
		}
		s.slot++
		if s.slot >= s.l.slots(s.c) {
			s.nextConnector()
			continue
		}
		s.simulate()
	}
	smp := s.samples[s.i]
	s.t, s.src = smp.t, s.ids[s.c]
	if s.metric == 0 {
		s.m, s.v = s.energy, smp.energy
		s.metric = 1
	} else {
		s.m, s.v = s.power, smp.powerW
		s.metric = 0
		s.i++
	}
	s.rows++
	return true
}

func (s *readingsSource) Values() ([]any, error) { return s.values, nil }
func (s *readingsSource) Err() error             { return nil }

// loadReadings generates every session's readings and copies them into
// readings with binary COPY on conns connections, each a range of
// connectors. It returns the sessions' plans, indexed by session, and the
// number of rows.
func loadReadings(ctx context.Context, pool *pgxpool.Pool, l layout, ids []int64, energy, power int16, conns int) ([]plan, int64, error) {
	plans := make([]plan, l.sessions)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		rows  int64
		first error
	)
	per := (l.connectors + conns - 1) / conns
	for lo := 0; lo < l.connectors; lo += per {
		hi := min(lo+per, l.connectors)
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := newReadingsSource(l, plans, ids, energy, power, lo, hi)
			n, err := pool.CopyFrom(ctx, pgx.Identifier{"readings"}, []string{"time", "source_id", "metric", "value"}, src)
			mu.Lock()
			defer mu.Unlock()
			rows += n
			if err != nil && first == nil {
				first = fmt.Errorf("copy readings of connectors %d–%d: %w", lo, hi-1, err)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, 0, first
	}
	// Each series' newest sample, as the ingest writer keeps it: pricing
	// reads which series a connector has from latest_readings.
	if _, err := pool.Exec(ctx, `INSERT INTO latest_readings (source_id, metric, time, value)
		SELECT s.id, m.id, r.time, r.value FROM sources s CROSS JOIN (VALUES ($1::smallint), ($2::smallint)) AS m(id)
		CROSS JOIN LATERAL (SELECT time, value FROM readings WHERE source_id = s.id AND metric = m.id ORDER BY time DESC LIMIT 1) r`,
		energy, power); err != nil {
		return nil, 0, fmt.Errorf("latest readings: %w", err)
	}
	return plans, rows, nil
}
