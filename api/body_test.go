package api_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exchange writes a raw request on a new connection and reads the answer;
// closed reports whether the server then closed the connection.
func exchange(t *testing.T, base, request string) (res response, closed bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(conn, request) }()
	br := bufio.NewReader(conn)
	hres, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	res = decodeResponse(t, hres)
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = br.ReadByte()
	// Closed: the end of the stream, or a reset when the server closed
	// with some of the request unread. Not a timeout, nor another answer.
	var ne net.Error
	return res, err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestReadBody checks the one way bodies are read: within the route's
// class limit, before and after one gzip layer, refusing other encodings.
func TestReadBody(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, api.Config{BodyLimit: 100, BodyLimits: []api.BodyLimit{{Prefix: "/big", Limit: 1000}}})
	echo := func(c *fiber.Ctx) error {
		body, err := api.ReadBody(c)
		if err != nil {
			return err
		}
		again, _ := api.ReadBody(c) // read once, the same bytes after
		return api.OK(c, map[string]any{"len": len(body), "same": bytes.Equal(body, again), "limit": api.BodyLimitOf(c)})
	}
	app.Post("/small", echo)
	app.Post("/big", echo)
	base := serve(t, app)

	x := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	tests := []struct {
		name       string
		path       string
		encoding   string
		body       []byte
		wantStatus int
		wantCode   api.Code
		wantLen    int
	}{
		{name: "at the default limit", path: "/small", body: x(100), wantStatus: 200, wantLen: 100},
		{name: "over the default limit", path: "/small", body: x(101), wantStatus: 413, wantCode: api.CodeTooLarge},
		{name: "a class limit above the default", path: "/big", body: x(1000), wantStatus: 200, wantLen: 1000},
		{name: "over the class limit", path: "/big", body: x(1001), wantStatus: 413, wantCode: api.CodeTooLarge},
		{name: "gzip within the limit", path: "/big", encoding: "gzip", body: gz(t, x(1000)), wantStatus: 200, wantLen: 1000},
		{name: "gzip inflating past the limit", path: "/big", encoding: "gzip", body: gz(t, x(1001)), wantStatus: 413, wantCode: api.CodeTooLarge},
		{name: "chained encodings", path: "/big", encoding: "gzip, gzip", body: gz(t, gz(t, x(10))), wantStatus: 400, wantCode: api.CodeValidation},
		{name: "an unknown encoding", path: "/big", encoding: "br", body: x(10), wantStatus: 400, wantCode: api.CodeValidation},
		{name: "broken gzip", path: "/big", encoding: "gzip", body: x(10), wantStatus: 400, wantCode: api.CodeValidation},
		{name: "truncated gzip", path: "/big", encoding: "gzip", body: gz(t, x(500))[:20], wantStatus: 400, wantCode: api.CodeValidation},
		{name: "identity", path: "/small", encoding: "identity", body: x(3), wantStatus: 200, wantLen: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := map[string]string{}
			if tt.encoding != "" {
				header[fiber.HeaderContentEncoding] = tt.encoding
			}
			r := decodeResponse(t, rawPost(t, base, tt.path, header, tt.body))
			if tt.wantStatus != 200 {
				checkError(t, r, tt.wantStatus, tt.wantCode)
				return
			}
			d, _ := r.body["data"].(map[string]any)
			if r.status != 200 || d["len"] != float64(tt.wantLen) || d["same"] != true {
				t.Fatalf("status %d, body %s; want 200 and %d bytes read once", r.status, r.raw, tt.wantLen)
			}
		})
	}
}

