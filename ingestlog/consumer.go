package ingestlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/recovery"
)

// Consumer fetches the stream's messages from the shared durable consumer
// and writes them through writer (the ingest pipeline: its batches, group
// commit and idempotent keys), acknowledging each message once its rows
// are committed. Any number of consumers, in any number of processes,
// share the work.
type Consumer struct {
	l       *Log
	cons    jetstream.Consumer
	writer  ingest.Submitter
	log     *slog.Logger
	metrics *Metrics
	hook    func(stored time.Time, rows int)

	stop     context.CancelFunc
	ctx      context.Context
	loopDone chan struct{}
	inflight sync.WaitGroup // messages handed to the writer, not yet answered
	slots    chan struct{}  // bounds those messages in this process

	failures    atomic.Int64 // consecutive failed writes, for the back-off
	pausedUntil atomic.Int64 // Unix nanoseconds: no fetch before
}

// ConsumerOptions are the optional parts of a consumer.
type ConsumerOptions struct {
	// OnCommit, when set, is called after the rows of each message are
	// committed, with the time the stream stored the message: a benchmark
	// measures the log's latency until queryable with it.
	OnCommit func(stored time.Time, rows int)
}

// StartConsumer starts a consumer writing through writer; Close stops it.
func (l *Log) StartConsumer(writer ingest.Submitter, opts ConsumerOptions) (*Consumer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := l.stream.Consumer(ctx, l.cfg.consumer())
	if err != nil {
		return nil, fmt.Errorf("ingest log: consumer %s: %w", l.cfg.consumer(), err)
	}
	c := &Consumer{l: l, cons: cons, writer: writer, log: l.log, metrics: l.metrics, hook: opts.OnCommit,
		loopDone: make(chan struct{}), slots: make(chan struct{}, l.cfg.MaxAckPending)}
	c.ctx, c.stop = context.WithCancel(context.Background())
	l.mu.Lock()
	l.consumers = append(l.consumers, c)
	l.mu.Unlock()
	go c.loop()
	return c, nil
}

// fetchWait is how long one fetch waits for messages: short, so a
// consumer that is stopping or paused notices soon.
const fetchWait = time.Second

// loop fetches until the consumer is stopped. A panic is recovered and the
// loop goes on: a message it held is delivered again after AckWait.
func (c *Consumer) loop() {
	defer close(c.loopDone)
	for c.ctx.Err() == nil {
		_ = recovery.Call(c.log, "ingest_log_consumer", c.fetchOnce)
	}
}

func (c *Consumer) fetchOnce() error {
	if wait := time.Until(time.Unix(0, c.pausedUntil.Load())); wait > 0 {
		sleep(c.ctx, wait)
		return nil
	}
	batch, err := c.cons.Fetch(c.l.cfg.FetchMessages, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		c.log.Warn("ingest log: fetch failed", "err", err)
		sleep(c.ctx, 250*time.Millisecond)
		return nil
	}
	for msg := range batch.Messages() {
		c.handle(msg)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && c.ctx.Err() == nil {
		c.log.Debug("ingest log: fetch ended", "err", err)
		sleep(c.ctx, 100*time.Millisecond)
	}
	return nil
}

// handle decodes one message and hands its points to the writer; the
// answer is awaited in a goroutine of its own, so the next messages join
// the same batches.
func (c *Consumer) handle(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		c.poison(msg, nil, fmt.Errorf("%w: no JetStream metadata: %v", ErrMalformed, err))
		return
	}
	if meta.NumDelivered > 1 {
		c.metrics.redelivered.Inc()
	}
	points, err := DecodeMessage(msg.Data())
	if err != nil {
		c.poison(msg, meta, err)
		return
	}
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		_ = msg.Nak()
		return
	}
	done, err := c.submit(points)
	if err != nil {
		<-c.slots
		_ = msg.Nak()
		return
	}
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		defer func() { <-c.slots }()
		c.finish(msg, meta, points, done)
	}()
}

// submit hands points to the writer, waiting while its queue is full.
func (c *Consumer) submit(points []ingest.Point) (<-chan error, error) {
	for {
		done, err := submitParts(c.writer, points)
		if !errors.Is(err, ingest.ErrOverloaded) {
			return done, err
		}
		if c.ctx.Err() != nil {
			return nil, c.ctx.Err()
		}
		sleep(c.ctx, 5*time.Millisecond)
	}
}

