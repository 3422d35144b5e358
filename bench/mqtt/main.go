// Command mqtt benchmarks ingest over MQTT: rows per second from the first
// publish until every row is committed, through a real broker, against
// HTTP ingest of the same rows in the same run, and the publish→commit
// latency.
//
// It builds ./cmd/gridmetrics, creates a fresh database on the server
// (scripts/pg.sh test unless --database-url is given), starts a private
// mosquitto on a free loopback port (a service user that reads
// gridmetrics/#, a device user that writes under the tenant only), serves
// the database with the built binary subscribed to the broker, and creates
// a tenant (CLI) that registers sources on first sight. A warm-up
// registers the S meters and takes each path once. The rows are
// power_import readings of the meters, one a second each, round-robin
// over them: R rows for the one-row phases, R_B for the batched ones
// (which go too fast to time R). Every phase writes its rows into emptied
// tables, so each pair below writes the same rows:
//
//	http-row       POST /v1/readings, one row per request, C clients
//	mqtt-value     one row per message, preset value ({"value":…,"time":…}
//	               on gridmetrics/{tenant}/value/{meter}/power_import/W)
//	http-batch     POST /v1/readings, B rows per request, C clients
//	mqtt-readings  B rows per message, preset readings (the same bodies as
//	               http-batch, on gridmetrics/{tenant}/readings/gw-N)
//
// What is fair: the value preset is what a meter publishes (one reading a
// message), so it is compared with one-row requests; the readings preset is
// what a gateway publishes, compared with requests of the same bodies. The
// server takes up to --mqtt-inflight (I) messages at once from the broker,
// so the HTTP phases have I clients: the same number of submissions in the
// server at once, feeding the same group commit. MQTT is driven by P
// publishers (own client ids, QoS 1) with W publishes in flight each, which
// is enough to keep the broker's queue for the service full: the publish
// rate is not what is measured. Bodies and payloads are encoded before the
// clock starts. HTTP rates count from the first send to the last
// acknowledgement; MQTT rates from the first publish until the server's
// /metrics (gridmetrics_mqtt_messages_total{outcome="stored"}, counted
// after the commit; polled densely only near the end, within 5 ms) says
// every message is stored.
// Each phase ends by counting the rows in the database.
//
// Latency publish→commit needs the publisher's clock and the commit's, so
// it is measured from outside: a probe registers the time a message's
// publish starts, and a poller queries the database for the probed rows in
// a loop; a row counts as committed at the start of the first query that
// returns it (late by at most the interval plus one query: the resolution,
// printed). Saturated phases only show queueing (the publishers outrun
// the service and the broker queues the rest), so the latency figures
// come from two paced phases after the others: L rows a second for D
// seconds, once as value messages and once as one-row requests, the
// latency counted from when each was due. L defaults to half the
// mqtt-value rate just measured. The probe watches about N messages of
// every phase; the server's gridmetrics_mqtt_commit_seconds covers
// receive→commit only, without the broker hop.
//
// The last line of output holds the figures as key=value pairs. Run it
// with make bench-mqtt, or go run ./bench/mqtt -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/mqtt"
	"github.com/gridmetrics/gridmetrics/mqtt/mqtttest"
)

// config is the command line.
type config struct {
	databaseURL   string
	rows          int
	batchRows     int
	sources       int
	batch         int
	inflight      int
	publishers    int
	window        int
	probes        int
	probeInterval time.Duration
	latencyRate   float64
	latencyFor    time.Duration
	runs          int
	serverArgs    string
	profileDir    string
	keep          bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	flag.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL server to create the benchmark database on (default: the test cluster of scripts/pg.sh test)")
	flag.IntVar(&cfg.rows, "rows", 20_000, "rows http-row, mqtt-value and the paced phases write (R)")
	flag.IntVar(&cfg.batchRows, "batch-rows", 200_000, "rows http-batch and mqtt-readings write (R_B): batches go fast, and need more rows to time")
	flag.IntVar(&cfg.sources, "sources", 200, "meters the rows belong to (S)")
	flag.IntVar(&cfg.batch, "batch", 100, "rows per request of http-batch and per message of mqtt-readings (B)")
	flag.IntVar(&cfg.inflight, "inflight", mqtt.DefaultInflight, "the server's --mqtt-inflight, and the HTTP clients (I)")
	flag.IntVar(&cfg.publishers, "publishers", 8, "MQTT publisher connections (P)")
	flag.IntVar(&cfg.window, "window", 16, "publishes in flight on each publisher connection (W)")
	flag.IntVar(&cfg.probes, "probes", 1000, "messages per phase the latency probe watches (N)")
	flag.DurationVar(&cfg.probeInterval, "probe-interval", 2*time.Millisecond, "pause between the latency probe's queries")
	flag.Float64Var(&cfg.latencyRate, "latency-rate", 0, "rows per second of the paced latency phases (L; 0: half the mqtt-value rate)")
	flag.DurationVar(&cfg.latencyFor, "latency-duration", 8*time.Second, "length of each paced latency phase (D)")
	flag.IntVar(&cfg.runs, "runs", 1, "repetitions of the four throughput phases; rates are medians, ratios medians of each run's ratio")
	flag.StringVar(&cfg.serverArgs, "server-args", "", "extra flags for gridmetrics serve, space-separated (e.g. \"--ingest-writers 4\")")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "write a CPU profile of the server during each phase to this folder")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the benchmark database")
	flag.Parse()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-mqtt:", err)
		os.Exit(1)
	}
}

