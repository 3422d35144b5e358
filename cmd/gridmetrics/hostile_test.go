//go:build linux

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// rssGrowthBound is how much the server's peak resident memory (VmHWM) may
// grow over the whole hostile-input suite: 256 MiB, more for a
// race-instrumented server, whose memory the race detector multiplies.
var rssGrowthBound = int64(256 << 20)

func init() {
	if raceBuild {
		rssGrowthBound = 640 << 20
	}
}

// The server's limits in the hostile-input suite: short timeouts, so that
// slow clients are cut off within the test's time.
const (
	hostileHeaderTimeout = 2 * time.Second
	hostileReadTimeout   = 8 * time.Second // room to send 16 MiB on a loaded machine
	hostileMaxConns      = 1000
)

// bodyRoutes are the routes that take a request body.
var bodyRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/readings"},
	{http.MethodPost, "/v1/ocpp/CB-H1/meter-values"},
	{http.MethodPost, "/v1/ocpp/CB-H1/start-transaction"},
	{http.MethodPost, "/v1/ocpp/CB-H1/stop-transaction"},
	{http.MethodPost, "/v1/ocpp/CB-H1/transaction-event"},
	{http.MethodPost, "/v1/ocpp/CB-H1/status-notification"},
	{http.MethodPut, "/v1/ocpp/id-tag-policy"},
	{http.MethodPut, "/v1/ocpp/id-tags/RFID-H1"},
	{http.MethodPost, "/v1/sessions"},
	{http.MethodPost, "/v1/sessions/ses_missing/stop"},
	{http.MethodPost, "/v1/sources"},
	{http.MethodPatch, "/v1/sources/src_missing"},
	{http.MethodPut, "/v1/sources/src_missing/ocpp-password"},
	{http.MethodPut, "/v1/sources/src_missing/ocmf-public-key"},
	{http.MethodPost, "/v1/tariffs"},
	{http.MethodPut, "/v1/tariffs/tar_missing"},
	{http.MethodPost, "/v1/tariffs/tar_missing/quote"},
	{http.MethodPost, "/v1/tariffs/tar_missing/assignments"},
	{http.MethodPatch, "/v1/tariffs/tar_missing/assignments/asg_missing"},
	{http.MethodPost, "/v1/pricing/cdr"},
	{http.MethodPost, "/v1/sites"},
	{http.MethodPatch, "/v1/sites/s_missing"},
}

// hostileServer is a server process under attack and a watch on its memory.
type hostileServer struct {
	*serverProcess
	addr     string
	key      string
	baseline int64
}

// checkRSS logs the server's peak RSS after a case and fails the test when
// it grew past rssGrowthBound.
func (h *hostileServer) checkRSS(t *testing.T, what string) {
	t.Helper()
	peak, err := h.peakRSS()
	if err != nil {
		t.Fatalf("read the server's peak RSS: %v", err)
	}
	t.Logf("%s: server peak RSS %d MiB (%+d MiB over the %d MiB at start)", what, peak>>20, (peak-h.baseline)>>20, h.baseline>>20)
	if peak-h.baseline > rssGrowthBound {
		t.Errorf("%s: peak RSS grew by %d MiB, more than %d MiB", what, (peak-h.baseline)>>20, rssGrowthBound>>20)
	}
}

// rawAnswer is a response read off a raw connection.
type rawAnswer struct {
	status  int
	code    string // error.code of the envelope
	message string // error.message
	header  http.Header
	size    int  // body bytes
	closed  bool // the server announced it closes the connection
	elapsed time.Duration
}

// send writes a request (head without its final blank line, then body)
// on a new connection and reads the answer.
func (h *hostileServer) send(t *testing.T, head string, body []byte) rawAnswer {
	t.Helper()
	start := time.Now()
	conn, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		// The server may answer, and close, before the body is all sent.
		_, _ = conn.Write(append([]byte(head+"\r\n"), body...))
	}()
	a, err := readAnswer(conn, start)
	if err != nil {
		t.Fatalf("%s: %v", strings.SplitN(head, "\r", 2)[0], err)
	}
	return a
}

