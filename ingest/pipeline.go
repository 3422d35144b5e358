package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridmetrics/gridmetrics/internal/settings"
	"github.com/gridmetrics/gridmetrics/recovery"
)

// Point is a validated reading ready to be written.
type Point struct {
	SourceID int64
	Time     int64 // microseconds since the Unix epoch (UTC)
	Value    float64
	Metric   int16
	seq      int32 // arrival order within a batch; fits in the padding
}

// PipelineConfig configures the pipeline.
type PipelineConfig struct {
	// QueueRows bounds the rows accepted and not yet committed; past it,
	// Submit fails with ErrOverloaded. It also bounds one request: a
	// submission of more rows could never be let in (ErrTooLarge). Default
	// 500 000 (about 16 MB).
	QueueRows int
	// BatchRows is the row count at which a batch is cut; default 20 000.
	BatchRows int
	// Linger is how long a batch waits for more rows before it is cut;
	// default 10ms.
	Linger time.Duration
	// Writers is the number of batches written at once, each on its own
	// connection; default 2.
	Writers int
	// InvalidationHorizon: readings older than now minus this are recorded
	// in rollup_invalidations for the rollups to re-aggregate; default 10m.
	InvalidationHorizon time.Duration
	// WriteTimeout bounds one attempt at writing a batch, connection
	// acquisition and commit included: a connection that stalls without
	// an error (a dropped network, a lock never released) fails the attempt
	// instead of holding the writer, and every request in the batch, for
	// ever. Default 1m.
	WriteTimeout time.Duration

	// hook, when set, sees every point as the batcher queues it and as a
	// writer collects it: tests make it panic.
	hook func(where string, p Point)
}

// WithDefaults returns the config with zero fields set to their defaults.
func (c PipelineConfig) WithDefaults() PipelineConfig {
	if c.QueueRows <= 0 {
		c.QueueRows = 500_000
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 20_000
	}
	if c.Linger <= 0 {
		c.Linger = 10 * time.Millisecond
	}
	if c.Writers <= 0 {
		c.Writers = 2
	}
	if c.InvalidationHorizon <= 0 {
		c.InvalidationHorizon = 10 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = time.Minute
	}
	return c
}

// Validate reports the settings that cannot work. It checks c as it will
// run, so a zero that WithDefaults would replace is refused too: call it on
// WithDefaults' result, or on settings given in full (the command line).
func (c PipelineConfig) Validate() error {
	return errors.Join(
		settings.Positive("ingest.QueueRows", c.QueueRows),
		settings.Positive("ingest.BatchRows", c.BatchRows),
		settings.Positive("ingest.Linger", c.Linger),
		settings.Positive("ingest.Writers", c.Writers),
		settings.Positive("ingest.InvalidationHorizon", c.InvalidationHorizon),
		settings.Positive("ingest.WriteTimeout", c.WriteTimeout),
	)
}

// Errors of Submit.
var (
	ErrOverloaded = errors.New("ingest queue is full")
	ErrClosed     = errors.New("ingest pipeline is shutting down")
	ErrTooLarge   = errors.New("submission is larger than the ingest queue")
)

// Pipeline batches submitted points and writes them with group commit: a
// submission is answered only once the transaction holding its rows has
// committed, or failed.
type Pipeline struct {
	cfg     PipelineConfig
	pool    *pgxpool.Pool
	log     *slog.Logger
	metrics *Metrics

	queued   atomic.Int64 // rows submitted and not yet answered
	requests chan *submission
	batches  chan []*submission

	closeOnce sync.Once
	mu        sync.RWMutex // held for reading by Submit, for writing by Close
	closed    bool
	done      sync.WaitGroup
}

type submission struct {
	points []Point
	done   chan error
}

// NewPipeline starts a pipeline writing to pool.
func NewPipeline(pool *pgxpool.Pool, cfg PipelineConfig, log *slog.Logger, m *Metrics, reg prometheus.Registerer) *Pipeline {
	cfg = cfg.WithDefaults()
	p := &Pipeline{
		cfg:      cfg,
		pool:     pool,
		log:      log,
		metrics:  m,
		requests: make(chan *submission, 4096),
		batches:  make(chan []*submission),
	}
	m.registerQueue(reg, p)
	p.done.Add(1 + cfg.Writers)
	go p.batch()
	for range cfg.Writers {
		go p.write()
	}
	return p
}