func (c config) validate() error {
	switch {
	case c.rows < 1 || c.batchRows < 1 || c.sources < 1 || c.batch < 1 || c.publishers < 1 || c.window < 1 || c.probes < 1 || c.runs < 1:
		return errors.New("-rows, -sources, -batch, -publishers, -window, -probes and -runs must be positive")
	case c.inflight < 1 || c.inflight > 65535:
		return errors.New("-inflight must be from 1 to 65535")
	case c.probeInterval <= 0 || c.latencyFor <= 0 || c.latencyRate < 0:
		return errors.New("-probe-interval and -latency-duration must be positive, -latency-rate not negative")
	}
	return nil
}

// Broker accounts: the service reads every tenant's topics; the devices
// write under their tenant only.
const (
	serviceUser, servicePass = "gridmetrics", "bench-service-secret"
	deviceUser, devicePass   = "bench-devices", "bench-device-secret"
)

// bench is what the phases share.
type bench struct {
	cfg     config
	srv     *benchutil.Server
	broker  *mqtttest.Broker
	pool    *pgxpool.Pool
	data    *dataset // of the one-row phases
	batches *dataset // of the batched phases
	probe   *prober
	poster  *poster
	pubs    *publishers
	prefix  string // gridmetrics/{tenant}/
	profile string
}

func run(ctx context.Context, cfg config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	setup, cleanup, err := benchutil.Prepare(ctx, "mqtt", cfg.databaseURL, cfg.profileDir)
	defer cleanup()
	if err != nil {
		return err
	}
	dbURL, drop, err := benchutil.FreshDatabase(ctx, setup.DatabaseURL, "mqtt", cfg.keep)
	defer drop()
	if err != nil {
		return err
	}
	tenant, key, err := benchutil.Tenant(ctx, setup.Binary, dbURL, "ingest,read")
	if err != nil {
		return err
	}

	brokerDir := filepath.Join(setup.Dir, "broker")
	if err := os.Mkdir(brokerDir, 0o700); err != nil {
		return err
	}
	broker, err := mqtttest.Launch(brokerDir, mqtttest.Options{Users: []mqtttest.User{
		{Name: serviceUser, Password: servicePass, Read: []string{"gridmetrics/#"}},
		{Name: deviceUser, Password: devicePass, Write: []string{"gridmetrics/" + tenant + "/#"}},
	}})
	if err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	defer func() {
		if err := broker.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-mqtt:", err)
		}
	}()

	serverArgs := []string{"--mqtt-url", broker.URL(), "--mqtt-username", serviceUser, "--mqtt-password", servicePass,
		"--mqtt-client-id", "gridmetrics-bench", "--mqtt-inflight", fmt.Sprint(cfg.inflight)}
	serverArgs = append(serverArgs, strings.Fields(cfg.serverArgs)...)
	srv, err := benchutil.StartServer(ctx, setup.Binary, dbURL, setup.Dir, cfg.profileDir != "", serverArgs)
	if err != nil {
		return err
	}
	defer srv.Stop()
	if err := waitSubscribed(ctx, srv.Base); err != nil {
		return fmt.Errorf("%w; server log:\n%s", err, srv.LogTail())
	}
	fmt.Printf("server: gridmetrics serve %s (pid %d); mosquitto %s (pid %d)\n",
		strings.Join(serverArgs[6:], " "), srv.Cmd.Process.Pid, broker.URL(), broker.PID())

	pool, err := benchutil.OpenPool(ctx, dbURL, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	brokerURL, _ := url.Parse(broker.URL())
	pubs, err := connectPublishers(ctx, brokerURL.Host, deviceUser, devicePass, cfg.publishers)
	if err != nil {
		return err
	}
	defer pubs.close()
	b := &bench{cfg: cfg, srv: srv, broker: broker, pool: pool,
		data: newDataset(cfg.rows, cfg.sources, time.Now()), batches: newDataset(cfg.batchRows, cfg.sources, time.Now()),
		poster: newPoster(srv.Base, key, cfg.inflight), pubs: pubs, prefix: "gridmetrics/" + tenant + "/", profile: cfg.profileDir}
	defer b.poster.close()
	if err := b.warmUp(ctx, tenant); err != nil {
		return err
	}
	return b.measureAll(ctx)
}

