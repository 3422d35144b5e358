package ingestlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// Log publishes submissions to the stream: it is the ingest.Submitter of
// the front ends when the log is on.
type Log struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	log     *slog.Logger
	metrics *Metrics

	inflight atomic.Int64 // rows submitted and not yet answered by the stream
	mu       sync.RWMutex // held for reading by Submit, for writing by Close
	closed   bool
	pending  sync.WaitGroup // submissions waiting for their acknowledgements

	consumers []*Consumer
	stopPoll  context.CancelFunc
	pollDone  chan struct{}
}

// Open connects to the servers and creates (or updates) the stream and its
// durable consumer, so that every replica of the service may call it.
func Open(ctx context.Context, cfg Config, log *slog.Logger, m *Metrics) (*Log, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(strings.Join(cfg.servers(), ","),
		nats.Name("gridmetrics"),
		nats.Timeout(5*time.Second),
		// A node that goes away is not the end: follow the cluster for as
		// long as the process runs.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("ingest log: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("ingest log: reconnected", "server", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("ingest log: connect to %s: %w", cfg.URLs, err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(cfg.PublishWait),
		jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ingest log: %w", err)
	}
	l := &Log{cfg: cfg, nc: nc, js: js, log: log, metrics: m}
	if err := l.ensure(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	pollCtx, stop := context.WithCancel(context.Background())
	l.stopPoll, l.pollDone = stop, make(chan struct{})
	go l.pollState(pollCtx)
	return l, nil
}

// statePoll is how often the stream's backlog is read for /metrics.
const statePoll = 2 * time.Second

// pollState reads the stream's backlog into the metrics until ctx ends.
func (l *Log) pollState(ctx context.Context) {
	defer close(l.pollDone)
	for {
		info, err := func() (*jetstream.StreamInfo, error) {
			ctx, cancel := context.WithTimeout(ctx, statePoll)
			defer cancel()
			return l.stream.Info(ctx)
		}()
		if err == nil {
			s := info.State
			l.metrics.pendingMessages.Store(int64(s.Msgs))
			l.metrics.pendingBytes.Store(int64(s.Bytes))
			var age time.Duration
			if s.Msgs > 0 && !s.FirstTime.IsZero() {
				age = max(time.Since(s.FirstTime), 0)
			}
			l.metrics.oldestAgeMicros.Store(age.Microseconds())
		}
		sleep(ctx, statePoll)
		if ctx.Err() != nil {
			return
		}
	}
}

// Backlog is the stream's state now: messages not yet written and the
// time the oldest of them was stored (zero when none waits).
func (l *Log) Backlog(ctx context.Context) (messages uint64, oldest time.Time, err error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	if info.State.Msgs > 0 {
		oldest = info.State.FirstTime
	}
	return info.State.Msgs, oldest, nil
}

// ensure creates or updates the stream and the writers' consumer.
func (l *Log) ensure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	for {
		l.stream, err = l.js.CreateOrUpdateStream(ctx, l.streamConfig())
		if !noPeersYet(err) {
			break
		}
		// A cluster that has just started places a stream only once its
		// nodes have told each other what storage they have. (Once ctx
		// ends, the next attempt fails with its error.)
		l.log.Warn("ingest log: the cluster cannot place the stream yet; retrying", "stream", l.cfg.Stream, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("ingest log: create stream %s (%d replicas): %w", l.cfg.Stream, l.cfg.Replicas, err)
	}
	_, err = l.stream.CreateOrUpdateConsumer(ctx, l.consumerConfig())
	if err != nil {
		return fmt.Errorf("ingest log: create consumer %s: %w", l.cfg.consumer(), err)
	}
	return nil
}

// jsErrNoPeers is JetStream's error code for "no suitable peers for
// placement".
const jsErrNoPeers jetstream.ErrorCode = 10005

// noPeersYet reports whether err is JetStream finding no nodes to place a
// stream on.
func noPeersYet(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrNoPeers
}

// streamConfig is the log's stream.
func (l *Log) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:     l.cfg.Stream,
		Subjects: []string{l.cfg.subject()},
		// A message leaves the stream once a writer has committed and
		// acknowledged it, so MaxBytes bounds the unwritten backlog.
		Retention: jetstream.WorkQueuePolicy,
		// Full: refuse the newest, never drop what was acknowledged.
		Discard:  jetstream.DiscardNew,
		MaxBytes: l.cfg.MaxBytes,
		MaxAge:   l.cfg.MaxAge,
		// Room for the headers the client adds (the expected stream).
		MaxMsgSize: MaxMessageBytes + 1024,
		Storage:    jetstream.FileStorage,
		Replicas:   l.cfg.Replicas,
	}
}

func (l *Log) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       l.cfg.consumer(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.cfg.AckWait,
		MaxAckPending: l.cfg.MaxAckPending,
		// Delivered until written: a poison message is terminated by the
		// consumer, never dropped for its delivery count.
		MaxDeliver:    -1,
		FilterSubject: l.cfg.subject(),
	}
}