// Submit queues points and returns a channel that receives nil once they
// are committed, or the error that kept them out. It fails at once with
// ErrOverloaded when the queue is full, with ErrTooLarge when points could
// never fit in it, and ErrClosed after Close.
func (p *Pipeline) Submit(points []Point) (<-chan error, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, ErrClosed
	}
	n := int64(len(points))
	if n > int64(p.cfg.QueueRows) {
		return nil, ErrTooLarge
	}
	if total := p.queued.Add(n); total > int64(p.cfg.QueueRows) {
		p.queued.Add(-n)
		return nil, ErrOverloaded
	}
	s := &submission{points: points, done: make(chan error, 1)}
	select {
	case p.requests <- s:
		return s.done, nil
	default:
		p.queued.Add(-n)
		return nil, ErrOverloaded
	}
}

// Queued is the number of rows accepted and not yet answered.
func (p *Pipeline) Queued() int64 { return p.queued.Load() }

// Close stops accepting submissions, writes everything already queued and
// waits for the writers, or until ctx ends.
func (p *Pipeline) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.requests)
		p.mu.Unlock()
	})
	finished := make(chan struct{})
	go func() { p.done.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest drain: %w (%d rows unwritten)", ctx.Err(), p.queued.Load())
	}
}

// batch cuts batches at BatchRows or after Linger, whichever comes first.
// A panic fails the submissions it had gathered and the batcher goes on.
func (p *Pipeline) batch() {
	defer p.done.Done()
	defer close(p.batches)
	b := batcher{p: p, timer: time.NewTimer(time.Hour)}
	b.timer.Stop()
	for {
		err := recovery.Call(p.log, "ingest_batcher", b.run)
		if err == nil {
			return
		}
		for _, s := range b.pending {
			p.queued.Add(-int64(len(s.points)))
			s.done <- err
		}
		b.reset()
	}
}

// batcher is the batcher goroutine's state, kept outside its loop so a
// recovered panic can answer the submissions it held.
type batcher struct {
	p       *Pipeline
	pending []*submission
	rows    int
	timer   *time.Timer
	timerC  <-chan time.Time
}

func (b *batcher) reset() {
	b.pending, b.rows, b.timerC = nil, 0, nil
	b.timer.Stop()
}

func (b *batcher) flush() {
	if len(b.pending) > 0 {
		b.p.batches <- b.pending
	}
	b.reset()
}

// run gathers submissions until the requests channel closes.
func (b *batcher) run() error {
	p := b.p
	for {
		select {
		case s, ok := <-p.requests:
			if !ok {
				b.flush()
				return nil
			}
			if len(b.pending) == 0 {
				b.timer.Reset(p.cfg.Linger)
				b.timerC = b.timer.C
			}
			b.pending = append(b.pending, s)
			if p.cfg.hook != nil {
				for _, pt := range s.points {
					p.cfg.hook("batcher", pt)
				}
			}
			b.rows += len(s.points)
			if b.rows >= p.cfg.BatchRows {
				b.flush()
			}
		case <-b.timerC:
			b.flush()
		}
	}
}

// write takes batches and writes each in one transaction, retrying
// transient failures, then answers every submission in it. A panic fails
// the batch's submissions, and the writer goes on with fresh buffers.
func (p *Pipeline) write() {
	defer p.done.Done()
	w := p.newBatchWriter()
	for subs := range p.batches {
		start := time.Now()
		var n int
		err := recovery.Call(p.log, "ingest_writer", func() error {
			n = w.collect(subs)
			return p.writeWithRetry(w)
		}, "submissions", len(subs))
		var pe *recovery.PanicError
		if errors.As(err, &pe) {
			w = p.newBatchWriter()
		}
		if err == nil {
			p.metrics.batchRows.Observe(float64(n))
			p.metrics.commitSeconds.Observe(time.Since(start).Seconds())
		}
		w.shrink()
		for _, s := range subs {
			p.queued.Add(-int64(len(s.points)))
			s.done <- err
		}
	}
}

func (p *Pipeline) newBatchWriter() *batchWriter {
	w := newBatchWriter(p.cfg.InvalidationHorizon, p.cfg.BatchRows)
	w.hook = p.cfg.hook
	return w
}

const writeAttempts = 4

func (p *Pipeline) writeWithRetry(w *batchWriter) error {
	var err error
	for attempt := range writeAttempts {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt*attempt) * 100 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.WriteTimeout)
		var merged bool
		merged, err = w.write(ctx, p.pool)
		cancel()
		if merged {
			p.metrics.mergeConflicts.Inc()
		}
		if err == nil {
			return nil
		}
		p.metrics.writeErrors.Inc()
		p.log.Warn("batch write failed", "attempt", attempt+1, "rows", len(w.points), "err", err)
		if !retryable(err) {
			break
		}
	}
	return err
}
