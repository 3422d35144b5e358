// Package standby sends reads to a streaming standby of the primary while
// the standby keeps up, and to the primary otherwise.
//
// # How stale a standby is
//
// A hot standby answers from the data it has replayed: a state the primary
// had some time ago. The Monitor bounds how long ago. Every CheckInterval
// it notes the time t and the primary's WAL insert position L
// (pg_current_wal_insert_lsn(), read after t), then the standby's replay
// position R (pg_last_wal_replay_lsn()). A transaction is visible on the
// primary only after its commit record is inserted, so once R ≥ L the
// standby holds every commit the primary showed at t. The lag is now minus
// the latest such t: an upper bound of the standby's staleness, growing
// between checks, that stays small on an idle primary (where
// pg_last_xact_replay_timestamp() alone would make a caught-up standby
// look ever further behind) and grows without bound when replay stops
// (paused, stuck behind a conflicting query, or the standby down).
//
// # Why an answer from the standby is right
//
// The standby replays commits in the primary's WAL order, so a snapshot
// there is a state the primary passed through. A reader that takes
// everything from one snapshot on one database is therefore answered as
// the primary would have answered at that moment: the query planner reads
// the rollup watermarks in the same snapshot as the tier rows and raw
// readings it combines (query/store.go), never the primary's watermarks
// with the standby's rows. What the Router adds is the bound: the standby
// serves only while the lag is at most MaxLag, and a read that cannot reach
// it goes to the primary.
package standby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/internal/settings"
)

// DefaultMaxLag is Config.MaxLag's default.
const DefaultMaxLag = 5 * time.Second

// Config configures the monitor and the router.
type Config struct {
	// MaxLag is the most a standby's answers may lag the primary (the bound
	// the Monitor measures); past it reads go to the primary. Default
	// DefaultMaxLag.
	MaxLag time.Duration
	// CheckInterval is how often the lag is measured; default a tenth of
	// MaxLag, within [50ms, 1s]. The lag bound grows by up to this much
	// between checks, so it must be below MaxLag.
	CheckInterval time.Duration
	// CheckTimeout bounds one measurement; default CheckInterval, at least
	// 1s.
	CheckTimeout time.Duration
	// Logger reports the standby going down and coming back; default
	// slog.Default().
	Logger *slog.Logger
}

// WithDefaults fills in the zero fields.
func (c Config) WithDefaults() Config {
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = min(max(c.MaxLag/10, 50*time.Millisecond), time.Second)
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = max(c.CheckInterval, time.Second)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	errs := []error{
		settings.Positive("standby.MaxLag", c.MaxLag),
		settings.Positive("standby.CheckInterval", c.CheckInterval),
		settings.Positive("standby.CheckTimeout", c.CheckTimeout),
	}
	if c.MaxLag > 0 && c.CheckInterval >= c.MaxLag {
		errs = append(errs, fmt.Errorf("standby.CheckInterval (%s) must be below standby.MaxLag (%s)", c.CheckInterval, c.MaxLag))
	}
	return errors.Join(errs...)
}

// Querier is what the monitor needs of a database: a pool or connection.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// maxSamples bounds the primary positions kept while the standby is
// behind them. Dropping the oldest only makes the lag look larger.
const maxSamples = 4096

// sample is the primary's WAL insert position at a time.
type sample struct {
	at  time.Time
	lsn int64
}

// State is the standby as last measured.
type State struct {
	// Up is true when the last check reached the standby and found it a
	// standby of this primary.
	Up bool
	// Reason says why the standby is not up.
	Reason string
	// CheckedAt is when the last check ended, successful or not.
	CheckedAt time.Time
	// Fresh is the latest time by which the standby holds every commit the
	// primary had made; zero before the first successful check.
	Fresh time.Time
	// PrimaryLSN and ReplayLSN are the primary's insert position and the
	// standby's replay position at the last successful check, in bytes.
	PrimaryLSN, ReplayLSN int64
	// ReplayTime is pg_last_xact_replay_timestamp(): when the primary
	// committed the last transaction the standby replayed.
	ReplayTime time.Time
	// Paused is true when replay is paused (pg_wal_replay_pause()).
	Paused bool
}

// Lag is how far behind the primary the standby may be at now: infinite
// before the standby was first measured.
func (s State) Lag(now time.Time) time.Duration {
	if s.Fresh.IsZero() {
		return time.Duration(math.MaxInt64)
	}
	return max(now.Sub(s.Fresh), 0)
}

// Monitor measures how far a standby lags its primary (see the package
// documentation).
type Monitor struct {
	primary, standby Querier
	cfg              Config
	now              func() time.Time

	mu       sync.Mutex
	samples  []sample // oldest first; every one beyond the standby's replay, but the first
	state    State
	identity int64 // the primary's system identifier, once read; 0 when not readable
}

