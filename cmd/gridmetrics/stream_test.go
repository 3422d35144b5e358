package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// streamRows is how many readings the stream tests store: their CSV
// (about 35 bytes a row) is far more than the socket buffers between the
// database, the server and the client hold, so the database is still
// sending while the client reads.
const streamRows = 300_000

// streamEnv is a server with streamRows readings of one meter, one a
// second from streamFrom.
type streamEnv struct {
	ingestEnv
	path string // the CSV of all the readings
}

var streamFrom = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newStreamEnv(t *testing.T, serverArgs ...string) streamEnv {
	t.Helper()
	e := newIngestEnv(t, append([]string{"--query-max-points", "1000000"}, serverArgs...)...)
	meter := e.createSourceJSON(`{"external_id":"M-S","kind":"meter"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := e.pool.Exec(ctx, `INSERT INTO readings (time, source_id, metric, value)
		SELECT $1::timestamptz + make_interval(secs => i), s.id, m.id, i
		FROM sources s, metrics m, generate_series(0, $2 - 1) i
		WHERE s.public_id = $3 AND m.name = 'power_import'`, streamFrom, streamRows, meter)
	if err != nil {
		t.Fatalf("store readings: %v", err)
	}
	to := streamFrom.Add(streamRows * time.Second).Format(time.RFC3339)
	return streamEnv{ingestEnv: e, path: "/v1/sources/" + meter + "/readings?metric=power_import&format=csv&limit=1000000&tier=raw&from=" +
		streamFrom.Format(time.RFC3339) + "&to=" + to}
}

// open starts the CSV stream and returns its body once the first bytes
// are in.
func (e streamEnv) open(t *testing.T) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", e.path, res.StatusCode, raw)
	}
	br := bufio.NewReaderSize(res.Body, 64<<10)
	if _, err := br.Peek(1); err != nil {
		t.Fatalf("first bytes of the stream: %v", err)
	}
	return res, br
}

// TestStreamFailureIsNotASuccess ends the database session of a CSV query
// in the middle of its stream: the client must see the answer fail, not a
// clean end of a shorter CSV.
func TestStreamFailureIsNotASuccess(t *testing.T) {
	if dbtest.SchemaIsolation() {
		t.Skip("terminates a backend of the server's pool; the shared harness cannot spare one")
	}
	t.Parallel()
	e := newStreamEnv(t)
	_, body := e.open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var killed int
	err := e.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE '%FROM readings%'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the stream's backend: %d terminated, err %v", killed, err)
	}
	n, err := io.Copy(io.Discard, body)
	if err == nil {
		t.Fatalf("the stream ended cleanly after %d more bytes although its database read failed", n)
	}
	t.Logf("the stream failed after %d more bytes: %v", n, err)
}

// TestStreamOutlivesWriteTimeout reads a stream slowly, for longer than
// the write timeout: a streamed answer has a deadline per write, not one
// for all of it, so it arrives whole.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, "--write-timeout", "500ms", "--stream-write-timeout", "5s")
	start := time.Now()
	_, body := e.open(t)
	lines, buf := 0, make([]byte, 256<<10)
	for {
		n, err := body.Read(buf)
		lines += bytes.Count(buf[:n], []byte("\n"))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %s and %d lines: %v", time.Since(start).Round(time.Millisecond), lines, err)
		}
		time.Sleep(40 * time.Millisecond) // about 6 MiB/s at most
	}
	elapsed := time.Since(start)
	if lines != streamRows+1 {
		t.Fatalf("%d lines in %s; want a header and %d rows", lines, elapsed, streamRows)
	}
	if elapsed < time.Second {
		t.Fatalf("the stream took %s, not more than the 500ms write timeout; the test proves nothing", elapsed)
	}
	t.Logf("%d rows in %s with a write timeout of 500ms", streamRows, elapsed.Round(time.Millisecond))
}

// TestClientGoneCancelsRequest leaves while a request waits on the
// database: its query is cancelled rather than left to run.
func TestClientGoneCancelsRequest(t *testing.T) {
	if dbtest.SchemaIsolation() {
		t.Skip("locks the sources table, which the shared harness shares")
	}
	t.Parallel()
	e := newIngestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "LOCK TABLE sources IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	waiting := func() int {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /v1/sources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.key+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for waiting() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request never waited on the locked table")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Close()
	left := time.Now()
	for waiting() > 0 {
		if time.Since(left) > 5*time.Second {
			t.Fatal("the query of a request whose client left still waits 5s later")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the query was cancelled %s after the client left", time.Since(left).Round(time.Millisecond))
}