func readAnswer(conn net.Conn, start time.Time) (rawAnswer, error) {
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{}, fmt.Errorf("read the answer: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return rawAnswer{}, fmt.Errorf("read the answer's body: %w", err)
	}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &env)
	return rawAnswer{status: res.StatusCode, code: env.Error.Code, message: env.Error.Message, header: res.Header, size: len(raw), closed: res.Close, elapsed: time.Since(start)}, nil
}

// head is the start of a request with credentials and the given headers.
func (h *hostileServer) head(method, path string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n", method, path, h.addr, h.key)
	for _, hd := range headers {
		b.WriteString(hd + "\r\n")
	}
	return b.String()
}

// gzipped compresses b at the given level.
func gzipped(t *testing.T, b []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipBomb is 1 GiB of zeros gzipped: one member of 8 MiB repeated 128
// times (gzip readers read concatenated members as one stream).
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	member := gzipped(t, make([]byte, 8<<20), gzip.BestCompression)
	return bytes.Repeat(member, 128)
}

// raiseFileLimit lifts the soft limit on open files to want (at most the
// hard limit) for this process and the servers it starts.
func raiseFileLimit(t *testing.T, want uint64) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur < want {
		lim.Cur = min(want, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("setrlimit: %v", err)
		}
	}
	return lim.Cur
}