// NewMonitor returns a monitor of standby, a streaming standby of primary.
// It measures nothing until Check or Run.
func NewMonitor(primary, standby Querier, cfg Config) *Monitor {
	return &Monitor{primary: primary, standby: standby, cfg: cfg.WithDefaults(), now: time.Now,
		state: State{Reason: "not checked yet"}}
}

// Config returns the monitor's settings, defaults filled in.
func (m *Monitor) Config() Config { return m.cfg }

// State returns the last measurement.
func (m *Monitor) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Usable reports whether the standby may serve a read now: up, and its
// lag at most MaxLag.
func (m *Monitor) Usable() bool {
	s := m.State()
	return s.Up && s.Lag(m.now()) <= m.cfg.MaxLag
}

// Run checks the standby every CheckInterval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.CheckInterval)
	defer t.Stop()
	for {
		_ = m.Check(ctx) // logged by Check; the state says the rest
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

const (
	sqlPrimary = `SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8`
	// Replay functions answer null on a server that is not in recovery.
	sqlStandby = `SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8,
		pg_last_xact_replay_timestamp(), pg_is_in_recovery() AND pg_is_wal_replay_paused()`
	sqlIdentity = `SELECT system_identifier FROM pg_control_system()`
)

// Check measures the standby once.
func (m *Monitor) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.CheckTimeout)
	defer cancel()
	at := m.now()
	var lsn int64
	if err := m.primary.QueryRow(ctx, sqlPrimary).Scan(&lsn); err != nil {
		// The standby's lag cannot be bounded without the primary: the
		// bound keeps growing from the last check, and reads go to the
		// primary (which answers 503 if it is down) once it passes MaxLag.
		return m.failed(fmt.Errorf("read the primary's WAL position: %w", err), false)
	}
	if err := m.checkIdentity(ctx); err != nil {
		return m.failed(err, true)
	}
	var (
		recovery bool
		replay   *int64
		replayAt *time.Time
		paused   bool
	)
	if err := m.standby.QueryRow(ctx, sqlStandby).Scan(&recovery, &replay, &replayAt, &paused); err != nil {
		return m.failed(fmt.Errorf("read the standby's replay position: %w", err), true)
	}
	if !recovery || replay == nil {
		return m.failed(errors.New("the read database is not a standby (pg_is_in_recovery() is false): its data need not be the primary's"), true)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, sample{at: at, lsn: lsn})
	if len(m.samples) > maxSamples {
		m.samples = m.samples[len(m.samples)-maxSamples:]
	}
	// The latest sample the standby has replayed past is its freshness;
	// the ones before it are of no more use.
	i := -1
	for j, s := range m.samples {
		if s.lsn <= *replay {
			i = j
		}
	}
	s := &m.state
	if i >= 0 {
		if m.samples[i].at.After(s.Fresh) {
			s.Fresh = m.samples[i].at
		}
		m.samples = m.samples[i+1:]
	}
	if !s.Up {
		m.cfg.Logger.Info("the standby serves reads", "lag", s.Lag(m.now()).String())
	}
	s.Up, s.Reason, s.CheckedAt = true, "", m.now()
	s.PrimaryLSN, s.ReplayLSN, s.Paused = lsn, *replay, paused
	if replayAt != nil {
		s.ReplayTime = *replayAt
	}
	return nil
}

// checkIdentity makes sure the standby is a copy of this primary (the
// same system identifier), not of another cluster. A role that may not
// read pg_control_system() skips the check.
func (m *Monitor) checkIdentity(ctx context.Context) error {
	m.mu.Lock()
	want := m.identity
	m.mu.Unlock()
	if want == 0 {
		if err := m.primary.QueryRow(ctx, sqlIdentity).Scan(&want); err != nil {
			return nil
		}
		m.mu.Lock()
		m.identity = want
		m.mu.Unlock()
	}
	var got int64
	if err := m.standby.QueryRow(ctx, sqlIdentity).Scan(&got); err != nil {
		return nil
	}
	if got != want {
		return fmt.Errorf("the read database is not a copy of the primary (system identifier %d, the primary's %d)", got, want)
	}
	return nil
}

// failed records a failed check; down marks the standby itself unusable
// (a failure to read the primary leaves that to the lag bound).
func (m *Monitor) failed(err error, down bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.CheckedAt = m.now()
	if down {
		m.markDownLocked(err)
	} else {
		m.cfg.Logger.Debug("standby check", "err", err)
	}
	return err
}

// MarkDown records that a read could not use the standby: reads go to the
// primary until a check finds it again.
func (m *Monitor) MarkDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.markDownLocked(err)
}

func (m *Monitor) markDownLocked(err error) {
	if m.state.Up {
		m.cfg.Logger.Warn("the standby stops serving reads; the primary answers them", "err", err)
	}
	m.state.Up, m.state.Reason = false, err.Error()
}
