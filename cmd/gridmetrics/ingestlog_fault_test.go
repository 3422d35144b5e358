//go:build linux

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gridmetrics/gridmetrics/ingestlog/natstest"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// Fault drills of the durable ingest log (ingestlog): with it, an
// acknowledged reading is in the replicated stream, and reaches the
// database exactly once in effect, whatever happens to the database, a
// NATS node or a writer in between.

const logStream = "DRILL"

// logServer starts the service with the ingest log on cluster. The API key
// cache is on (the default): with the database down, requests are still
// authenticated, as the sources they name are still resolved, from memory.
func logServer(t *testing.T, dbURL, key string, cluster *natstest.Cluster, extra ...string) *serverProcess {
	t.Helper()
	args := append([]string{"--auth-failure-limit", "0",
		"--ingest-log", cluster.URLs(), "--ingest-log-stream", logStream,
		// A writer that dies leaves its messages to the others this soon.
		"--ingest-log-ack-wait", "2s",
		"--db-writer-acquire-timeout", "1s", "--db-auth-acquire-timeout", "1s"}, extra...)
	return startServerProcess(t, dbURL, args...)
}

func logTenant(t *testing.T, dbURL string) (key string) {
	t.Helper()
	tenant := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "fleet", "--auto-register"))
	return strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest,read"))
}

// logStreamInfo reads the drill stream's state from the cluster.
func logStreamInfo(t *testing.T, cluster *natstest.Cluster) (*jetstream.StreamInfo, error) {
	t.Helper()
	nc, err := nats.Connect(cluster.URLs(), nats.Timeout(2*time.Second))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, logStream)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// waitLogDrained waits until every message in the stream is written and
// acknowledged.
func waitLogDrained(t *testing.T, cluster *natstest.Cluster, limit time.Duration) {
	t.Helper()
	var last uint64
	if !waitFor(limit, func() bool {
		info, err := logStreamInfo(t, cluster)
		if err != nil {
			return false
		}
		last = info.State.Msgs
		return last == 0
	}) {
		t.Fatalf("%d messages still in the ingest log after %s", last, limit)
	}
}

// TestIngestLogDatabaseStopped stops PostgreSQL (immediate shutdown) for
// 20 s under an ingest load with the log on: no request is refused, ingest
// keeps acknowledging, the backlog drains after the restart, and every
// acknowledged reading is stored exactly once.
func TestIngestLogDatabaseStopped(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	nodes := natstest.Start(t, 3)
	db := startScratchCluster(t)
	cli(t, db.url, "migrate")
	key := logTenant(t, db.url)
	srv := logServer(t, db.url, key, nodes)

	const (
		clients = 3
		outage  = 20 * time.Second
	)
	load := startLoad(srv.base, key, "logoutage", clients, 50)
	defer load.finish()
	// The first batches register the load's sources and cache the key.
	if !waitFor(15*time.Second, func() bool { return load.ackedReqs.Load() >= 10 }) {
		t.Fatalf("no load acknowledged before the outage; log:\n%s", srv.logs)
	}

	db.crash()
	stoppedAt := time.Now()
	ackedBefore := load.ackedReqs.Load()
	time.Sleep(outage)
	ackedDuring := load.ackedReqs.Load() - ackedBefore
	info, err := logStreamInfo(t, nodes)
	if err != nil {
		t.Fatal(err)
	}
	backlog := info.State.Msgs
	db.start()
	backAt := time.Now()
	// Some load after the database is back, then the rest drains.
	if !waitFor(20*time.Second, func() bool { return load.ackedSince(backAt) }) {
		t.Fatalf("no batch acknowledged after PostgreSQL was back; log:\n%s", srv.logs)
	}
	load.finish()
	waitLogDrained(t, nodes, 60*time.Second)

	lost := checkStored(t, db.url, load)
	t.Logf("PostgreSQL stopped (immediate) for %s under %d ingest clients with the log: %d batches acknowledged during the outage, %d messages in the log when it ended, "+
		"drained %.1f s after PostgreSQL was back (and the load stopped); %d acknowledged rows stored, %d lost; slowest answer %s; answers other than 200: %v",
		backAt.Sub(stoppedAt).Round(time.Millisecond), clients, ackedDuring, backlog, time.Since(backAt).Seconds(),
		len(load.acked), lost, load.maxWait.Round(time.Millisecond), load.answers)
	if ackedDuring == 0 || backlog == 0 {
		t.Errorf("ingest did not go on through the outage: %d batches acknowledged, %d messages waiting", ackedDuring, backlog)
	}
	if len(load.answers) > 0 || len(load.bad) > 0 {
		t.Errorf("requests refused with the log on: %v %v\nlog:\n%s", load.answers, load.bad, srv.logs)
	}
	if lost > 0 {
		t.Errorf("%d acknowledged rows lost", lost)
	}
}

