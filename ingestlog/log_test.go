package ingestlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ingestlog/natstest"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// cluster is the package's three-node cluster, started by the first test
// that needs it and stopped by TestMain (fuzzing never starts it).
var (
	clusterOnce sync.Once
	cluster     *natstest.Cluster
	clusterDir  string
	clusterErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	if clusterDir != "" {
		_ = os.RemoveAll(clusterDir)
	}
	os.Exit(code)
}

func needCluster(t *testing.T) *natstest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a NATS cluster")
	}
	clusterOnce.Do(func() {
		if clusterDir, clusterErr = os.MkdirTemp("", "natstest-"); clusterErr == nil {
			cluster, clusterErr = natstest.Launch(clusterDir, 3)
		}
	})
	if errors.As(clusterErr, &natstest.NotInstalledError{}) {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" {
			t.Fatal(clusterErr)
		}
		t.Skip("nats-server is not installed; make test installs it")
	}
	if clusterErr != nil {
		t.Fatalf("start the NATS cluster: %v", clusterErr)
	}
	return cluster
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var notName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// openLog opens a log on a stream of the test's own, replicated three
// times, and deletes the stream at the end.
func openLog(t *testing.T, cfg Config) (*Log, *Metrics) {
	t.Helper()
	c := needCluster(t)
	cfg.URLs = c.URLs()
	if cfg.Stream == "" {
		cfg.Stream = notName.ReplaceAllString(t.Name(), "_")
	}
	m := NewMetrics(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, cfg, quiet, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close log: %v", err)
		}
		deleteStream(t, cfg.Stream)
	})
	return l, m
}

