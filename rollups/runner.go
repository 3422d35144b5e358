package rollups

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"

	"github.com/gridmetrics/gridmetrics/internal/settings"
)

// Config configures the rollup jobs.
type Config struct {
	// Lateness is how far behind now the tiers are refreshed, so rows still
	// in flight are not missed; it must exceed the ingest invalidation
	// horizon (older rows are reported as invalidations instead). Default 15m.
	Lateness time.Duration
	// Specs are the cron schedules (robfig/cron syntax, "@every 1m" works)
	// of each tier's refresh, by tier name; defaults: 15m every minute, 1h
	// every 5 minutes, 1d every 15 minutes.
	Specs map[string]string
	// InvalidationSpec schedules the re-aggregation of late data; default
	// every minute.
	InvalidationSpec string
	// RetentionSpec schedules the deletion of expired rows on plain
	// PostgreSQL (TimescaleDB uses its own policies); default hourly.
	RetentionSpec string
	// Retention keeps rows of each table ("readings" and tier tables) for
	// that long; zero or negative keeps them forever. Defaults: readings 90
	// days, rollup_15m two years, the others forever.
	Retention map[string]time.Duration
	// DeleteBatch bounds the rows one retention DELETE removes; default 10 000.
	DeleteBatch int
}

// WithDefaults returns the config with unset fields at their defaults.
func (c Config) WithDefaults() Config {
	if c.Lateness <= 0 {
		c.Lateness = 15 * time.Minute
	}
	specs := map[string]string{"15m": "@every 1m", "1h": "@every 5m", "1d": "@every 15m"}
	for k, v := range c.Specs {
		specs[k] = v
	}
	c.Specs = specs
	if c.InvalidationSpec == "" {
		c.InvalidationSpec = "@every 1m"
	}
	if c.RetentionSpec == "" {
		c.RetentionSpec = "@every 1h"
	}
	ret := map[string]time.Duration{"readings": 90 * 24 * time.Hour, "rollup_15m": 2 * 365 * 24 * time.Hour}
	for k, v := range c.Retention {
		ret[k] = v
	}
	c.Retention = ret
	if c.DeleteBatch <= 0 {
		c.DeleteBatch = 10_000
	}
	return c
}

// Validate reports the settings that cannot work. It checks c as it will
// run, so a zero that WithDefaults would replace is refused too: call it on
// WithDefaults' result, or on settings given in full (the command line).
// The schedules are checked when Start parses them.
func (c Config) Validate() error {
	errs := []error{
		settings.Positive("rollups.Lateness", c.Lateness),
		settings.Positive("rollups.DeleteBatch", c.DeleteBatch),
	}
	for name, spec := range map[string]string{"rollups.InvalidationSpec": c.InvalidationSpec, "rollups.RetentionSpec": c.RetentionSpec} {
		if spec == "" {
			errs = append(errs, fmt.Errorf("%s is empty: want a cron schedule such as @every 1m", name))
		}
	}
	return errors.Join(errs...)
}

// ErrBusy means another process holds the job's lock: it is running the
// job this tick.
var ErrBusy = errors.New("another process is running this job")

// Runner runs the rollup jobs. Several replicas may each run one: a
// PostgreSQL advisory lock lets one of them do the work of each tick.
type Runner struct {
	pool    *pgxpool.Pool
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	// local serialises this process's jobs, which share one lock.
	local sync.Mutex
	cron  *cron.Cron

	// Buckets counts the buckets this runner wrote, for tests and metrics.
	Buckets atomic.Int64
	// Now returns the current time; tests move it.
	Now func() time.Time
}

// NewRunner returns a runner; Start schedules its jobs.
func NewRunner(pool *pgxpool.Pool, cfg Config, log *slog.Logger, m *Metrics) *Runner {
	return &Runner{pool: pool, cfg: cfg.WithDefaults(), log: log, metrics: m, Now: time.Now}
}

// Start schedules the jobs; retention runs only when retainRaw is set
// (plain PostgreSQL).
func (r *Runner) Start(withRetention bool) error {
	// Every job runs under cron.Recover (see recovered): a panic in one
	// ends that run, never the process.
	r.cron = cron.New(cron.WithChain(cron.Recover(panicLogger{r.log})))
	add := func(spec, name string, job func(context.Context) error) error {
		_, err := r.cron.AddJob(spec, r.recovered(name, func() {
			if err := job(context.Background()); err != nil && !errors.Is(err, ErrBusy) {
				r.log.Error("rollup job failed", "job", name, "err", err)
			}
		}))
		if err != nil {
			return fmt.Errorf("schedule %s (%q): %w", name, spec, err)
		}
		return nil
	}
	for _, t := range Tiers {
		if err := add(r.cfg.Specs[t.Name], "refresh "+t.Name, func(ctx context.Context) error { return r.Refresh(ctx, t) }); err != nil {
			return err
		}
	}
	if err := add(r.cfg.InvalidationSpec, "invalidations", func(ctx context.Context) error { _, err := r.ApplyInvalidations(ctx); return err }); err != nil {
		return err
	}
	if withRetention {
		if err := add(r.cfg.RetentionSpec, "retention", func(ctx context.Context) error { _, err := r.EnforceRetention(ctx); return err }); err != nil {
			return err
		}
	}
	r.cron.Start()
	return nil
}