// TestIngestLogNATSNodeKilled kills the stream's leader node (SIGKILL)
// under load: the stream elects another and goes on. A request in the gap
// waits for it (up to ingest-log-publish-wait; past that it would be
// answered 503 with Retry-After, and sent again), none is answered
// otherwise, and nothing acknowledged is lost.
func TestIngestLogNATSNodeKilled(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	nodes := natstest.Start(t, 3)
	dbURL := dbtest.NewURL(t)
	key := logTenant(t, dbURL)
	srv := logServer(t, dbURL, key, nodes)

	load := startLoad(srv.base, key, "lognode", 3, 50)
	defer load.finish()
	if !waitFor(15*time.Second, func() bool { return load.ackedReqs.Load() >= 10 }) {
		t.Fatalf("no load acknowledged; log:\n%s", srv.logs)
	}
	info, err := logStreamInfo(t, nodes)
	if err != nil {
		t.Fatal(err)
	}
	leader := nodes.Index(info.Cluster.Leader)
	if leader < 0 {
		t.Fatalf("stream leader %q is none of the nodes", info.Cluster.Leader)
	}
	if err := nodes.Kill(leader); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if !waitFor(20*time.Second, func() bool { return load.ackedSince(killedAt.Add(time.Second)) }) {
		t.Fatalf("no batch acknowledged in the 20 s after the leader (%s) was killed; log:\n%s", info.Cluster.Leader, srv.logs)
	}
	resumed := time.Since(killedAt)
	time.Sleep(time.Second)
	if err := nodes.Restart(leader); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	load.finish()
	waitLogDrained(t, nodes, 30*time.Second)

	lost := checkStored(t, dbURL, load)
	after, err := logStreamInfo(t, nodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the stream leader %s under 3 ingest clients: acknowledging within %.2f s, new leader %s; %d batches answered 503; %d acknowledged rows stored, %d lost; slowest answer %s",
		info.Cluster.Leader, resumed.Seconds(), after.Cluster.Leader, load.unavailableAnswers(), len(load.acked), lost, load.maxWait.Round(time.Millisecond))
	load.checkAnswersAndLoss(t, lost, srv.logs)
}

// TestIngestLogWriterKilledMidBatch runs two replicas on one stream and
// kills one (SIGKILL) while its writer holds fetched messages mid-batch (a
// lock on readings holds every commit): its messages come again, after the
// ack wait, to the other replica and to it once restarted; nothing is
// lost, nothing stored twice.
func TestIngestLogWriterKilledMidBatch(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	nodes := natstest.Start(t, 3)
	dbURL := dbtest.NewURL(t)
	key := logTenant(t, dbURL)
	a := logServer(t, dbURL, key, nodes)
	b := logServer(t, dbURL, key, nodes)

	load := startLoad(a.base, key, "logwriter", 3, 50)
	defer load.finish()
	if !waitFor(15*time.Second, func() bool { return load.ackedReqs.Load() >= 10 }) {
		t.Fatalf("no load acknowledged; log:\n%s", a.logs)
	}
	// Inserts wait for the lock: each writer holds its batch uncommitted.
	release := lockTable(t, dbURL, "readings", "SHARE")
	var held float64
	if !waitFor(15*time.Second, func() bool {
		held = metricValue(t, b.base, "gridmetrics_ingest_queue_rows")
		return held > 0
	}) {
		release()
		t.Fatalf("the second replica took no message; its log:\n%s", b.logs)
	}
	b.kill()
	if err := release(); err != nil {
		t.Fatal(err)
	}
	b = logServer(t, dbURL, key, nodes)
	time.Sleep(time.Second)
	load.finish()
	waitLogDrained(t, nodes, 30*time.Second)

	redelivered := metricValue(t, a.base, "gridmetrics_ingest_log_redelivered_messages_total") +
		metricValue(t, b.base, "gridmetrics_ingest_log_redelivered_messages_total")
	lost := checkStored(t, dbURL, load)
	t.Logf("killed a replica holding %v rows mid-batch: %v messages delivered again; %d acknowledged rows stored, %d lost; answers other than 200: %v",
		held, redelivered, len(load.acked), lost, load.answers)
	if redelivered == 0 {
		t.Errorf("no message was delivered again: the killed writer held none")
	}
	if len(load.answers) > 0 || len(load.bad) > 0 {
		t.Errorf("requests refused: %v %v", load.answers, load.bad)
	}
	if lost > 0 {
		t.Errorf("%d acknowledged rows lost", lost)
	}
}