func deleteStream(t *testing.T, name string) {
	nc, err := nats.Connect(cluster.URLs())
	if err != nil {
		t.Errorf("delete stream: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("delete stream %s: %v", name, err)
	}
}

func newPipeline(t *testing.T, pool *pgxpool.Pool) *ingest.Pipeline {
	t.Helper()
	cfg := ingest.PipelineConfig{}
	if dbtest.SchemaIsolation() {
		cfg.Writers = 1
	}
	p := ingest.NewPipeline(pool, cfg, quiet, ingest.NewMetrics(nil), nil)
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func startConsumer(t *testing.T, l *Log, w ingest.Submitter) *Consumer {
	t.Helper()
	c, err := l.StartConsumer(w, ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func submit(t *testing.T, s ingest.Submitter, points []ingest.Point) error {
	t.Helper()
	done, err := s.Submit(points)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to a submission within 30s")
		return nil
	}
}

func series(source int64, n int, value float64) []ingest.Point {
	out := make([]ingest.Point, n)
	for i := range out {
		out[i] = ingest.Point{SourceID: source, Metric: 1, Time: t0 + int64(i)*1000, Value: value + float64(i)}
	}
	return out
}

// stored reads the readings of source back, in time order.
func stored(t *testing.T, pool *pgxpool.Pool, source int64) []ingest.Point {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT source_id, metric, time, value FROM readings WHERE source_id = $1 ORDER BY metric, time`, source)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ingest.Point
	for rows.Next() {
		var p ingest.Point
		var at time.Time
		if err := rows.Scan(&p.SourceID, &p.Metric, &at, &p.Value); err != nil {
			t.Fatal(err)
		}
		p.Time = at.UnixMicro()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitStored waits until source has want rows, and returns them.
func waitStored(t *testing.T, pool *pgxpool.Pool, source int64, want int) []ingest.Point {
	t.Helper()
	var got []ingest.Point
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got = stored(t, pool, source); len(got) >= want {
			return got
		}
	}
	t.Fatalf("source %d: %d rows stored within 30s, want %d", source, len(got), want)
	return nil
}

func waitDrained(t *testing.T, l *Log) {
	t.Helper()
	var n uint64
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		n, _, err = l.Backlog(ctx)
		cancel()
		if err == nil && n == 0 {
			return
		}
	}
	t.Fatalf("%d messages still in the stream after 30s", n)
}

func samePoints(t *testing.T, got, want []ingest.Point) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows stored, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d is %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestLogWritesAcknowledgedSubmissions: a submission is answered once the
// R3 stream has it; the consumer writes it with the pipeline; a
// correction of the same keys replaces the values; the stream empties.
func TestLogWritesAcknowledgedSubmissions(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	l, m := openLog(t, Config{})
	startConsumer(t, l, newPipeline(t, pool))

	first := series(1, 500, 0)
	if err := submit(t, l, first); err != nil {
		t.Fatal(err)
	}
	samePoints(t, waitStored(t, pool, 1, len(first)), first)

	// Retried with new values: same keys, last value wins, no duplicate.
	corrected := series(1, 500, 1000)
	if err := submit(t, l, corrected); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := stored(t, pool, 1)
		if len(got) == len(corrected) && got[len(got)-1] == corrected[len(corrected)-1] && got[0] == corrected[0] {
			samePoints(t, got, corrected)
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the correction was not written: %d rows, last %+v", len(got), got[len(got)-1])
		}
	}
	waitDrained(t, l)
	if n := testutil.ToFloat64(m.written); n != 2 {
		t.Errorf("written messages = %v, want 2", n)
	}
	if n := testutil.ToFloat64(m.published); n != 2 {
		t.Errorf("published messages = %v, want 2", n)
	}
}

// TestLogSplitsLargeSubmissions: a submission of more than MaxPoints goes
// out in several messages, all acknowledged before the answer.
func TestLogSplitsLargeSubmissions(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	l, m := openLog(t, Config{})
	startConsumer(t, l, newPipeline(t, pool))
	points := series(2, 2*MaxPoints+5, 0)
	if err := submit(t, l, points); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.published); n != 3 {
		t.Errorf("published messages = %v, want 3", n)
	}
	samePoints(t, waitStored(t, pool, 2, len(points)), points)
}

// TestLogRefusesPastItsLimits: more rows than MaxRows at once is
// ErrTooLarge; a full stream answers ErrOverloaded (503 OVERLOADED for the
// client), never drops what it acknowledged; a closed log ErrClosed.
func TestLogRefusesPastItsLimits(t *testing.T) {
	t.Parallel()
	l, m := openLog(t, Config{MaxBytes: 3 * MaxMessageBytes / 2, MaxRows: MaxPoints})
	if _, err := l.Submit(series(3, MaxPoints+1, 0)); !errors.Is(err, ingest.ErrTooLarge) {
		t.Fatalf("submission past MaxRows: %v, want ErrTooLarge", err)
	}
	// No consumer: the stream fills.
	var acked int
	var err error
	for range 10 {
		if err = submit(t, l, series(3, MaxPoints/2, float64(acked))); err != nil {
			break
		}
		acked++
	}
	if !errors.Is(err, ingest.ErrOverloaded) {
		t.Fatalf("after %d acknowledged submissions: %v, want ErrOverloaded", acked, err)
	}
	if acked == 0 {
		t.Fatal("nothing was acknowledged before the stream was full")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, oldest, err := l.Backlog(ctx); err != nil || n != uint64(acked) || oldest.IsZero() {
		t.Errorf("backlog = %d messages, oldest %v, %v; want the %d acknowledged ones", n, oldest, err, acked)
	}
	if n := testutil.ToFloat64(m.publishErrors); n != 1 {
		t.Errorf("publish errors = %v, want 1", n)
	}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelClose()
	if err := l.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Submit(series(3, 1, 0)); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("submit after Close: %v, want ErrClosed", err)
	}
}

// TestConsumerTerminatesPoison: malformed messages on the subject are
// counted and terminated; the messages after them are written.
func TestConsumerTerminatesPoison(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	l, m := openLog(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bad, _ := EncodeMessage(series(4, 1, 0))
	binary.BigEndian.PutUint64(bad[len(bad)-8:], math.Float64bits(math.NaN()))
	for _, raw := range [][]byte{[]byte("not a message"), {}, bad} {
		if _, err := l.js.Publish(ctx, l.cfg.subject(), raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := submit(t, l, series(4, 10, 0)); err != nil {
		t.Fatal(err)
	}
	startConsumer(t, l, newPipeline(t, pool))
	samePoints(t, waitStored(t, pool, 4, 10), series(4, 10, 0))
	waitDrained(t, l)
	if n := testutil.ToFloat64(m.poison); n != 3 {
		t.Errorf("poison messages = %v, want 3", n)
	}
}

// refusing is a writer that refuses, for good, every submission holding a
// point of source refused, as a database refuses a row; the rest it
// passes on.
type refusing struct {
	ingest.Submitter
	refused int64
	calls   atomic.Int64
}

func (r *refusing) Submit(points []ingest.Point) (<-chan error, error) {
	for _, p := range points {
		if p.SourceID == r.refused {
			r.calls.Add(1)
			done := make(chan error, 1)
			done <- errors.New(`ERROR: value refused (SQLSTATE 22003)`)
			return done, nil
		}
	}
	return r.Submitter.Submit(points)
}

// TestConsumerTerminatesMessagesTheDatabaseRefuses: a message the writer
// refuses for good is tried alone a few times, then terminated; it never
// holds up the others.
func TestConsumerTerminatesMessagesTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	l, m := openLog(t, Config{})
	w := &refusing{Submitter: newPipeline(t, pool), refused: 66}
	startConsumer(t, l, w)
	for _, s := range [][]ingest.Point{series(5, 5, 0), series(66, 5, 0), series(6, 5, 0)} {
		if err := submit(t, l, s); err != nil {
			t.Fatal(err)
		}
	}
	waitStored(t, pool, 5, 5)
	waitStored(t, pool, 6, 5)
	waitDrained(t, l)
	if n := testutil.ToFloat64(m.poison); n != 1 {
		t.Errorf("poison messages = %v, want 1", n)
	}
	if n := w.calls.Load(); n != 1+isolationAttempts {
		t.Errorf("the refused message was written %d times, want %d", n, 1+isolationAttempts)
	}
}

// flaky is a writer that fails every submission with a connection error
// while down is set, as the pipeline does while the database is down.
type flaky struct {
	ingest.Submitter
	down atomic.Bool
}

func (f *flaky) Submit(points []ingest.Point) (<-chan error, error) {
	if f.down.Load() {
		done := make(chan error, 1)
		done <- &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		return done, nil
	}
	return f.Submitter.Submit(points)
}

// TestLogAcknowledgesWhileTheDatabaseIsDown: submissions are acknowledged
// while every write fails; the consumer backs off, and once writes work
// again the backlog drains, every row written once.
func TestLogAcknowledgesWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	l, m := openLog(t, Config{AckWait: 2 * time.Second})
	w := &flaky{Submitter: newPipeline(t, pool)}
	w.down.Store(true)
	startConsumer(t, l, w)
	var want []ingest.Point
	for i := range 20 {
		s := series(7, 50, 0)
		for j := range s {
			s[j].Time += int64(i) * 1_000_000_000
		}
		if err := submit(t, l, s); err != nil {
			t.Fatalf("submission %d while writes fail: %v", i, err)
		}
		want = append(want, s...)
		time.Sleep(50 * time.Millisecond)
	}
	if n := testutil.ToFloat64(m.writeFailures); n == 0 {
		t.Fatal("no write failed: the outage was not seen")
	}
	if n := testutil.ToFloat64(m.poison); n != 0 {
		t.Fatalf("%v messages terminated as poison during the outage", n)
	}
	w.down.Store(false)
	sort.Slice(want, func(i, j int) bool { return want[i].Time < want[j].Time })
	samePoints(t, waitStored(t, pool, 7, len(want)), want)
	waitDrained(t, l)
}

// TestConsumersShareTheStream: two processes' consumers (two connections)
// on one durable consumer split the messages; each row is written once.
func TestConsumersShareTheStream(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	cfg := Config{Stream: "TestConsumersShareTheStream", FetchMessages: 1}
	a, ma := openLog(t, cfg)
	b, mb := openLog(t, cfg)
	startConsumer(t, a, newPipeline(t, pool))
	startConsumer(t, b, newPipeline(t, pool))
	const messages = 60
	var wg sync.WaitGroup
	errs := make(chan error, messages)
	for i := range messages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := []*Log{a, b}[i%2]
			p := ingest.Point{SourceID: 8, Metric: 1, Time: t0 + int64(i), Value: float64(i)}
			errs <- submit(t, from, []ingest.Point{p})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitStored(t, pool, 8, messages)
	waitDrained(t, a)
	wa, wb := testutil.ToFloat64(ma.written), testutil.ToFloat64(mb.written)
	t.Logf("messages written: %v by one consumer, %v by the other", wa, wb)
	if wa+wb < messages || wa == 0 || wb == 0 {
		t.Errorf("messages written %v + %v, want %d shared by both", wa, wb, messages)
	}
	if got := stored(t, pool, 8); len(got) != messages {
		t.Errorf("%d rows, want %d", len(got), messages)
	}
}

// TestUnacknowledgedMessagesComeAgain: a consumer that took messages and
// died before acknowledging them (here: fetched by hand and dropped) does
// not lose them: they are delivered again after AckWait and written once.
func TestUnacknowledgedMessagesComeAgain(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	l, m := openLog(t, Config{AckWait: time.Second})
	want := series(9, 100, 0)
	if err := submit(t, l, want); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := l.stream.Consumer(ctx, l.cfg.consumer())
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var taken int
	for range batch.Messages() {
		taken++ // and never acknowledged
	}
	if taken != 1 {
		t.Fatalf("fetched %d messages, want 1", taken)
	}
	startConsumer(t, l, newPipeline(t, pool))
	samePoints(t, waitStored(t, pool, 9, len(want)), want)
	waitDrained(t, l)
	if n := testutil.ToFloat64(m.redelivered); n != 1 {
		t.Errorf("redelivered = %v, want 1", n)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{URLs: "nats://127.0.0.1:4222"}, false},
		{"several servers", Config{URLs: "nats://a:4222, nats://b:4222"}, false},
		{"no server", Config{}, true},
		{"not nats", Config{URLs: "http://a:4222"}, true},
		{"replicas 6", Config{URLs: "nats://a:1", Replicas: 6}, true},
		{"negative bytes", Config{URLs: "nats://a:1", MaxBytes: -1}, true},
		{"bytes below a message", Config{URLs: "nats://a:1", MaxBytes: 1000}, true},
		{"stream with a dot", Config{URLs: "nats://a:1", Stream: "a.b"}, true},
		{"negative age", Config{URLs: "nats://a:1", MaxAge: -time.Hour}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.WithDefaults().Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestNoPeersYet(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"}, true},
		{fmt.Errorf("create: %w", &jetstream.APIError{Code: 400, ErrorCode: 10005}), true},
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamNameInUse}, false},
		{context.DeadlineExceeded, false},
	} {
		if got := noPeersYet(tt.err); got != tt.want {
			t.Errorf("noPeersYet(%v) = %t, want %t", tt.err, got, tt.want)
		}
	}
}
