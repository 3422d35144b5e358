// Command ocpp benchmarks the OCPP-J endpoint: how many charge-point
// WebSocket connections one server holds, what a MeterValues costs over
// them, and what the same readings cost as single-reading HTTP requests,
// measured in the same run.
//
// It builds ./cmd/gridmetrics, creates a fresh database on the server
// (scripts/pg.sh test unless --database-url is given), serves it with the
// built binary, and creates through the service's own paths a tenant (CLI),
// N chargers (POST /v1/sources) and their OCPP passwords (ocppj.Store, one
// hash shared by every box). Then:
//
//	connect  N charge points open ocpp1.6 connections with HTTP Basic
//	ocpp-j   each sends a MeterValues CALL every -interval (start jittered
//	         over one interval, which is the warm-up that registers the
//	         connectors), waiting for its CALLRESULT; measured for -duration
//	http     the connections closed, the same number of readings at the
//	         same rate as single-reading POST /v1/readings requests
//
// The fair comparison is the server's CPU time (user + system, from
// /proc/<pid>/stat) per message in each phase at the same message rate:
// both carry one energy reading to the same pipeline, so the difference is
// the transport (a frame on an open connection against an HTTP request
// with its API-key check). Memory per connection is the server's VmRSS
// with all connections open, minus its VmRSS before they opened, over N.
//
// The last line of output holds the figures as key=value pairs. Run it
// with make bench-ocpp, or go run ./bench/ocpp -h.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
)

// config is the command line.
type config struct {
	databaseURL string
	conns       int
	interval    time.Duration
	duration    time.Duration
	iterations  int
	dialers     int
	httpClients int
	serverArgs  string
	keep        bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	flag.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL server to create the benchmark database on (default: the test cluster of scripts/pg.sh test)")
	flag.IntVar(&cfg.conns, "conns", 10_000, "charge-point connections (a quick run: -conns 500)")
	flag.DurationVar(&cfg.interval, "interval", 10*time.Second, "MeterValues interval of each charge point")
	flag.DurationVar(&cfg.duration, "duration", 60*time.Second, "measured steady state of each phase")
	flag.IntVar(&cfg.iterations, "hash-iterations", 1000, "PBKDF2 iterations of the stored password hash (the service uses 100000; lower, so that opening the connections does not take minutes: the handshake is not what is measured)")
	flag.IntVar(&cfg.dialers, "dialers", 16, "connections opened at once")
	flag.IntVar(&cfg.httpClients, "http-clients", 64, "concurrent HTTP clients of the HTTP phase")
	flag.StringVar(&cfg.serverArgs, "server-args", "", "extra flags for gridmetrics serve, space-separated")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the benchmark database")
	flag.Parse()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ocpp:", err)
		os.Exit(1)
	}
}

func (c config) validate() error {
	if c.conns < 1 || c.interval <= 0 || c.duration <= 0 || c.iterations < 1 || c.dialers < 1 || c.httpClients < 1 {
		return errors.New("-conns, -interval, -duration, -hash-iterations, -dialers and -http-clients must be positive")
	}
	return nil
}

