//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// serveArgsEnv makes the test binary act as the server: TestMain runs
// `gridmetrics <args>` instead of the tests, the arguments a JSON array
// (a cron schedule such as "@every 1s" holds a space). The crash and overload tests
// need a real process, to kill it with SIGKILL and to read its memory.
const serveArgsEnv = "GRIDMETRICS_TEST_SERVE_ARGS"

func TestMain(m *testing.M) {
	if encoded, ok := os.LookupEnv(serveArgsEnv); ok {
		var args []string
		if err := json.Unmarshal([]byte(encoded), &args); err != nil {
			fmt.Fprintf(os.Stderr, "%s is not a JSON array of strings: %v\n", serveArgsEnv, err)
			os.Exit(2)
		}
		os.Exit(serveChild(args))
	}
	contract.install()
	code := m.Run()
	if !contract.report() && code == 0 {
		fmt.Fprintln(os.Stderr, "FAIL: exchanges above are not described by the OpenAPI document")
		code = 1
	}
	os.Exit(code)
}

// serveChild is main() of the re-executed test binary.
func serveChild(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, args, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "gridmetrics:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "gridmetrics:", err)
		return 1
	}
}

// serverProcess is the service running in a child process.
type serverProcess struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string // http://host:port
	logs    *logTail
	exited  chan struct{} // closed once the process has been reaped
	started time.Time
}

// startServerProcess starts `gridmetrics serve` on a free loopback port in
// a child process and waits until it is ready. The child is killed when the
// test ends, and when the test binary dies (Pdeathsig).
func startServerProcess(t *testing.T, dbURL string, extra ...string) *serverProcess {
	t.Helper()
	p := launchServerProcess(t, dbURL, extra...)
	p.waitReady()
	return p
}

// launchServerProcess is the first half of startServerProcess: it starts
// the child and returns at once, so that several can start together;
// waitReady is the second half.
func launchServerProcess(t *testing.T, dbURL string, extra ...string) *serverProcess {
	t.Helper()
	args := append([]string{"serve", "--database-url", dbURL, "--addr", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "info", "--rate-limit", "0"}, extra...)
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{t: t, logs: newLogTail(), exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0])
	p.cmd.Env = append(os.Environ(), serveArgsEnv+"="+string(encoded))
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start server process: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	p.started = time.Now()
	return p
}

// waitReady waits until the child answers /readyz with 200, at most 30s
// from its start.
func (p *serverProcess) waitReady() {
	t := p.t
	t.Helper()
	// The child logs the address it listens on: no port is chosen here and
	// raced for with other tests.
	deadline := time.After(time.Until(p.started.Add(30 * time.Second)))
	var addr string
	select {
	case addr = <-p.logs.addr:
	case <-p.exited:
		t.Fatalf("server exited during start-up (%v); log:\n%s", p.cmd.ProcessState, p.logs)
	case <-deadline:
		t.Fatalf("server did not report its address within 30s; log:\n%s", p.logs)
	}
	p.base = "http://" + addr
	contract.watch(addr)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := hc.Get(p.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited before it was ready (%v); log:\n%s", p.cmd.ProcessState, p.logs)
		case <-deadline:
			t.Fatalf("server not ready within 30s (last: %v); log:\n%s", err, p.logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill stops the process with SIGKILL and reaps it.
func (p *serverProcess) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("server process %d not reaped 10s after SIGKILL", p.cmd.Process.Pid)
	}
}

// peakRSS is the process's high-water mark of resident memory (VmHWM), in
// bytes.
func (p *serverProcess) peakRSS() (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

// logTail keeps the last lines a child wrote to stderr, for failure
// messages, and reports the address from the "serving" line.
type logTail struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	addr    chan string
	sent    bool
}

const logTailLines = 200

func newLogTail() *logTail { return &logTail{addr: make(chan string, 1)} }

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 1<<20 { // a runaway line: keep memory bounded
		l.line(string(l.partial[:1024]) + "…")
		l.partial = nil
	}
	return len(p), nil
}