// TestHostileInput sends what a hostile or broken client might to a server
// process: compression bombs, bodies larger than declared limits, rows that
// are all invalid, Arrow streams that decode into millions of rows, slow
// clients and crowds of idle connections. Each gets a clear error, and the
// server's peak memory stays within rssGrowthBound of where it started.
func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	// Not parallel: the server's memory is measured, and the idle
	// connections need file descriptors of this process.
	files := raiseFileLimit(t, 3*hostileMaxConns)
	dbURL := dbtest.NewURL(t)
	tenant := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "hostile", "--auto-register"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest,read,billing,admin"))
	srv := startServerProcess(t, dbURL,
		"--read-header-timeout", hostileHeaderTimeout.String(), "--read-timeout", hostileReadTimeout.String(),
		"--idle-timeout", "5s", "--max-conns", fmt.Sprint(hostileMaxConns))
	h := &hostileServer{serverProcess: srv, addr: strings.TrimPrefix(srv.base, "http://"), key: key}
	var err error
	if h.baseline, err = srv.peakRSS(); err != nil {
		t.Fatal(err)
	}

	t.Run("gzip bombs", func(t *testing.T) {
		bomb := gzipBomb(t)
		nested := gzipped(t, bomb, gzip.BestCompression)
		t.Logf("1 GiB of zeros: %d bytes gzipped, %d bytes gzipped twice", len(bomb), len(nested))
		for _, r := range bodyRoutes {
			// Two layers declared: refused before anything is inflated.
			a := h.send(t, h.head(r.method, r.path, "Content-Type: application/json", "Content-Encoding: gzip, gzip",
				fmt.Sprintf("Content-Length: %d", len(nested))), nested)
			if a.status != http.StatusBadRequest || a.code != "VALIDATION_ERROR" || !strings.Contains(a.message, "chained encodings") {
				t.Errorf("%s %s with Content-Encoding: gzip, gzip: %d %s %q; want 400 VALIDATION_ERROR refusing chained encodings",
					r.method, r.path, a.status, a.code, a.message)
			}
			// One layer declared, inflating to 1 GiB: cut at the limit.
			a = h.send(t, h.head(r.method, r.path, "Content-Type: application/json", "Content-Encoding: gzip",
				fmt.Sprintf("Content-Length: %d", len(bomb))), bomb)
			if a.status != http.StatusRequestEntityTooLarge || a.code != "PAYLOAD_TOO_LARGE" {
				t.Errorf("%s %s with 1 GiB gzipped: %d %s; want 413 PAYLOAD_TOO_LARGE", r.method, r.path, a.status, a.code)
			}
			// Two layers, one declared: the inner layer is the body, and it
			// is not what the route takes.
			a = h.send(t, h.head(r.method, r.path, "Content-Type: application/json", "Content-Encoding: gzip",
				fmt.Sprintf("Content-Length: %d", len(nested))), nested)
			if a.status < 400 || a.status >= 500 || a.code == "" {
				t.Errorf("%s %s with a gzip bomb inside gzip: %d %q; want a 4xx with a code", r.method, r.path, a.status, a.code)
			}
		}
		h.checkRSS(t, "gzip bombs")
	})

	t.Run("declared lengths over the limit", func(t *testing.T) {
		for _, r := range bodyRoutes {
			// Far over every limit: answered after a few bytes.
			a := h.send(t, h.head(r.method, r.path, "Content-Type: application/json", "Content-Length: 1073741824"), []byte("{"))
			if a.status != http.StatusRequestEntityTooLarge || a.code != "PAYLOAD_TOO_LARGE" || !a.closed {
				t.Errorf("%s %s declaring 1 GiB: %d %s (connection closed: %t); want 413 PAYLOAD_TOO_LARGE and the connection closed",
					r.method, r.path, a.status, a.code, a.closed)
			}
		}
		// Within the largest route limit (ingest, 16 MiB) but over the
		// route's own (1 MiB), sent slowly: the answer comes at once, not
		// once the body (or its first 8 KiB) arrived.
		for _, path := range []string{"/v1/pricing/cdr", "/v1/ocpp/CB-H1/start-transaction", "/v1/sessions"} {
			conn, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetDeadline(start.Add(10 * time.Second))
			if _, err := io.WriteString(conn, h.head(http.MethodPost, path, "Content-Type: application/json", "Content-Length: 8388608")+"\r\n{"); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			go func() { // a byte every 100 ms
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			a, err := readAnswer(conn, start)
			close(stop)
			if err != nil {
				t.Fatalf("POST %s declaring 8 MiB, sent slowly: %v", path, err)
			}
			conn.Close()
			if a.status != http.StatusRequestEntityTooLarge || a.code != "PAYLOAD_TOO_LARGE" || a.elapsed > time.Second {
				t.Errorf("POST %s declaring 8 MiB, sent slowly: %d %s after %s; want 413 PAYLOAD_TOO_LARGE at once", path, a.status, a.code, a.elapsed)
			}
		}
		// A body on a route that takes none.
		a := h.send(t, h.head(http.MethodGet, "/v1/sources", "Transfer-Encoding: chunked"), []byte("100000\r\n"))
		if a.status != http.StatusRequestEntityTooLarge || a.code != "PAYLOAD_TOO_LARGE" {
			t.Errorf("GET /v1/sources with a chunked body: %d %s; want 413 PAYLOAD_TOO_LARGE", a.status, a.code)
		}
		h.checkRSS(t, "declared lengths over the limit")
	})

	t.Run("chunked body over the limit", func(t *testing.T) {
		// No length declared: cut once the limit is passed.
		var body bytes.Buffer
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for range 20 {
			fmt.Fprintf(&body, "%x\r\n%s\r\n", len(chunk), chunk)
		}
		body.WriteString("0\r\n\r\n")
		a := h.send(t, h.head(http.MethodPost, "/v1/readings", "Content-Type: application/json", "Transfer-Encoding: chunked"), body.Bytes())
		if a.status != http.StatusRequestEntityTooLarge || a.code != "PAYLOAD_TOO_LARGE" {
			t.Errorf("20 MiB chunked to /v1/readings: %d %s; want 413 PAYLOAD_TOO_LARGE", a.status, a.code)
		}
		h.checkRSS(t, "chunked body over the limit")
	})

	t.Run("16 MiB of invalid rows", func(t *testing.T) {
		var body bytes.Buffer
		body.WriteString("source,metric,time,value\n")
		for i := 0; body.Len() < 16<<20-100; i++ {
			fmt.Fprintf(&body, "M-%d,power_import,not-a-time,%d\n", i%1000, i)
		}
		a := h.send(t, h.head(http.MethodPost, "/v1/readings", "Content-Type: text/csv", fmt.Sprintf("Content-Length: %d", body.Len())), body.Bytes())
		t.Logf("%d bytes of invalid rows: %d %s, an answer of %d bytes after %s", body.Len(), a.status, a.code, a.size, a.elapsed.Round(time.Millisecond))
		if a.status != http.StatusBadRequest || a.code != "VALIDATION_ERROR" {
			t.Errorf("16 MiB of invalid rows: %d %s; want 400 VALIDATION_ERROR", a.status, a.code)
		}
		if a.size > 1<<20 {
			t.Errorf("the answer to 16 MiB of invalid rows holds %d bytes; want a bounded list of rejections", a.size)
		}
		h.checkRSS(t, "16 MiB of invalid rows")
	})

	t.Run("arrow row bomb", func(t *testing.T) {
		body, rows := arrowRowBomb(t, 40)
		a := h.send(t, h.head(http.MethodPost, "/v1/readings", "Content-Type: application/vnd.apache.arrow.stream",
			fmt.Sprintf("Content-Length: %d", len(body))), body)
		t.Logf("an Arrow stream of %d bytes holding %d rows: %d %s after %s", len(body), rows, a.status, a.code, a.elapsed.Round(time.Millisecond))
		if a.status != http.StatusRequestEntityTooLarge || a.code != "PAYLOAD_TOO_LARGE" {
			t.Errorf("Arrow row bomb: %d %q; want 413 PAYLOAD_TOO_LARGE", a.status, a.code)
		}
		h.checkRSS(t, "arrow row bomb")
	})

	t.Run("slow clients", func(t *testing.T) {
		const clients = 50
		type result struct {
			what   string
			status int
			code   string
			closed time.Duration
			err    error
		}
		results := make(chan result, 2*clients)
		var wg sync.WaitGroup
		dribble := func(what, head, body string) {
			defer wg.Done()
			conn, err := net.Dial("tcp", h.addr)
			if err != nil {
				results <- result{what: what, err: err}
				return
			}
			defer conn.Close()
			start := time.Now()
			_ = conn.SetDeadline(start.Add(15 * time.Second))
			go func() { // a byte every 250 ms: never done in time
				for _, b := range []byte(head + body) {
					if _, err := conn.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(250 * time.Millisecond)
				}
			}()
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			r := result{what: what, err: err}
			if err == nil {
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var env struct {
					Error struct{ Code string } `json:"error"`
				}
				_ = json.Unmarshal(raw, &env)
				r.status, r.code = res.StatusCode, env.Error.Code
				// The server closes the connection after its answer.
				_, err = conn.Read(make([]byte, 1))
				if err == nil {
					r.err = fmt.Errorf("connection still open after the answer")
				}
			}
			r.closed = time.Since(start)
			results <- r
		}
		for range clients {
			wg.Add(2)
			go dribble("headers", h.head(http.MethodPost, "/v1/readings", "Content-Type: text/csv", "Content-Length: 40")+"\r\n", "")
			// The headers at once, then the body a byte at a time.
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", h.addr)
				if err != nil {
					results <- result{what: "body", err: err}
					return
				}
				defer conn.Close()
				start := time.Now()
				_ = conn.SetDeadline(start.Add(15 * time.Second))
				_, _ = io.WriteString(conn, h.head(http.MethodPost, "/v1/readings", "Content-Type: text/csv", "Content-Length: 100000")+"\r\n")
				go func() {
					for range 100 {
						if _, err := conn.Write([]byte("x")); err != nil {
							return
						}
						time.Sleep(250 * time.Millisecond)
					}
				}()
				a, err := readAnswer(conn, start)
				results <- result{what: "body", status: a.status, code: a.code, closed: a.elapsed, err: err}
			}()
		}
		wg.Wait()
		close(results)
		worst := map[string]time.Duration{}
		for r := range results {
			worst[r.what] = max(worst[r.what], r.closed)
			switch {
			case r.err != nil:
				t.Errorf("slow %s: %v", r.what, r.err)
			case r.status != http.StatusRequestTimeout || r.code != "REQUEST_TIMEOUT":
				t.Errorf("slow %s: %d %s; want 408 REQUEST_TIMEOUT", r.what, r.status, r.code)
			}
		}
		t.Logf("%d clients dribbling headers answered within %s, %d dribbling bodies within %s", clients, worst["headers"].Round(time.Millisecond),
			clients, worst["body"].Round(time.Millisecond))
		if worst["headers"] > hostileHeaderTimeout+2*time.Second || worst["body"] > hostileHeaderTimeout+hostileReadTimeout+2*time.Second {
			t.Errorf("slow clients held on too long: %v", worst)
		}
		h.checkRSS(t, "slow clients")
	})

	t.Run("idle connections", func(t *testing.T) {
		n := min(int(files)-100, 2*hostileMaxConns)
		if n <= hostileMaxConns {
			t.Skipf("only %d files may be open; the case needs more than %d connections", files, hostileMaxConns)
		}
		conns := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range n {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatalf("dial connection %d: %v", len(conns)+1, err)
			}
			conns = append(conns, c)
		}
		// The server holds at most max-conns of them open: the rest wait in
		// the listen backlog or were refused.
		time.Sleep(200 * time.Millisecond)
		open, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		// Besides the connections it serves: its database pools, and
		// refused connections still being drained (at most 128 at once).
		if len(open) > hostileMaxConns+250 {
			t.Errorf("the server has %d files open with %d idle connections; want at most max-conns (%d), the database's and the refused ones still closing", len(open), n, hostileMaxConns)
		}
		// Past max-conns, connections are refused at once with 503
		// OVERLOADED and Retry-After; the others are cut off by the header
		// timeout. As those close, connections still in the backlog take
		// their slots: how many are refused depends on how fast the server
		// accepts, but every connection gets one of the two answers.
		refused, answered := 0, 0
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := time.Now()
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetReadDeadline(start.Add(hostileHeaderTimeout + 3*time.Second))
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					return
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "" && strings.Contains(string(raw), `"OVERLOADED"`):
					refused++
				case res.StatusCode == http.StatusRequestTimeout:
					answered++ // cut off idle by the header timeout
				}
			}()
		}
		wg.Wait()
		t.Logf("%d idle connections: %d refused with 503, %d closed with 408 after %s", n, refused, answered, time.Since(start).Round(time.Millisecond))
		if refused == 0 || refused > n-hostileMaxConns {
			t.Errorf("%d of %d connections refused with 503 OVERLOADED and Retry-After; want some, at most %d (max-conns %d)", refused, n, n-hostileMaxConns, hostileMaxConns)
		}
		if answered < hostileMaxConns || refused+answered < n-10 {
			t.Errorf("%d idle connections cut off with 408 and %d refused, of %d; want every one answered, at least max-conns (%d) with 408", answered, refused, n, hostileMaxConns)
		}
		// The service serves again.
		res, err := (&http.Client{Timeout: 5 * time.Second}).Get(srv.base + "/readyz")
		if err != nil {
			t.Fatalf("after the idle connections: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("after the idle connections: /readyz %d", res.StatusCode)
		}
		h.checkRSS(t, "idle connections")
	})
	h.checkRSS(t, "the whole suite")
}

// arrowRowBomb is an Arrow IPC stream (zstd) of batches of a million rows
// whose columns are constant, so they compress to almost nothing: the
// stream holds batches million rows.
func arrowRowBomb(t *testing.T, batches int) ([]byte, int) {
	t.Helper()
	const n = 1 << 20
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "source", Type: arrow.BinaryTypes.String},
		{Name: "metric", Type: arrow.BinaryTypes.String},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	mem := memory.NewGoAllocator()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	at := arrow.Timestamp(time.Now().Add(-time.Hour).Unix())
	for range n {
		b.Field(0).(*array.StringBuilder).Append("")
		b.Field(1).(*array.StringBuilder).Append("")
		b.Field(2).(*array.TimestampBuilder).Append(at)
		b.Field(3).(*array.Float64Builder).Append(0)
	}
	rec := b.NewRecord()
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithZstd(), ipc.WithAllocator(mem))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	first := buf.Len()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	batch := bytes.Clone(buf.Bytes()[first:])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The schema, the batch as many times as asked, the end of the stream.
	out := append(bytes.Clone(buf.Bytes()[:first]), bytes.Repeat(batch, batches-1)...)
	return append(out, buf.Bytes()[first+len(batch):]...), batches * n
}