func run(ctx context.Context, cfg config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := raiseFileLimit(cfg.conns); err != nil {
		return err
	}
	setup, cleanup, err := benchutil.Prepare(ctx, "ocpp", cfg.databaseURL, "")
	defer cleanup()
	if err != nil {
		return err
	}
	dbURL, drop, err := benchutil.FreshDatabase(ctx, setup.DatabaseURL, "ocpp", cfg.keep)
	defer drop()
	if err != nil {
		return err
	}
	tenant, key, err := benchutil.Tenant(ctx, setup.Binary, dbURL, "admin,ingest")
	if err != nil {
		return err
	}

	// Every connection is a client connection of the server, besides the
	// HTTP clients of the last phase.
	serverArgs := []string{"--max-conns", fmt.Sprint(cfg.conns + cfg.httpClients + 100)}
	serverArgs = append(serverArgs, strings.Fields(cfg.serverArgs)...)
	srv, err := benchutil.StartServer(ctx, setup.Binary, dbURL, setup.Dir, false, serverArgs)
	if err != nil {
		return err
	}
	defer srv.Stop()
	pid := srv.Cmd.Process.Pid
	fmt.Printf("server: gridmetrics serve %s (pid %d)\n", strings.Join(serverArgs, " "), pid)

	began := time.Now()
	boxes, err := createChargers(ctx, srv.Base, key, dbURL, tenant, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("setup: %d chargers and their passwords in %.1f s\n", len(boxes), time.Since(began).Seconds())

	idleRSS, err := residentMemory(pid)
	if err != nil {
		return err
	}
	wsBase := "ws" + strings.TrimPrefix(srv.Base, "http") + "/ocpp/" + tenant + "/"
	fleet, connectTime, err := connect(ctx, wsBase, boxes, cfg.dialers)
	held := len(fleet.conns)
	fmt.Printf("connect: %d of %d connections open in %.1f s\n", held, len(boxes), connectTime.Seconds())
	if err != nil {
		fleet.close()
		if held == 0 {
			return err
		}
		fmt.Printf("connect: stopped at the first failure: %v\n", err)
	}

	ws, err := fleet.meterValues(ctx, cfg.interval, cfg.duration, pid)
	if err != nil {
		fleet.close()
		return err
	}
	heldRSS := ws.rss
	fleet.close()
	fmt.Printf("ocpp-j:  %s\n", ws)

	rate := float64(ws.messages) / ws.elapsed.Seconds()
	httpRes, err := postReadings(ctx, srv.Base, key, boxes[:held], rate, cfg.duration, cfg.httpClients, pid)
	if err != nil {
		return err
	}
	fmt.Printf("http:    %s\n", httpRes)

	perConn := float64(heldRSS-idleRSS) / float64(max(held, 1))
	fmt.Printf("server VmRSS: %.0f MiB idle, %.0f MiB with %d connections: %.1f KiB per connection\n",
		float64(idleRSS)/(1<<20), float64(heldRSS)/(1<<20), held, perConn/1024)
	fmt.Printf("conns=%d msgs_s=%.0f p50_ms=%.1f p99_ms=%.1f rss_per_conn_kb=%.1f ws_cpu_us_per_msg=%.0f http_cpu_us_per_msg=%.0f http_ws_cpu_ratio=%.2f http_p50_ms=%.1f http_p99_ms=%.1f ws_errors=%d http_errors=%d connect_s=%.1f\n",
		held, rate, benchutil.Ms(ws.p(0.5)), benchutil.Ms(ws.p(0.99)), perConn/1024, ws.cpuPerMessage(), httpRes.cpuPerMessage(),
		httpRes.cpuPerMessage()/ws.cpuPerMessage(), benchutil.Ms(httpRes.p(0.5)), benchutil.Ms(httpRes.p(0.99)), ws.errors, httpRes.errors, connectTime.Seconds())
	return nil
}

// phase is what one measured phase did.
type phase struct {
	name      string
	messages  int // acknowledged
	errors    int
	elapsed   time.Duration
	cpu       time.Duration // the server's
	latencies []time.Duration
	rss       int64 // the server's VmRSS at the end
}

func (p *phase) p(q float64) time.Duration { return benchutil.Percentile(p.latencies, q) }

func (p *phase) cpuPerMessage() float64 {
	return float64(p.cpu.Microseconds()) / float64(max(p.messages, 1))
}

func (p *phase) String() string {
	return fmt.Sprintf("%d messages in %.1f s (%.0f/s), %d errors; CALL→answer p50 %.1f ms, p99 %.1f ms; server CPU %.1f s, %.0f µs per message",
		p.messages, p.elapsed.Seconds(), float64(p.messages)/p.elapsed.Seconds(), p.errors,
		benchutil.Ms(p.p(0.5)), benchutil.Ms(p.p(0.99)), p.cpu.Seconds(), p.cpuPerMessage())
}

// measure runs timed between two readings of the server's CPU time.
func measure(pid int, timed func() error) (time.Duration, error) {
	before, _, err := benchutil.CPUTime(pid)
	if err != nil {
		return 0, err
	}
	if err := timed(); err != nil {
		return 0, err
	}
	after, _, err := benchutil.CPUTime(pid)
	return after - before, err
}

// residentMemory is a process's current resident memory (VmRSS), in bytes.
func residentMemory(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// raiseFileLimit raises this process's open-file limit to its hard limit;
// the server, started afterwards, inherits it. Each connection is a file
// on both sides.
func raiseFileLimit(conns int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if need := uint64(conns) + 1000; lim.Cur < need {
		return fmt.Errorf("the open-file limit is %d; %d connections need about %d (ulimit -n)", lim.Cur, conns, need)
	}
	return nil
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// sortLatencies merges per-client latencies, sorted.
func sortLatencies(parts [][]time.Duration) []time.Duration {
	all := slices.Concat(parts...)
	slices.Sort(all)
	return all
}

// callResult checks an OCPP-J answer to the CALL id: a CALLRESULT.
func callResult(frame []byte, id string) error {
	var msg []json.RawMessage
	if err := json.Unmarshal(frame, &msg); err != nil || len(msg) < 3 {
		return fmt.Errorf("not an OCPP-J frame: %.200s", frame)
	}
	var typ int
	var got string
	_ = json.Unmarshal(msg[0], &typ)
	_ = json.Unmarshal(msg[1], &got)
	if typ != 3 || got != id {
		return fmt.Errorf("answer to %s is not its CALLRESULT: %.300s", id, frame)
	}
	return nil
}