func (l *logTail) line(s string) {
	if !l.sent {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(s), &rec) == nil && rec.Msg == "serving" && rec.Addr != "" {
			l.addr <- rec.Addr
			l.sent = true
		}
	}
	// Access lines are many and say little; keep the rest.
	if strings.Contains(s, `"msg":"request"`) && !strings.Contains(s, `"status":5`) {
		return
	}
	l.lines = append(l.lines, s)
	if len(l.lines) > logTailLines {
		l.lines = l.lines[len(l.lines)-logTailLines:]
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// loadClient posts pre-built bodies to a child server.
type loadClient struct {
	base string
	key  string
	hc   *http.Client
}

func newLoadClient(base, key string, conns int) loadClient {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	return loadClient{base: base, key: key, hc: &http.Client{Transport: contract.wrap(tr), Timeout: 15 * time.Second}}
}

// loadAnswer is what came back for one request; Err is a transport error
// (no answer at all).
type loadAnswer struct {
	Status     int
	Code       string // error.code of the envelope
	RetryAfter string
	Accepted   int
	Err        error
}

func (c loadClient) post(body []byte) loadAnswer {
	req, err := http.NewRequest(http.MethodPost, c.base+"/v1/readings", bytes.NewReader(body))
	if err != nil {
		return loadAnswer{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		return loadAnswer{Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return loadAnswer{Err: err}
	}
	var env struct {
		Data struct {
			Accepted int `json:"accepted"`
		} `json:"data"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &env)
	return loadAnswer{Status: res.StatusCode, Code: env.Error.Code, RetryAfter: res.Header.Get("Retry-After"), Accepted: env.Data.Accepted}
}

// loadRow is one reading a load test sends: its key and a value unique to
// it.
type loadRow struct {
	source string
	at     time.Time
	value  float64
}

// readingsBody encodes rows as a JSON ingest request of power_import
// readings.
func readingsBody(rows []loadRow) []byte {
	b := make([]byte, 0, 16+len(rows)*110)
	b = append(b, `{"readings":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"source":"`...)
		b = append(b, r.source...)
		b = append(b, `","metric":"power_import","unit":"W","time":"`...)
		b = r.at.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","value":`...)
		b = strconv.AppendFloat(b, r.value, 'g', -1, 64)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// TestCrashKeepsAcknowledgedReadings kills the server with SIGKILL under
// load and checks, after a restart, that every reading it acknowledged is
// stored with its value: a 200 means committed (DESIGN §4).
func TestCrashKeepsAcknowledgedReadings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	tenant := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "fleet", "--auto-register"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest"))
	srv := startServerProcess(t, dbURL)

	const (
		clients        = 8
		batchRows      = 200
		sourcesPerConn = 10
		killAfter      = 700 * time.Millisecond
		minAcked       = 3               // batches acknowledged before the kill, at least
		loadLimit      = 8 * time.Second // no client runs longer than this
		killLimit      = 5 * time.Second // the kill happens by then at the latest
	)
	// Unique keys: each client has its own sources, and each source's
	// times advance by a millisecond per row, so however fast the clients
	// run they stay in the past.
	base := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	lc := newLoadClient(srv.base, key, clients)
	var (
		mu        sync.Mutex
		ackedRows []loadRow
		ackedReqs atomic.Int64
		unacked   int // batches sent without a 200
		statuses  = map[string]int{}
	)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq := 0
			for time.Since(start) < loadLimit {
				rows := make([]loadRow, batchRows)
				for i := range rows {
					n := seq + i/sourcesPerConn
					rows[i] = loadRow{
						source: fmt.Sprintf("crash-%d-%d", c, i%sourcesPerConn),
						at:     base.Add(time.Duration(n) * time.Millisecond),
						value:  float64(c)*1e9 + float64(seq*sourcesPerConn+i),
					}
				}
				seq += batchRows / sourcesPerConn
				ans := lc.post(readingsBody(rows))
				mu.Lock()
				switch {
				case ans.Err == nil && ans.Status == http.StatusOK && ans.Accepted == batchRows:
					ackedRows = append(ackedRows, rows...)
					ackedReqs.Add(1)
				case ans.Err != nil:
					unacked++
					statuses["transport error"]++
				default:
					unacked++
					statuses[fmt.Sprintf("%d %s accepted=%d", ans.Status, ans.Code, ans.Accepted)]++
				}
				mu.Unlock()
				if ans.Err != nil {
					return // the server is gone
				}
			}
		}()
	}

	// Kill mid-load: after killAfter, once a few batches are acknowledged.
	for time.Since(start) < killLimit && (time.Since(start) < killAfter || ackedReqs.Load() < minAcked) {
		time.Sleep(10 * time.Millisecond)
	}
	killedAt := time.Since(start)
	ackedAtKill := ackedReqs.Load()
	srv.kill()
	wg.Wait()
	t.Logf("SIGKILL after %s: %d batches (%d rows) acknowledged, %d not; answers without a 200: %v",
		killedAt.Round(time.Millisecond), ackedReqs.Load(), len(ackedRows), unacked, statuses)
	if ackedAtKill < minAcked {
		t.Fatalf("only %d batches acknowledged before the kill; the test proves nothing. Log:\n%s", ackedAtKill, srv.logs)
	}
	for s := range statuses {
		if s != "transport error" {
			t.Errorf("answers other than 200 before the kill: %v", statuses)
			break
		}
	}

	// Restart on the same database, then read the readings back directly.
	startServerProcess(t, dbURL)
	stored, lost := checkAcknowledged(t, dbURL, "crash", ackedRows)
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged readings lost or changed", lost, len(ackedRows))
	}
	t.Logf("all %d acknowledged readings stored after the restart (%d rows in readings, %d from unacknowledged batches)",
		len(ackedRows), stored, stored-len(ackedRows))
}

// checkAcknowledged reads back the power_import readings of the sources
// named prefix-… and reports how many acknowledged rows are missing or
// changed; it fails the test for a key stored more than once. stored is the
// number of those readings in the table.
func checkAcknowledged(t *testing.T, dbURL, prefix string, acked []loadRow) (stored, lost int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT s.external_id, r.time, r.value, count(*) OVER (PARTITION BY r.source_id, r.metric, r.time)
		FROM readings r JOIN sources s ON s.id = r.source_id JOIN metrics m ON m.id = r.metric
		WHERE m.name = 'power_import' AND s.external_id LIKE $1`, prefix+"-%")
	if err != nil {
		t.Fatal(err)
	}
	type rowKey struct {
		source string
		at     int64
	}
	values := map[rowKey]float64{}
	for rows.Next() {
		var (
			src    string
			at     time.Time
			v      float64
			copies int
		)
		if err := rows.Scan(&src, &at, &v, &copies); err != nil {
			t.Fatal(err)
		}
		if copies != 1 {
			t.Errorf("%s at %s stored %d times", src, at.Format(time.RFC3339Nano), copies)
		}
		values[rowKey{src, at.UnixMicro()}] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range acked {
		v, ok := values[rowKey{r.source, r.at.UnixMicro()}]
		if !ok || v != r.value {
			if lost++; lost <= 5 {
				t.Errorf("acknowledged reading %s at %s = %v: stored %v (present %v)", r.source, r.at.Format(time.RFC3339Nano), r.value, v, ok)
			}
		}
	}
	return len(values), lost
}