// TestBodyRefusedBeforeReading checks that a declared length over the
// route's limit is answered at once, with the connection closed, while
// the client has sent none of the body; and that a chunked body is cut
// at the limit.
func TestBodyRefusedBeforeReading(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, api.Config{BodyLimit: 100, ReadTimeout: 30 * time.Second})
	app.Post("/echo", func(c *fiber.Ctx) error {
		body, err := api.ReadBody(c)
		if err != nil {
			return err
		}
		return api.OK(c, len(body))
	})
	app.Get("/nobody", func(c *fiber.Ctx) error { return api.OK(c, "fine") })
	base := serve(t, app)

	start := time.Now()
	r, closed := exchange(t, base, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	checkError(t, r, http.StatusRequestEntityTooLarge, api.CodeTooLarge)
	if !closed || time.Since(start) > 2*time.Second {
		t.Errorf("declared 1 MB: closed %t after %s; want the connection closed at once", closed, time.Since(start))
	}
	r, _ = exchange(t, base, "GET /nobody HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	checkError(t, r, http.StatusRequestEntityTooLarge, api.CodeTooLarge)

	var chunked strings.Builder
	chunked.WriteString("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	for range 10 {
		fmt.Fprintf(&chunked, "20\r\n%s\r\n", strings.Repeat("y", 32))
	}
	chunked.WriteString("0\r\n\r\n")
	r, closed = exchange(t, base, chunked.String())
	checkError(t, r, http.StatusRequestEntityTooLarge, api.CodeTooLarge)
	if !closed {
		t.Error("a chunked body cut at the limit left the connection open: its rest would be read as a request")
	}
}

// TestUnreadBodyClosesConnection checks that a connection whose request
// body was not read is closed after the answer, so that the body's bytes
// are never parsed as a request, and that one whose body was read stays
// open.
func TestUnreadBodyClosesConnection(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, api.Config{BodyLimit: 1 << 20})
	app.Post("/ignore", func(c *fiber.Ctx) error { return api.Validation("", "refused unread") })
	app.Post("/read", func(c *fiber.Ctx) error {
		_, err := api.ReadBody(c)
		if err != nil {
			return err
		}
		return api.OK(c, "read")
	})
	base := serve(t, app)
	smuggled := "GET /read HTTP/1.1\r\nHost: x\r\n\r\n"
	body := strings.Repeat(smuggled, 1000) // well past the pre-read
	r, closed := exchange(t, base, fmt.Sprintf("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	checkError(t, r, http.StatusBadRequest, api.CodeValidation)
	if !closed {
		t.Error("the connection stayed open after a request whose body was not read")
	}
	if _, closed = exchange(t, base, "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); closed {
		t.Error("the connection was closed after a request whose body was read")
	}
}

// TestStreamAbortsOnError checks that a stream whose writer fails ends
// without the terminating chunk, and that one that succeeds ends cleanly.
func TestStreamAbortsOnError(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, api.Config{})
	stream := func(fail bool) fiber.Handler {
		return func(c *fiber.Ctx) error {
			c.Status(http.StatusOK)
			api.Stream(c, func(ctx context.Context, w *bufio.Writer) error {
				for i := range 10_000 { // past the first flush
					fmt.Fprintf(w, "row %d\n", i)
					if i == 8000 && fail {
						return errors.New("the database went away")
					}
				}
				return nil
			})
			return nil
		}
	}
	app.Get("/ok", stream(false))
	app.Get("/fail", stream(true))
	base := serve(t, app)
	for _, tt := range []struct {
		path    string
		wantErr bool
	}{{"/ok", false}, {"/fail", true}} {
		res, err := http.Get(base + tt.path)
		if err != nil && tt.wantErr {
			// The connection closed before Fasthttp's writer had sent the
			// headers (it writes from another goroutine): failed too,
			// and visibly so.
			continue
		}
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || len(raw) == 0 {
			t.Errorf("GET %s: %d with %d bytes; want 200 and rows", tt.path, res.StatusCode, len(raw))
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("GET %s: %d bytes, err %v; want an error: %t", tt.path, len(raw), err, tt.wantErr)
		}
	}
}

// TestLimitConns checks that connections past the limit are answered 503
// OVERLOADED with Retry-After, and that a closed connection frees its slot.
func TestLimitConns(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := api.LimitConns(ln, 2)
	defer lim.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := lim.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first := <-accepted
	<-accepted
	c := dial()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the third connection: %v", err)
	}
	r := decodeResponse(t, res)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.apiError()["code"] != string(api.CodeOverloaded) {
		t.Fatalf("the third connection: %d %v %s; want 503 OVERLOADED with Retry-After", r.status, r.header, r.raw)
	}
	first.Close()
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection was not accepted after another closed")
	}
}

// TestClosedConnDeadlines checks that setting a deadline on a connection
// already closed (by a failed stream, from another goroutine) is not an
// error: Fasthttp panics on one, which would end the process.
func TestClosedConnDeadlines(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := api.LimitConns(ln, 2)
	defer lim.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	c, err := lim.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for name, set := range map[string]func(time.Time) error{
		"SetDeadline": c.SetDeadline, "SetReadDeadline": c.SetReadDeadline, "SetWriteDeadline": c.SetWriteDeadline,
	} {
		if err := set(time.Now().Add(time.Second)); err != nil {
			t.Errorf("%s on a closed connection: %v, want nil", name, err)
		}
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write on a closed connection: %v, want net.ErrClosed", err)
	}
}