// Stop stops scheduling and waits for running jobs, or until ctx ends.
func (r *Runner) Stop(ctx context.Context) {
	if r.cron == nil {
		return
	}
	select {
	case <-r.cron.Stop().Done():
	case <-ctx.Done():
	}
}

// lockKey turns a job name into an advisory lock key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gridmetrics:" + name))
	return int64(h.Sum64())
}

// exclusive runs f while holding the named advisory lock, or returns
// ErrBusy at once when another session holds it. f works on the
// connection that holds the lock, so a job needs one connection only.
func (r *Runner) exclusive(ctx context.Context, name string, f func(context.Context, *pgxpool.Conn) error) error {
	r.local.Lock()
	defer r.local.Unlock()
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey(name)).Scan(&got); err != nil {
		return fmt.Errorf("take lock %s: %w", name, err)
	}
	if !got {
		return ErrBusy
	}
	defer func() {
		// Unlock even when ctx is done; a broken connection drops the lock anyway.
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey(name)); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	return f(ctx, conn)
}

// The rollup tiers and their invalidations share one lock: a coarser tier
// must never read a finer one that another job is rewriting.
const rollupLock = "rollups"

// Refresh brings a tier up to now minus the lateness (and never past the
// tier below it), one chunk per transaction: a crash leaves every bucket
// before the watermark computed and none after it.
func (r *Runner) Refresh(ctx context.Context, t Tier) error {
	start := time.Now()
	err := r.exclusive(ctx, rollupLock, func(ctx context.Context, conn *pgxpool.Conn) error { return r.refresh(ctx, conn, t) })
	if isBusy(err) {
		return err
	}
	r.record(t.Name, start, err)
	return err
}

func (r *Runner) refresh(ctx context.Context, conn *pgxpool.Conn, t Tier) error {
	target := t.Floor(r.Now().Add(-r.cfg.Lateness))
	if below, ok := t.Below(); ok {
		wm, found, err := watermark(ctx, conn, below)
		if err != nil {
			return err
		}
		if !found {
			return nil // nothing below to build from yet
		}
		if b := t.Floor(wm); b.Before(target) {
			target = b
		}
	}
	wm, found, err := watermark(ctx, conn, t)
	if err != nil {
		return err
	}
	if !found {
		if wm, err = r.start(ctx, conn, t, target); err != nil {
			return err
		}
	}
	for wm.Before(target) {
		end := wm.Add(t.chunk)
		if end.After(target) {
			end = target
		}
		var n int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			if n, err = rebuild(ctx, tx, t, wm, end, nil); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE rollup_watermarks SET watermark = $3 WHERE tier = $1 AND watermark = $2`, t.Name, wm, end)
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("watermark of %s moved under the job", t.Name)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("refresh %s [%s, %s): %w", t.Name, wm.Format(time.RFC3339), end.Format(time.RFC3339), err)
		}
		r.Buckets.Add(int64(n))
		r.metrics.buckets.WithLabelValues(t.Name).Add(float64(n))
		r.metrics.refreshed.WithLabelValues(t.Name).Add(end.Sub(wm).Seconds())
		wm = end
	}
	r.metrics.lag.WithLabelValues(t.Name).Set(r.Now().Sub(wm).Seconds())
	return nil
}

// start places a tier's first watermark at the bucket of its oldest data,
// or at target when there is none yet.
func (r *Runner) start(ctx context.Context, conn *pgxpool.Conn, t Tier, target time.Time) (time.Time, error) {
	src := "SELECT min(time) FROM readings"
	if below, ok := t.Below(); ok {
		src = "SELECT min(bucket) FROM " + below.Table
	}
	var oldest *time.Time
	if err := conn.QueryRow(ctx, src).Scan(&oldest); err != nil {
		return time.Time{}, fmt.Errorf("find oldest data for %s: %w", t.Name, err)
	}
	wm := target
	if oldest != nil && t.Floor(*oldest).Before(target) {
		wm = t.Floor(*oldest)
	}
	_, err := conn.Exec(ctx, `INSERT INTO rollup_watermarks (tier, watermark) VALUES ($1, $2) ON CONFLICT (tier) DO NOTHING`, t.Name, wm)
	if err != nil {
		return time.Time{}, err
	}
	wm, _, err = watermark(ctx, conn, t)
	return wm, err
}

func watermark(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, t Tier) (time.Time, bool, error) {
	var wm time.Time
	err := q.QueryRow(ctx, `SELECT watermark FROM rollup_watermarks WHERE tier = $1`, t.Name).Scan(&wm)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read watermark of %s: %w", t.Name, err)
	}
	return wm.UTC(), true, nil
}

// record notes a job's outcome for the status endpoint and metrics.
func (r *Runner) record(job string, start time.Time, jobErr error) {
	d := time.Since(start)
	r.metrics.jobSeconds.WithLabelValues(job).Observe(d.Seconds())
	var msg *string
	if jobErr != nil {
		s := jobErr.Error()
		msg = &s
	}
	_, err := r.pool.Exec(context.Background(), `UPDATE rollup_watermarks SET last_run_at = now(), last_duration_s = $2, last_error = $3 WHERE tier = $1`,
		job, d.Seconds(), msg)
	if err != nil {
		r.log.Warn("record rollup job", "job", job, "err", err)
	}
}
