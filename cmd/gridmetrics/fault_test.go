//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/internal/localserver"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// Fault injection against real PostgreSQL (DESIGN §10): the database goes
// away under load, the writers' connections are killed mid-batch, slow
// reads exhaust their pool. In every case each acknowledged reading is
// stored exactly once, the answers in between are 503 with Retry-After
// (never 500), and the service recovers without a restart.

func skipFaults(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("injects database faults under load")
	}
	if dbtest.SchemaIsolation() {
		t.Skip("the TimescaleDB harness serves one connection and cannot be stopped or have backends terminated")
	}
}

// scratchCluster is a PostgreSQL cluster of the test's own, started with
// scripts/pg.sh scratch: the test may stop it, which it must never do to
// the shared test cluster.
type scratchCluster struct {
	t      *testing.T
	script string
	dir    string
	port   int
	url    string
}

func startScratchCluster(t *testing.T) *scratchCluster {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c := &scratchCluster{t: t, script: filepath.Join(root, "scripts", "pg.sh"),
		dir: filepath.Join(root, ".data", "scratch", fmt.Sprintf("%s-%d", t.Name(), os.Getpid()))}
	t.Cleanup(func() {
		c.pgsh("crash", "scratch", c.dir) // throwaway: no need to shut down cleanly
		// As root the folder may be a link to where pg.sh put the cluster.
		if real, err := filepath.EvalSymlinks(c.dir); err == nil && real != c.dir {
			if err := os.RemoveAll(real); err != nil {
				t.Errorf("remove scratch cluster: %v", err)
			}
		}
		if err := os.RemoveAll(c.dir); err != nil {
			t.Errorf("remove scratch cluster: %v", err)
		}
	})
	// The port is chosen here, so another process may take it before the
	// cluster does: try a few.
	for attempt := 0; ; attempt++ {
		if err := os.RemoveAll(c.dir); err != nil {
			t.Fatal(err)
		}
		c.port = freeLoopbackPort(t)
		out, err := c.pgsh("scratch", c.dir, strconv.Itoa(c.port))
		var exit *exec.ExitError
		switch {
		case err == nil:
			c.url = strings.TrimSpace(out)
			return c
		case errors.As(err, &exit) && exit.ExitCode() == 3:
			t.Skip("PostgreSQL's binaries are not installed; the fault tests need a cluster of their own")
		case attempt == 2:
			t.Fatalf("start scratch cluster: %v", err)
		}
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	port, err := localserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func (c *scratchCluster) pgsh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Logf("scripts/pg.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), err
}

// crash stops PostgreSQL at once, as pg_ctl stop -m immediate does.
func (c *scratchCluster) crash() {
	c.t.Helper()
	if _, err := c.pgsh("crash", "scratch", c.dir); err != nil {
		c.t.Fatal(err)
	}
}

// start starts it again on the same port.
func (c *scratchCluster) start() {
	c.t.Helper()
	if _, err := c.pgsh("scratch", c.dir, strconv.Itoa(c.port)); err != nil {
		c.t.Fatal(err)
	}
}

// faultLoad posts readings from several clients until stopped. A batch
// answered 503 is sent again (a client's retry), so the rows of a batch
// whose commit was in doubt reach the database twice; every batch answered
// 200 is recorded.
type faultLoad struct {
	lc      loadClient
	prefix  string
	clients int
	rows    int // per batch

	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
	ackedReqs atomic.Int64
	lastAck   atomic.Int64 // unix nanoseconds of the latest 200

	mu      sync.Mutex
	acked   []loadRow
	answers map[string]int // status and code → count, 200s excluded
	bad     []string       // answers that are neither 200 nor 503 with Retry-After
	maxWait time.Duration  // slowest answer
	retried int
}

func startLoad(base, key, prefix string, clients, rows int) *faultLoad {
	l := &faultLoad{lc: newLoadClient(base, key, clients), prefix: prefix, clients: clients, rows: rows,
		stop: make(chan struct{}), answers: map[string]int{}}
	// Unique keys: each client has its own sources, and each source's time
	// advances a millisecond per row, staying in the past.
	base0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	const sourcesPerClient = 10
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			seq := 0
			for {
				batch := make([]loadRow, rows)
				for i := range batch {
					n := seq + i/sourcesPerClient
					batch[i] = loadRow{
						source: fmt.Sprintf("%s-%d-%d", prefix, c, i%sourcesPerClient),
						at:     base0.Add(time.Duration(n) * time.Millisecond),
						value:  float64(c)*1e9 + float64(seq*sourcesPerClient+i),
					}
				}
				seq += rows / sourcesPerClient
				body := readingsBody(batch)
				for {
					select {
					case <-l.stop:
						return
					default:
					}
					began := time.Now()
					ans := l.lc.post(body)
					if l.record(ans, batch, time.Since(began)) {
						break
					}
					// A real client waits Retry-After; a tenth of a second
					// measures the recovery more finely.
					select {
					case <-l.stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
	}
	return l
}

// record notes one answer and reports whether the batch is done with.
func (l *faultLoad) record(ans loadAnswer, batch []loadRow, took time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxWait = max(l.maxWait, took)
	switch {
	case ans.Err == nil && ans.Status == http.StatusOK && ans.Accepted == len(batch):
		l.acked = append(l.acked, batch...)
		l.ackedReqs.Add(1)
		l.lastAck.Store(time.Now().UnixNano())
		return true
	case ans.Err != nil:
		l.answers["transport error"]++
		if len(l.bad) < 5 {
			l.bad = append(l.bad, "POST /v1/readings: "+ans.Err.Error())
		}
		return false
	}
	what := fmt.Sprintf("%d %s", ans.Status, ans.Code)
	l.answers[what]++
	if ans.Status == http.StatusServiceUnavailable && ans.RetryAfter != "" {
		l.retried++
		return false
	}
	if len(l.bad) < 5 {
		l.bad = append(l.bad, fmt.Sprintf("POST /v1/readings: %s (Retry-After %q, accepted %d)", what, ans.RetryAfter, ans.Accepted))
	}
	return false
}

// ackedSince reports whether a batch was acknowledged after t.
func (l *faultLoad) ackedSince(t time.Time) bool { return l.lastAck.Load() > t.UnixNano() }

func (l *faultLoad) finish() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// unavailableAnswers counts the load's 503s.
// checkAnswersAndLoss fails t for answers other than 200 or 503 with
// Retry-After, and for acknowledged rows lost.
func (l *faultLoad) checkAnswersAndLoss(t *testing.T, lost int, logs fmt.Stringer) {
	t.Helper()
	if len(l.bad) > 0 {
		t.Errorf("answers other than 200 or 503 with Retry-After:\n%s\nlog:\n%s", strings.Join(l.bad, "\n"), logs)
	}
	if lost > 0 {
		t.Errorf("%d acknowledged rows lost", lost)
	}
}

func (l *faultLoad) unavailableAnswers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.retried
}

// probe is a GET of one route, answered 200 or 503 with Retry-After.
type probe struct {
	hc   *http.Client
	base string
	key  string

	mu      sync.Mutex
	answers map[string]int // route and status → count
	n503    int
	bad     []string
}

func newProbe(base, key string) *probe {
	return &probe{hc: &http.Client{Transport: contract.wrap(http.DefaultTransport), Timeout: 15 * time.Second}, base: base, key: key, answers: map[string]int{}}
}

// get fetches path and returns its status (0: no answer).
func (p *probe) get(path string) int {
	req, err := http.NewRequest(http.MethodGet, p.base+path, nil)
	if err != nil {
		panic(err)
	}
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	res, err := p.hc.Do(req)
	p.mu.Lock()
	defer p.mu.Unlock()
	route, _, _ := strings.Cut(path, "?")
	if err != nil {
		p.answers[route+" transport error"]++
		if len(p.bad) < 5 {
			p.bad = append(p.bad, fmt.Sprintf("GET %s: %v", route, err))
		}
		return 0
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		// A stream the database failed under is cut, never ended like a
		// success: the right answer once its headers are out.
		p.answers[route+" stream aborted"]++
		return 0
	}
	p.answers[fmt.Sprintf("%s %d", route, res.StatusCode)]++
	switch {
	case res.StatusCode == http.StatusOK:
	case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "" &&
		strings.Contains(string(body), `"code":"UNAVAILABLE"`):
		p.n503++
	default:
		if len(p.bad) < 5 {
			p.bad = append(p.bad, fmt.Sprintf("GET %s: %d Retry-After %q: %.300s", route, res.StatusCode, res.Header.Get("Retry-After"), body))
		}
	}
	return res.StatusCode
}

// checkStored reads the load's readings back and reports how many
// acknowledged ones are missing or changed (checkAcknowledged).
func checkStored(t *testing.T, dbURL string, l *faultLoad) (lost int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	_, lost = checkAcknowledged(t, dbURL, l.prefix, l.acked)
	return lost
}

// faultServer creates a tenant and a key with every scope, and starts the
// server process with the API key cache off, so that every request asks
// the database who is calling.
func faultServer(t *testing.T, dbURL string, extra ...string) (*serverProcess, string) {
	t.Helper()
	tenant := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "fleet", "--auto-register"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest,read,billing,admin"))
	// Failed authentications are limited per client address, and every
	// client here is 127.0.0.1: the limit would answer the load's requests.
	args := append([]string{"--api-key-cache-ttl", "0", "--auth-failure-limit", "0"}, extra...)
	return startServerProcess(t, dbURL, args...), key
}

// waitFor polls cond every 20ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// The routes probed during faults: one per store, all behind
// authentication, and readiness.
var faultRoutes = []string{
	"/readyz",
	"/v1/sources",
	"/v1/metrics",
	"/v1/tariffs",
	"/v1/sessions?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
	"/v1/rollups/status",
	"/v1/sessions/export?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
}

// TestFaultDatabaseStopped stops PostgreSQL (immediate shutdown) under an
// ingest load of 8 clients, keeps it down for a few seconds and starts it
// again: every answer in between is 503 with Retry-After, on every route;
// every acknowledged reading is stored; the service recovers by itself.
func TestFaultDatabaseStopped(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	cluster := startScratchCluster(t)
	cli(t, cluster.url, "migrate")
	srv, key := faultServer(t, cluster.url,
		"--db-writer-acquire-timeout", "1s", "--db-auth-acquire-timeout", "1s", "--db-read-acquire-timeout", "1s")

	const (
		clients = 8
		outage  = 4 * time.Second
	)
	load := startLoad(srv.base, key, "outage", clients, 100)
	defer load.finish()
	if !waitFor(10*time.Second, func() bool { return load.ackedReqs.Load() >= 5 }) {
		t.Fatalf("no load acknowledged before the outage; log:\n%s", srv.logs)
	}

	// A query route needs a source's public id.
	sources := client{t, srv.base, key}.do(http.MethodGet, "/v1/sources", "")
	list, _ := sources.Body["data"].([]any)
	if len(list) == 0 {
		t.Fatalf("no sources: %v", sources.Body)
	}
	src, _ := list[0].(map[string]any)["id"].(string)
	routes := append(faultRoutes[:len(faultRoutes):len(faultRoutes)], "/v1/readings/latest?source="+src,
		"/v1/sources/"+src+"/readings?metric=power_import&from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z")

	pr := newProbe(srv.base, key)
	probing := make(chan struct{})
	var probes sync.WaitGroup
	probes.Add(1)
	go func() {
		defer probes.Done()
		for {
			for _, r := range routes {
				select {
				case <-probing:
					return
				default:
				}
				pr.get(r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	cluster.crash()
	stoppedAt := time.Now()
	time.Sleep(outage)
	during503s := load.unavailableAnswers()
	cluster.start()
	backAt := time.Now()

	// Recovered: ready, a read answered, and a batch acknowledged since.
	check := newProbe(srv.base, key)
	recovered := waitFor(20*time.Second, func() bool {
		return load.ackedSince(backAt) && check.get("/readyz") == http.StatusOK && check.get("/v1/sources") == http.StatusOK
	})
	recovery := time.Since(backAt)
	if !recovered {
		t.Fatalf("not recovered %s after PostgreSQL was back; log:\n%s", recovery.Round(time.Millisecond), srv.logs)
	}
	time.Sleep(500 * time.Millisecond) // some load after the recovery
	close(probing)
	probes.Wait()
	load.finish()

	lost := checkStored(t, cluster.url, load)
	t.Logf("PostgreSQL stopped (immediate) for %s under %d ingest clients: %d requests answered 503 (%d ingest, %d probes), "+
		"%d acknowledged rows stored, %d lost; recovered %.2f s after PostgreSQL was back; slowest ingest answer %s",
		backAt.Sub(stoppedAt).Round(time.Millisecond), clients, load.unavailableAnswers()+pr.n503, load.unavailableAnswers(), pr.n503,
		len(load.acked), lost, recovery.Seconds(), load.maxWait.Round(time.Millisecond))
	t.Logf("ingest answers other than 200: %v; probe answers: %v", load.answers, pr.answers)
	if during503s == 0 || pr.n503 == 0 {
		t.Errorf("no 503 during the outage (ingest %d, probes %d): the outage was not seen", during503s, pr.n503)
	}
	if len(load.bad)+len(pr.bad) > 0 {
		t.Errorf("answers other than 200 or 503 UNAVAILABLE with Retry-After:\n%s\nlog:\n%s",
			strings.Join(append(load.bad, pr.bad...), "\n"), srv.logs)
	}
	if lost > 0 {
		t.Errorf("%d acknowledged rows lost", lost)
	}
}

// TestFaultWriterBackendsTerminated kills the ingest writers' database
// backends (pg_terminate_backend) again and again under load, mid-batch
// among others: the writers retry on fresh connections, nothing
// acknowledged is lost, nothing is stored twice, no answer is a 500.
func TestFaultWriterBackendsTerminated(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	srv, key := faultServer(t, dbURL)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())

	load := startLoad(srv.base, key, "terminate", 8, 200)
	defer load.finish()
	if !waitFor(10*time.Second, func() bool { return load.ackedReqs.Load() >= 3 }) {
		t.Fatalf("no load acknowledged; log:\n%s", srv.logs)
	}
	// The writers' backends carry the application name of their class.
	var terminated, midBatch int
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var all, busy int
		err := admin.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state <> 'idle')
			FROM (SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity
			      WHERE datname = current_database() AND application_name = 'gridmetrics/writer') k`).Scan(&all, &busy)
		if err != nil {
			t.Fatal(err)
		}
		terminated, midBatch = terminated+all, midBatch+busy
	}
	ackedBefore := load.ackedReqs.Load()
	if !waitFor(10*time.Second, func() bool { return load.ackedReqs.Load() > ackedBefore+3 }) {
		t.Fatalf("ingest did not recover after the terminations; log:\n%s", srv.logs)
	}
	load.finish()

	lost := checkStored(t, dbURL, load)
	t.Logf("terminated %d writer backends (%d of them busy, mid-batch): %d ingest requests answered 503, %d acknowledged rows stored, %d lost; answers other than 200: %v",
		terminated, midBatch, load.unavailableAnswers(), len(load.acked), lost, load.answers)
	if midBatch == 0 {
		t.Errorf("no writer backend was terminated mid-batch (%d idle ones were): the test proves little", terminated)
	}
	load.checkAnswersAndLoss(t, lost, srv.logs)
}

// TestFaultSlowReadsDoNotStarveIngest holds a lock that every tariff read
// waits for, and sends more such reads than the read pool has connections:
// the reads end in 503 (acquire timeout, statement_timeout), never 500,
// while ingest keeps committing and authentication keeps answering, on
// pools of their own. Once the lock goes, reads succeed again.
func TestFaultSlowReadsDoNotStarveIngest(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	const readConns = 3
	srv, key := faultServer(t, dbURL, "--db-read-conns", strconv.Itoa(readConns),
		"--db-read-acquire-timeout", "300ms", "--db-read-statement-timeout", "2s")

	release := lockTable(t, dbURL, "tariffs", "ACCESS EXCLUSIVE")

	// Readers: four times the read pool, each reading tariffs in a loop.
	pr := newProbe(srv.base, key)
	stopReads := make(chan struct{})
	var readers sync.WaitGroup
	var slowest atomic.Int64
	for range 4 * readConns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stopReads:
					return
				default:
				}
				began := time.Now()
				pr.get("/v1/tariffs")
				if d := int64(time.Since(began)); d > slowest.Load() {
					slowest.Store(d)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // let the readers take the pool

	load := startLoad(srv.base, key, "starve", 4, 100)
	defer load.finish()
	// Authentication answers too: a key whose secret is wrong is looked up
	// (the cache is off) and refused at once.
	wrong := []byte(key)
	wrong[len(wrong)-1] ^= 1
	stranger := newProbe(srv.base, string(wrong))
	var unauthorized, strangers int
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		strangers++
		if stranger.get("/v1/sources") == http.StatusUnauthorized {
			unauthorized++
		}
	}
	load.finish()
	// Release the lock before waiting for the readers: a reader stuck on it
	// for good (a read pool without statement_timeout) ends with it.
	if err := release(); err != nil {
		t.Fatal(err)
	}
	close(stopReads)
	readers.Wait()
	after := newProbe(srv.base, key)
	if !waitFor(5*time.Second, func() bool { return after.get("/v1/tariffs") == http.StatusOK }) {
		t.Errorf("tariff reads did not recover after the lock was released: %v", after.answers)
	}

	lost := checkStored(t, dbURL, load)
	t.Logf("%d tariff reads against a held lock with a read pool of %d: answers %v (slowest %s); meanwhile ingest: %d batches acknowledged, answers other than 200 %v, slowest %s, %d rows lost; %d of %d wrong keys answered 401",
		4*readConns, readConns, pr.answers, time.Duration(slowest.Load()).Round(time.Millisecond),
		load.ackedReqs.Load(), load.answers, load.maxWait.Round(time.Millisecond), lost, unauthorized, strangers)
	if pr.n503 == 0 {
		t.Errorf("no read was answered 503: the read pool was not exhausted")
	}
	if len(pr.bad) > 0 {
		t.Errorf("reads answered other than 200 or 503 UNAVAILABLE with Retry-After:\n%s", strings.Join(pr.bad, "\n"))
	}
	if n := load.unavailableAnswers(); n > 0 || len(load.bad) > 0 || load.ackedReqs.Load() < 10 {
		t.Errorf("ingest was held up by the reads: %d batches acknowledged, answers other than 200: %v %v", load.ackedReqs.Load(), load.answers, load.bad)
	}
	if load.maxWait > 5*time.Second { // starved, it waits for the client's timeout (15s)
		t.Errorf("an ingest request took %s while reads were stuck", load.maxWait)
	}
	if unauthorized != strangers {
		t.Errorf("authentication did not answer while reads were stuck: %v", stranger.answers)
	}
	if lost > 0 {
		t.Errorf("%d acknowledged rows lost", lost)
	}
}

// lockTable locks table in mode from a connection of its own, as a slow or
// stuck transaction would, and returns what releases the lock.
func lockTable(t *testing.T, dbURL, table, mode string) (release func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN "+mode+" MODE"); err != nil {
		t.Fatal(err)
	}
	return func() error { return tx.Rollback(context.Background()) }
}