// waitSubscribed waits until /readyz shows the broker subscription up.
func waitSubscribed(ctx context.Context, base string) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if res, err := hc.Get(base + "/readyz"); err == nil {
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			last = string(raw)
			if strings.Contains(last, `"mqtt":{"status":"connected"`) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the server did not subscribe to the broker within 30 s; /readyz: %.500s", last)
}

// warmUp registers the meters (one row each, before the dataset's times,
// over HTTP), sends one message of each preset, and looks up what the
// probe needs: the meters' source ids and the metric's id.
func (b *bench) warmUp(ctx context.Context, tenant string) error {
	d := b.data
	first := &dataset{sources: d.sources, base: d.base.Add(-time.Hour), rows: len(d.sources)}
	for _, m := range first.readingsBodies(len(d.sources), nil) {
		if err := b.poster.send(ctx, 0, m); err != nil {
			return fmt.Errorf("warm-up: register the meters: %w", err)
		}
	}
	before, err := mqttCounts(ctx, http.DefaultClient, b.srv.Base)
	if err != nil {
		return err
	}
	warm := []message{first.valueMessages(b.prefix)[0]}
	warm = append(warm, first.readingsBodies(len(d.sources), func(int) string { return b.prefix + "readings/gw-warm-up" })...)
	for _, m := range warm {
		if err := b.pubs.send(ctx, 0, m); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	if _, _, err := waitStored(ctx, b.srv.Base, before, len(warm), 30*time.Second); err != nil {
		return fmt.Errorf("warm-up: %w; server log:\n%s", err, b.srv.LogTail())
	}
	ids := make([]int64, len(d.sources))
	rows, err := b.pool.Query(ctx, `SELECT s.external_id, s.id FROM sources s JOIN tenants t ON t.id = s.tenant_id
		WHERE t.public_id = $1 AND s.external_id = ANY($2)`, tenant, d.sources)
	if err != nil {
		return fmt.Errorf("look up the meters: %w", err)
	}
	index := map[string]int{}
	for i, s := range d.sources {
		index[s] = i
	}
	found := 0
	for rows.Next() {
		var ext string
		var id int64
		if err := rows.Scan(&ext, &id); err != nil {
			rows.Close()
			return err
		}
		ids[index[ext]] = id
		found++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if found != len(d.sources) {
		return fmt.Errorf("warm-up registered %d of %d meters", found, len(d.sources))
	}
	var metricID int16
	if err := b.pool.QueryRow(ctx, "SELECT id FROM metrics WHERE name = $1", metric).Scan(&metricID); err != nil {
		return fmt.Errorf("metric %s: %w", metric, err)
	}
	b.probe = newProber(b.pool, ids, metricID, b.cfg.probeInterval)
	return nil
}

// phase is one phase's plan.
type phase struct {
	name string
	mqtt bool
	data *dataset
	msgs []message
	rate float64 // messages per second; 0: as fast as the service takes them
}

// result is what one phase measured.
type result struct {
	phase
	rows       int
	elapsed    time.Duration
	acks       []time.Duration // per message: due (or sent) → answered (HTTP) or PUBACK (MQTT)
	commits    []time.Duration // probed messages: due (or sent) → committed
	resolution time.Duration
	serverCPU  time.Duration
	brokerCPU  time.Duration
	peak       int           // most MQTT messages in flight in the server seen
	retries    int           // 503 answers (HTTP), waits before writing again (MQTT)
	machineCPU time.Duration // every process's, this one's and PostgreSQL's included
	busy       float64       // the machine's busy share during the phase, 0…1
}

func (r *result) rowsPerSecond() float64 { return float64(r.rows) / r.elapsed.Seconds() }

func (r *result) String() string {
	s := fmt.Sprintf("%-14s %7d rows in %6.2f s: %7.0f rows/s; server CPU %5.1f µs/row", r.name, r.rows, r.elapsed.Seconds(),
		r.rowsPerSecond(), float64(r.serverCPU.Microseconds())/float64(r.rows))
	if r.mqtt {
		s += fmt.Sprintf(", broker %4.1f µs/row; peak in flight %d; %d retries", float64(r.brokerCPU.Microseconds())/float64(r.rows), r.peak, r.retries)
	} else {
		s += fmt.Sprintf("; ack p50 %.1f ms, p99 %.1f ms; %d × 503", benchutil.Ms(benchutil.Percentile(r.acks, 0.5)),
			benchutil.Ms(benchutil.Percentile(r.acks, 0.99)), r.retries)
	}
	return s + fmt.Sprintf("; →commit p50 %.1f ms, p99 %.1f ms (%d probes, ±%.1f ms); machine %.0f%% busy, %.0f µs/row",
		benchutil.Ms(benchutil.Percentile(r.commits, 0.5)), benchutil.Ms(benchutil.Percentile(r.commits, 0.99)), len(r.commits), benchutil.Ms(r.resolution),
		100*r.busy, float64(r.machineCPU.Microseconds())/float64(r.rows))
}

func (b *bench) measureAll(ctx context.Context) error {
	cfg, d, bd := b.cfg, b.data, b.batches
	gateway := func(i int) string { return fmt.Sprintf("%sreadings/gw-%d", b.prefix, i%cfg.publishers) }
	plan := []phase{
		{name: "http-row", data: d, msgs: markProbes(d.readingsBodies(1, nil), cfg.probes)},
		{name: "mqtt-value", mqtt: true, data: d, msgs: markProbes(d.valueMessages(b.prefix), cfg.probes)},
		{name: "http-batch", data: bd, msgs: markProbes(bd.readingsBodies(cfg.batch, nil), cfg.probes)},
		{name: "mqtt-readings", mqtt: true, data: bd, msgs: markProbes(bd.readingsBodies(cfg.batch, gateway), cfg.probes)},
	}
	fmt.Printf("rows: %d one-row messages, %d rows in batches of %d, of %d meters (%s); HTTP clients and --mqtt-inflight %d; %d publishers × %d in flight\n",
		d.rows, bd.rows, cfg.batch, len(d.sources), metric, cfg.inflight, cfg.publishers, cfg.window)
	rates := map[string][]float64{}
	var valueRatios, readingsRatios []float64
	for run := 1; run <= cfg.runs; run++ {
		got := map[string]*result{}
		for _, p := range plan {
			r, err := b.measure(ctx, p, fmt.Sprintf("%s-%d", p.name, run))
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			fmt.Printf("run %d: %s\n", run, r)
			got[p.name] = r
			rates[p.name] = append(rates[p.name], r.rowsPerSecond())
		}
		valueRatios = append(valueRatios, got["mqtt-value"].rowsPerSecond()/got["http-row"].rowsPerSecond())
		readingsRatios = append(readingsRatios, got["mqtt-readings"].rowsPerSecond()/got["http-batch"].rowsPerSecond())
	}

	// Latency at a load the service keeps up with.
	rate := cfg.latencyRate
	if rate == 0 {
		rate = benchutil.Median(rates["mqtt-value"]) / 2
	}
	n := max(1, min(d.rows, int(rate*cfg.latencyFor.Seconds())))
	paced := []phase{
		{name: "mqtt-paced", mqtt: true, data: d, msgs: markProbes(d.valueMessages(b.prefix)[:n], cfg.probes), rate: rate},
		{name: "http-paced", data: d, msgs: markProbes(d.readingsBodies(1, nil)[:n], cfg.probes), rate: rate},
	}
	lat := map[string]*result{}
	for _, p := range paced {
		r, err := b.measure(ctx, p, p.name)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Printf("paced at %.0f rows/s: %s\n", rate, r)
		lat[p.name] = r
	}
	m, h := lat["mqtt-paced"], lat["http-paced"]
	fmt.Printf("http_row_rows_s=%.0f mqtt_value_rows_s=%.0f http_batch_rows_s=%.0f mqtt_readings_rows_s=%.0f mqtt_value_ratio=%.2f mqtt_readings_ratio=%.2f p50_publish_commit_ms=%.1f p99_publish_commit_ms=%.1f http_p50_commit_ms=%.1f http_p99_commit_ms=%.1f paced_rows_s=%.0f probe_resolution_ms=%.1f rows=%d batch_rows=%d batch=%d inflight=%d\n",
		benchutil.Median(rates["http-row"]), benchutil.Median(rates["mqtt-value"]), benchutil.Median(rates["http-batch"]), benchutil.Median(rates["mqtt-readings"]),
		benchutil.Median(valueRatios), benchutil.Median(readingsRatios),
		benchutil.Ms(benchutil.Percentile(m.commits, 0.5)), benchutil.Ms(benchutil.Percentile(m.commits, 0.99)),
		benchutil.Ms(benchutil.Percentile(h.commits, 0.5)), benchutil.Ms(benchutil.Percentile(h.commits, 0.99)),
		rate, benchutil.Ms(max(m.resolution, h.resolution)), d.rows, bd.rows, cfg.batch, cfg.inflight)
	return nil
}

// measure runs one phase on emptied tables and checks that every row
// arrived.
func (b *bench) measure(ctx context.Context, p phase, label string) (*result, error) {
	if _, err := b.pool.Exec(ctx, "TRUNCATE readings, latest_readings, rollup_invalidations"); err != nil {
		return nil, fmt.Errorf("empty the tables: %w", err)
	}
	_, _ = b.pool.Exec(ctx, "CHECKPOINT") // superusers only; it keeps a checkpoint out of the phase
	r := &result{phase: p}
	for _, m := range p.msgs {
		r.rows += m.n
	}
	before, err := mqttCounts(ctx, http.DefaultClient, b.srv.Base)
	if err != nil {
		return nil, err
	}
	if b.profile != "" {
		if err := b.srv.StartCPUProfile(); err != nil {
			return nil, err
		}
	}
	b.probe.reset()
	probeCtx, stopProbe := context.WithTimeout(ctx, 5*time.Minute)
	defer stopProbe()
	sent, probed := make(chan struct{}), make(chan error, 1)
	go func() { probed <- b.probe.run(probeCtx, sent) }()
	sending := func(m message, at time.Time) {
		if k, ok := p.data.probeRow(m); ok {
			b.probe.sending(k, at)
		}
	}
	serverPid, brokerPid := b.srv.Cmd.Process.Pid, b.broker.PID()
	serverBefore, _, _ := benchutil.CPUTime(serverPid)
	brokerBefore, _, _ := benchutil.CPUTime(brokerPid)
	machineBefore := benchutil.MachineCPU()

	start := time.Now()
	var end time.Time
	if p.mqtt {
		type stored struct {
			at   time.Time
			peak int
			err  error
		}
		done := make(chan stored, 1)
		go func() {
			at, peak, err := waitStored(ctx, b.srv.Base, before, len(p.msgs), 5*time.Minute)
			done <- stored{at, peak, err}
		}()
		r.acks, err = drive(ctx, p.msgs, b.cfg.publishers*b.cfg.window, p.rate, b.pubs.send, sending)
		if err != nil {
			return nil, err
		}
		s := <-done
		if s.err != nil {
			return nil, fmt.Errorf("%w; server log:\n%s", s.err, b.srv.LogTail())
		}
		end, r.peak = s.at, s.peak
	} else {
		retries := b.poster.retries.Load()
		r.acks, err = drive(ctx, p.msgs, b.cfg.inflight, p.rate, b.poster.send, sending)
		if err != nil {
			return nil, err
		}
		end = time.Now()
		r.retries = int(b.poster.retries.Load() - retries)
	}
	r.elapsed = end.Sub(start)
	close(sent)
	if err := <-probed; err != nil {
		return nil, fmt.Errorf("latency probe: %w", err)
	}
	serverAfter, _, _ := benchutil.CPUTime(serverPid)
	brokerAfter, _, _ := benchutil.CPUTime(brokerPid)
	r.serverCPU, r.brokerCPU = serverAfter-serverBefore, brokerAfter-brokerBefore
	r.machineCPU = benchutil.MachineCPU() - machineBefore
	r.busy = r.machineCPU.Seconds() / (time.Since(start).Seconds() * float64(runtime.NumCPU()))
	if p.mqtt {
		after, err := mqttCounts(ctx, http.DefaultClient, b.srv.Base)
		if err != nil {
			return nil, err
		}
		r.retries = after.retries - before.retries
	}
	if b.profile != "" {
		if err := b.srv.StopCPUProfile(filepath.Join(b.profile, label+".cpu.pprof")); err != nil {
			return nil, err
		}
	}
	r.commits, r.resolution = b.probe.result()
	var stored int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM readings").Scan(&stored); err != nil {
		return nil, err
	}
	if stored != r.rows {
		return nil, fmt.Errorf("%d rows in the database after the phase, want %d", stored, r.rows)
	}
	if want := countProbes(p.msgs); len(r.commits) != want {
		return nil, fmt.Errorf("the probe saw %d of %d probed rows", len(r.commits), want)
	}
	return r, nil
}

func countProbes(msgs []message) int {
	return len(slices.DeleteFunc(slices.Clone(msgs), func(m message) bool { return !m.probe }))
}