// submitParts submits points in parts the writer accepts and answers once
// all of them are.
func submitParts(w ingest.Submitter, points []ingest.Point) (<-chan error, error) {
	size := max(w.MaxRows(), 1)
	if len(points) <= size {
		return w.Submit(points)
	}
	var parts []<-chan error
	for rest := points; len(rest) > 0; {
		part := rest[:min(len(rest), size)]
		rest = rest[len(part):]
		done, err := w.Submit(part)
		if err != nil {
			// Parts already submitted are written; the message is
			// delivered again and writes them once more, harmlessly.
			return nil, err
		}
		parts = append(parts, done)
	}
	all := make(chan error, 1)
	go func() {
		var first error
		for _, p := range parts {
			first = cmpErr(first, <-p)
		}
		all <- first
	}()
	return all, nil
}

// finish waits for the writer's answer, keeping the message's ack timer
// from running out meanwhile, and acknowledges, delivers again later, or
// terminates the message.
func (c *Consumer) finish(msg jetstream.Msg, meta *jetstream.MsgMetadata, points []ingest.Point, done <-chan error) {
	err := c.await(msg, done)
	if err != nil && !ingest.Transient(err) && !errors.Is(err, ingest.ErrClosed) {
		// Something in the batch was refused. Was it this message? Written
		// alone, a message the database keeps refusing is poison; one that
		// was only unlucky to share a batch is written.
		for attempt := range isolationAttempts {
			if attempt > 0 {
				sleep(c.ctx, time.Duration(attempt)*200*time.Millisecond)
			}
			if err = c.writeAlone(msg, points); err == nil || ingest.Transient(err) {
				break
			}
		}
		if err != nil && !ingest.Transient(err) {
			c.poison(msg, meta, err)
			return
		}
	}
	if err != nil {
		c.metrics.writeFailures.Inc()
		delay := c.backOff()
		c.log.Warn("ingest log: write failed; the message is delivered again", "stream_seq", meta.Sequence.Stream, "delay", delay, "err", err)
		_ = msg.NakWithDelay(delay)
		return
	}
	c.failures.Store(0)
	if err := msg.Ack(); err != nil {
		// The rows are committed; the message comes again and its rows
		// are written again to the same keys.
		c.log.Warn("ingest log: ack failed", "stream_seq", meta.Sequence.Stream, "err", err)
		return
	}
	c.metrics.written.Inc()
	c.metrics.lagSeconds.Observe(time.Since(meta.Timestamp).Seconds())
	if c.hook != nil {
		c.hook(meta.Timestamp, len(points))
	}
}

// isolationAttempts is how often a message is written alone before it is
// judged poison: a refusal that repeats is the message's, not chance's.
const isolationAttempts = 3

func (c *Consumer) writeAlone(msg jetstream.Msg, points []ingest.Point) error {
	done, err := c.submit(points)
	if err != nil {
		return err
	}
	return c.await(msg, done)
}

// await waits for done, telling the server every third of AckWait that the
// message is still being worked on.
func (c *Consumer) await(msg jetstream.Msg, done <-chan error) error {
	tick := time.NewTicker(max(c.l.cfg.AckWait/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			_ = msg.InProgress()
		}
	}
}

// backOff pauses fetching after a failed write, longer after each one in a
// row (up to 5 s): while the database is down, messages stay in the stream
// rather than circle between it and the writer.
func (c *Consumer) backOff() time.Duration {
	n := c.failures.Add(1)
	delay := min(time.Duration(1<<min(n-1, 5))*250*time.Millisecond, 5*time.Second)
	until := time.Now().Add(delay).UnixNano()
	for {
		cur := c.pausedUntil.Load()
		if cur >= until || c.pausedUntil.CompareAndSwap(cur, until) {
			return delay
		}
	}
}

// poison terminates a message that can never be written: it is counted
// and logged with its stream sequence, and never blocks the consumer.
func (c *Consumer) poison(msg jetstream.Msg, meta *jetstream.MsgMetadata, err error) {
	c.metrics.poison.Inc()
	var seq uint64
	if meta != nil {
		seq = meta.Sequence.Stream
	}
	c.log.Error("ingest log: poison message terminated", "stream_seq", seq, "bytes", len(msg.Data()), "err", err)
	_ = msg.Term()
}

// Close stops fetching and waits, until ctx ends, for the messages handed
// to the writer to be answered and acknowledged. Messages not acknowledged
// then are delivered again, after AckWait, to another consumer.
func (c *Consumer) Close(ctx context.Context) error {
	c.stop()
	finished := make(chan struct{})
	go func() {
		<-c.loopDone
		c.inflight.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest log consumer: %w", ctx.Err())
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
