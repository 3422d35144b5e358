package main

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// meter simulates one charger's meter: a 1-minute power_import gauge (W)
// and the energy_import register (Wh) that integrates it. The charger
// idles at a few watts of standby; now and then, more often by day, a
// vehicle plugs in and charges at about the charger's rating, tapering
// off over the last fifth of the session. The register advances by the
// trapezoid of consecutive power samples and reports whole watt-hours, as
// meters do, so it rises in steps while the charger idles.
type meter struct {
	id     int64   // sources.id
	offset int64   // µs after each minute at which this meter samples
	rated  float64 // W
	rng    uint64  // splitmix64 state

	power    float64 // W, the latest sample
	register float64 // Wh, unrounded
	left     int     // minutes left in the session; 0 when idle
	length   int     // minutes of the current session
	started  bool
}

// ratings are common AC and DC charger ratings, in W.
var ratings = []float64{3700, 7400, 11000, 11000, 22000, 22000, 50000}

func newMeter(id int64, index int) meter {
	m := meter{id: id, offset: int64(index*7%60) * 1e6, rng: uint64(index)*0x9e3779b97f4a7c15 + 1}
	m.rated = ratings[m.next()%uint64(len(ratings))]
	m.register = 1e6 + float64(m.next()%40_000_000) // 1 to 41 MWh already on the register
	return m
}

// next is splitmix64.
func (m *meter) next() uint64 {
	m.rng += 0x9e3779b97f4a7c15
	z := m.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform is in [0, 1).
func (m *meter) uniform() float64 { return float64(m.next()>>11) / (1 << 53) }

// step advances the meter to the next minute; hour is the UTC hour of
// day, which sets how likely a session starts.
func (m *meter) step(hour int) {
	p := 3 + 4*m.uniform() // standby
	if m.left == 0 {
		chance := 0.002
		if hour >= 6 && hour < 18 { // 07:00–19:00 in Berlin in winter
			chance = 0.012
		}
		if m.uniform() < chance {
			m.length = 30 + int(m.next()%210)
			m.left = m.length
		}
	}
	if m.left > 0 {
		done := 1 - float64(m.left)/float64(m.length)
		p = m.rated * (0.96 + 0.03*m.uniform())
		if done > 0.8 {
			p *= 0.1 + 0.9*(1-done)/0.2
		}
		m.left--
	}
	if m.started {
		m.register += (m.power + p) / 2 / 60 // W over one minute → Wh
	}
	m.power, m.started = p, true
}

// reading returns the register as the meter reports it, whole Wh.
func (m *meter) reading() float64 { return float64(int64(m.register)) }

// The cells of a copied row. Each implements pgx's valuer interface for
// its column on a pointer, so a row's values are pointers into one
// reused struct, and neither the source nor pgx's encoding allocates.
type (
	timeCell   int64 // µs since the Unix epoch
	int8Cell   int64
	int2Cell   int16
	float8Cell float64
)

func (c *timeCell) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: time.UnixMicro(int64(*c)), Valid: true}, nil
}
func (c *int8Cell) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(*c), Valid: true}, nil
}
func (c *int2Cell) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(*c), Valid: true}, nil
}
func (c *float8Cell) Float64Value() (pgtype.Float8, error) {
	return pgtype.Float8{Float64: float64(*c), Valid: true}, nil
}

// readingsColumns are the columns a copyBatch fills, in order.
var readingsColumns = []string{"time", "source_id", "metric", "value"}

// copyBatch is a pgx.CopyFromSource of some minutes of some meters, in
// time order: for each minute, each meter's energy_import then
// power_import row. It advances the meters as it goes, so consecutive
// batches of the same meters continue their series.
type copyBatch struct {
	meters         []meter
	start          int64 // µs: the first minute of the batch
	minutes        int
	energy, power  int16 // metric ids
	minute, source int   // position
	metric         int   // 0 energy, 1 power
	rows           int64

	t      timeCell
	src    int8Cell
	m      int2Cell
	v      float8Cell
	values []any
}

func newCopyBatch(meters []meter, energy, power int16) *copyBatch {
	b := &copyBatch{meters: meters, energy: energy, power: power}
	b.values = []any{&b.t, &b.src, &b.m, &b.v}
	return b
}

// reset points the batch at minutes [start, start+minutes) (start in µs,
// a whole minute).
func (b *copyBatch) reset(start int64, minutes int) {
	b.start, b.minutes = start, minutes
	b.minute, b.source, b.metric = 0, -1, 1
}

func (b *copyBatch) Next() bool {
	if b.metric == 0 {
		b.metric = 1
		mt := &b.meters[b.source]
		b.m, b.v = int2Cell(b.power), float8Cell(mt.power)
		b.rows++
		return true
	}
	b.metric = 0
	b.source++
	if b.source == len(b.meters) {
		b.source = 0
		b.minute++
	}
	if b.minute >= b.minutes || len(b.meters) == 0 {
		return false
	}
	at := b.start + int64(b.minute)*60e6
	mt := &b.meters[b.source]
	mt.step(int(at / 3600e6 % 24))
	b.t, b.src = timeCell(at+mt.offset), int8Cell(mt.id)
	b.m, b.v = int2Cell(b.energy), float8Cell(mt.reading())
	b.rows++
	return true
}

func (b *copyBatch) Values() ([]any, error) { return b.values, nil }
func (b *copyBatch) Err() error             { return nil }