// MaxRows is the most rows one submission may carry.
func (l *Log) MaxRows() int { return l.cfg.MaxRows }

// Submit publishes points, in messages of at most MaxPoints, and returns a
// channel that receives nil once the stream has persisted all of them
// (with its replicas), or the error that kept one out: ErrOverloaded when
// the stream is full, ErrUnavailable when it did not answer within
// PublishWait. It fails at once with ErrOverloaded past MaxRows in flight,
// ErrTooLarge for more than MaxRows, and ErrClosed after Close.
func (l *Log) Submit(points []ingest.Point) (<-chan error, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ingest.ErrClosed
	}
	n := int64(len(points))
	if n > int64(l.cfg.MaxRows) {
		return nil, ingest.ErrTooLarge
	}
	if l.inflight.Add(n) > int64(l.cfg.MaxRows) {
		l.inflight.Add(-n)
		return nil, ingest.ErrOverloaded
	}
	done := make(chan error, 1)
	if n == 0 {
		l.inflight.Add(-n)
		done <- nil
		return done, nil
	}
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, (len(points)+MaxPoints-1)/MaxPoints)
	var err error
	for rest := points; len(rest) > 0; {
		part := rest[:min(len(rest), MaxPoints)]
		rest = rest[len(part):]
		var f jetstream.PubAckFuture
		f, err = l.js.PublishAsync(l.cfg.subject(), appendMessage(nil, part),
			jetstream.WithExpectStream(l.cfg.Stream), jetstream.WithStallWait(100*time.Millisecond),
			// While the stream has no leader (one is being elected after a
			// node was lost) nobody answers: try again for PublishWait
			// rather than refuse at once.
			jetstream.WithRetryWait(publishRetryWait),
			jetstream.WithRetryAttempts(max(int(l.cfg.PublishWait/publishRetryWait), 1)))
		if err != nil {
			break
		}
		futures = append(futures, f)
	}
	if err != nil && len(futures) == 0 {
		l.inflight.Add(-n)
		return nil, l.publishError(err)
	}
	// Parts already sent are waited for before the rows count as gone.
	l.pending.Add(1)
	go func() {
		defer l.pending.Done()
		defer l.inflight.Add(-n)
		first := err
		for _, f := range futures {
			select {
			case <-f.Ok():
			case e := <-f.Err():
				first = cmpErr(first, e)
			}
		}
		if first != nil {
			l.metrics.publishErrors.Inc()
			done <- l.publishError(first)
			return
		}
		l.metrics.published.Add(float64(len(futures)))
		l.metrics.publishSeconds.Observe(time.Since(start).Seconds())
		done <- nil
	}()
	return done, nil
}

// publishRetryWait is the pause between attempts at a message no server
// answered for.
const publishRetryWait = 250 * time.Millisecond

func cmpErr(first, e error) error {
	if first != nil {
		return first
	}
	return e
}

// publishError translates what the client or the server said into the
// errors ingest answers for: a full stream is ErrOverloaded, anything
// else (no answer, no quorum, no connection) ErrUnavailable.
func (l *Log) publishError(err error) error {
	if full(err) {
		return fmt.Errorf("%w: the ingest log is full: %v", ingest.ErrOverloaded, err)
	}
	if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		return fmt.Errorf("%w: %v", ingest.ErrOverloaded, err)
	}
	l.log.Warn("ingest log: publish failed", "err", err)
	return fmt.Errorf("%w: %v", ingest.ErrUnavailable, err)
}

// full reports the server's refusal of a message the stream has no room
// for: with DiscardNew it answers "maximum bytes exceeded" (or messages).
func full(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == errCodeStreamStoreFailed ||
		strings.Contains(apiErr.Description, "maximum bytes") || strings.Contains(apiErr.Description, "maximum messages")
}

// errCodeStreamStoreFailed is JetStream's JSStreamStoreFailedErr, the code
// of a message the stream could not store (full, with DiscardNew).
const errCodeStreamStoreFailed jetstream.ErrorCode = 10077

// Close stops taking submissions and waits, until ctx ends, for those in
// flight to be acknowledged by the stream; then it stops the consumers
// (Consumer.Close) and closes the connection. The writer the consumers
// write through is closed after it.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	consumers := l.consumers
	l.mu.Unlock()
	finished := make(chan struct{})
	go func() { l.pending.Wait(); close(finished) }()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = fmt.Errorf("ingest log: %w (%d rows not acknowledged by the stream)", ctx.Err(), l.inflight.Load())
	}
	for _, c := range consumers {
		err = errors.Join(err, c.Close(ctx))
	}
	l.stopPoll()
	<-l.pollDone
	// Acknowledgements of the last messages go out before the connection
	// closes.
	_ = l.nc.Drain()
	for l.nc.IsDraining() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	l.nc.Close()
	return err
}
