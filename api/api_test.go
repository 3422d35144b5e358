package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
)

// syncBuffer is a log sink that handlers may write to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newApp returns an app whose logs go to the returned buffer.
func newApp(t *testing.T, cfg api.Config) (*fiber.App, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	app := api.New(cfg)
	t.Cleanup(func() { _ = app.Shutdown() })
	return app, logs
}

// response is a decoded reply: status, headers and the JSON body as a map
// (nil when the body is empty).
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// requestID returns meta.request_id of the body.
func (r response) requestID() string {
	meta, _ := r.body["meta"].(map[string]any)
	id, _ := meta["request_id"].(string)
	return id
}

// apiError returns the "error" member of the body.
func (r response) apiError() map[string]any {
	e, _ := r.body["error"].(map[string]any)
	return e
}

func decodeResponse(t *testing.T, res *http.Response) response {
	t.Helper()
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("body is not a JSON object: %v\n%s", err, raw)
		}
	}
	return r
}

// do sends req through app.Test.
func do(t *testing.T, app *fiber.App, req *http.Request) response {
	t.Helper()
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return decodeResponse(t, res)
}

func get(t *testing.T, app *fiber.App, target string) response {
	t.Helper()
	return do(t, app, httptest.NewRequest(http.MethodGet, target, nil))
}

// checkError asserts the error envelope of DESIGN §7: exactly "error" and
// "meta", the code and status, and a request id matching the header.
func checkError(t *testing.T, r response, wantStatus int, wantCode api.Code) {
	t.Helper()
	if r.status != wantStatus {
		t.Errorf("status = %d, want %d; body %s", r.status, wantStatus, r.raw)
	}
	if len(r.body) != 2 || r.body["error"] == nil || r.body["meta"] == nil {
		t.Fatalf("body = %s, want exactly the members error and meta", r.raw)
	}
	e := r.apiError()
	if got := e["code"]; got != string(wantCode) {
		t.Errorf("error.code = %v, want %s", got, wantCode)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("error.message is empty: %s", r.raw)
	}
	for k := range e {
		if k != "code" && k != "message" && k != "details" {
			t.Errorf("error has unexpected member %q: %s", k, r.raw)
		}
	}
	id := r.requestID()
	if id == "" {
		t.Errorf("meta.request_id is empty: %s", r.raw)
	}
	if h := r.header.Get(api.HeaderRequestID); h != id {
		t.Errorf("%s header = %q, body request id = %q", api.HeaderRequestID, h, id)
	}
}

func jsonEqual(t *testing.T, got any, wantJSON string) {
	t.Helper()
	var want any
	if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
		t.Fatalf("bad want JSON %s: %v", wantJSON, err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		t.Errorf("got %s, want %s", g, wantJSON)
	}
}

func int64p(n int64) *int64 { return &n }

func TestEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    fiber.Handler
		wantStatus int
		// wantBody is the body without meta, as JSON; "" for no body.
		wantBody string
	}{
		{
			name:       "OK",
			handler:    func(c *fiber.Ctx) error { return api.OK(c, map[string]int{"a": 1}) },
			wantStatus: http.StatusOK,
			wantBody:   `{"data":{"a":1}}`,
		},
		{
			name:       "OK with null data",
			handler:    func(c *fiber.Ctx) error { return api.OK(c, nil) },
			wantStatus: http.StatusOK,
			wantBody:   `{"data":null}`,
		},
		{
			name:       "Created",
			handler:    func(c *fiber.Ctx) error { return api.Created(c, map[string]string{"id": "src_1"}) },
			wantStatus: http.StatusCreated,
			wantBody:   `{"data":{"id":"src_1"}}`,
		},
		{
			name: "List by page",
			handler: func(c *fiber.Ctx) error {
				return api.List(c, []int{11, 12}, api.PagePagination(api.PageRequest{Page: 2, Limit: 10}, 12))
			},
			wantStatus: http.StatusOK,
			wantBody:   `{"data":[11,12],"pagination":{"page":2,"limit":10,"total":12,"total_pages":2}}`,
		},
		{
			name: "List by page with no rows",
			handler: func(c *fiber.Ctx) error {
				return api.List(c, []int{}, api.PagePagination(api.PageRequest{Page: 1, Limit: 50}, 0))
			},
			wantStatus: http.StatusOK,
			wantBody:   `{"data":[],"pagination":{"page":1,"limit":50,"total":0,"total_pages":0}}`,
		},
		{
			name: "List by cursor",
			handler: func(c *fiber.Ctx) error {
				return api.List(c, []int{1}, api.Pagination{Limit: 1, NextCursor: "abc"})
			},
			wantStatus: http.StatusOK,
			wantBody:   `{"data":[1],"pagination":{"limit":1,"next_cursor":"abc"}}`,
		},
		{
			name: "List by cursor, last page",
			handler: func(c *fiber.Ctx) error {
				return api.List(c, []int{1}, api.Pagination{Limit: 1})
			},
			wantStatus: http.StatusOK,
			wantBody:   `{"data":[1],"pagination":{"limit":1}}`,
		},
		{
			name:       "NoContent",
			handler:    api.NoContent,
			wantStatus: http.StatusNoContent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, _ := newApp(t, api.Config{})
			app.Get("/x", tt.handler)
			r := get(t, app, "/x")
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.wantStatus, r.raw)
			}
			if tt.wantBody == "" {
				if len(r.raw) != 0 {
					t.Errorf("body = %q, want none", r.raw)
				}
				return
			}
			if ct := r.header.Get(fiber.HeaderContentType); !strings.HasPrefix(ct, fiber.MIMEApplicationJSON) {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			id := r.requestID()
			if id == "" || id != r.header.Get(api.HeaderRequestID) {
				t.Errorf("meta.request_id = %q, header = %q; want equal and non-empty", id, r.header.Get(api.HeaderRequestID))
			}
			meta, _ := r.body["meta"].(map[string]any)
			if len(meta) != 1 {
				t.Errorf("meta = %v, want only request_id", meta)
			}
			delete(r.body, "meta")
			jsonEqual(t, r.body, tt.wantBody)
		})
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code       api.Code
		wantStatus int
	}{
		{api.CodeValidation, http.StatusBadRequest},
		{api.CodeNotFound, http.StatusNotFound},
		{api.CodeConflict, http.StatusConflict},
		{api.CodeUnauthorized, http.StatusUnauthorized},
		{api.CodeForbidden, http.StatusForbidden},
		{api.CodeTooLarge, http.StatusRequestEntityTooLarge},
		{api.CodeMethodNotAllowed, http.StatusMethodNotAllowed},
		{api.CodeRateLimited, http.StatusTooManyRequests},
		{api.CodeOverloaded, http.StatusServiceUnavailable},
		{api.CodeUnavailable, http.StatusServiceUnavailable},
		{api.CodeInternal, http.StatusInternalServerError},
		{api.CodeCDRIncomplete, http.StatusConflict},
		{api.Code("SOMETHING_NEW"), http.StatusInternalServerError},
	}
	app, _ := newApp(t, api.Config{})
	app.Get("/err/:code", func(c *fiber.Ctx) error {
		return &api.Error{Code: api.Code(c.Params("code")), Message: "it failed", Details: map[string]any{"limit": 5}}
	})
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			t.Parallel()
			e := &api.Error{Code: tt.code}
			if got := e.Status(); got != tt.wantStatus {
				t.Errorf("Status() = %d, want %d", got, tt.wantStatus)
			}
			r := get(t, app, "/err/"+string(tt.code))
			checkError(t, r, tt.wantStatus, tt.code)
			jsonEqual(t, r.apiError(), `{"code":"`+string(tt.code)+`","message":"it failed","details":{"limit":5}}`)
			if h := r.header.Get(fiber.HeaderRetryAfter); h != "" {
				t.Errorf("Retry-After = %q without RetryAfter", h)
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *api.Error
		want string // the error member as JSON
	}{
		{
			name: "Errorf",
			err:  api.Errorf(api.CodeConflict, "source %s is %s", "src_1", "archived"),
			want: `{"code":"CONFLICT","message":"source src_1 is archived","details":{}}`,
		},
		{
			name: "Validation with field",
			err:  api.Validation("elements[2].start", "%q is not a time", "25:00"),
			want: `{"code":"VALIDATION_ERROR","message":"elements[2].start: \"25:00\" is not a time","details":{"field":"elements[2].start"}}`,
		},
		{
			name: "Validation without field",
			err:  api.Validation("", "body is empty"),
			want: `{"code":"VALIDATION_ERROR","message":"body is empty","details":{"field":""}}`,
		},
		{
			name: "NotFound",
			err:  api.NotFound("source", "src_9"),
			want: `{"code":"NOT_FOUND","message":"source \"src_9\" not found","details":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.err)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, tt.want)
			if got := api.AsError(fmt.Errorf("wrapped: %w", tt.err)); got != tt.err {
				t.Errorf("AsError(wrapped) = %v, want the error itself", got)
			}
		})
	}
	if got := api.AsError(errors.New("plain")); got != nil {
		t.Errorf("AsError(plain) = %v, want nil", got)
	}
	if got := api.AsError(nil); got != nil {
		t.Errorf("AsError(nil) = %v, want nil", got)
	}
}

func TestErrorHandler(t *testing.T) {
	t.Parallel()
	const secret = "password=hunter2 host=db.internal"
	app, logs := newApp(t, api.Config{})
	app.Get("/ok", func(c *fiber.Ctx) error { return api.OK(c, "fine") })
	app.Post("/only-post", func(c *fiber.Ctx) error { return api.OK(c, "posted") })
	app.Get("/plain", func(c *fiber.Ctx) error { return fmt.Errorf("query: %s", secret) })
	app.Get("/wrapped", func(c *fiber.Ctx) error {
		return fmt.Errorf("load source: %w", api.Errorf(api.CodeConflict, "source is archived"))
	})
	app.Get("/panic", func(c *fiber.Ctx) error { panic("boom: " + secret) })
	app.Get("/fiber-503", func(c *fiber.Ctx) error { return fiber.ErrServiceUnavailable })
	app.Get("/fiber-502", func(c *fiber.Ctx) error { return fiber.ErrBadGateway })
	app.Get("/fiber-418", func(c *fiber.Ctx) error { return fiber.ErrTeapot })

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   api.Code
		// wantGeneric: the message must not reveal the error and must quote
		// the request id.
		wantGeneric bool
	}{
		{name: "unknown route", method: http.MethodGet, path: "/nowhere", wantStatus: 404, wantCode: api.CodeNotFound},
		{name: "wrong method", method: http.MethodGet, path: "/only-post", wantStatus: 405, wantCode: api.CodeMethodNotAllowed},
		{name: "plain error", method: http.MethodGet, path: "/plain", wantStatus: 500, wantCode: api.CodeInternal, wantGeneric: true},
		{name: "wrapped api error", method: http.MethodGet, path: "/wrapped", wantStatus: 409, wantCode: api.CodeConflict},
		{name: "panic", method: http.MethodGet, path: "/panic", wantStatus: 500, wantCode: api.CodeInternal, wantGeneric: true},
		{name: "fiber 503", method: http.MethodGet, path: "/fiber-503", wantStatus: 503, wantCode: api.CodeUnavailable},
		{name: "fiber 502", method: http.MethodGet, path: "/fiber-502", wantStatus: 502, wantCode: api.CodeInternal},
		{name: "fiber 418", method: http.MethodGet, path: "/fiber-418", wantStatus: 418, wantCode: api.CodeValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, app, httptest.NewRequest(tt.method, tt.path, nil))
			checkError(t, r, tt.wantStatus, tt.wantCode)
			if !tt.wantGeneric {
				return
			}
			msg, _ := r.apiError()["message"].(string)
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "boom") || strings.Contains(msg, "query") {
				t.Errorf("message leaks the error: %q", msg)
			}
			if !strings.Contains(msg, r.requestID()) {
				t.Errorf("message %q does not quote the request id %q", msg, r.requestID())
			}
			if d, _ := r.apiError()["details"].(map[string]any); d == nil || len(d) != 0 {
				t.Errorf("internal error has details: %s", r.raw)
			}
			// The operator, unlike the caller, sees what went wrong.
			if l := logs.String(); !strings.Contains(l, "hunter2") || !strings.Contains(l, r.requestID()) {
				t.Errorf("log lacks the error or the request id %s:\n%s", r.requestID(), l)
			}
		})
	}

	t.Run("serves after a panic", func(t *testing.T) {
		t.Parallel()
		for range 3 {
			checkError(t, get(t, app, "/panic"), 500, api.CodeInternal)
			if r := get(t, app, "/ok"); r.status != 200 || r.body["data"] != "fine" {
				t.Fatalf("after a panic: status %d, body %s", r.status, r.raw)
			}
		}
	})
}

// serve runs app on a loopback listener and returns its base URL.
func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	t.Cleanup(func() {
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// rawPost writes a POST request with body on a fresh connection and reads
// the response. It does not use net/http's client, whose writing of the
// body races with the server answering early and closing the connection.
func rawPost(t *testing.T, baseURL, path string, header map[string]string, body []byte) *http.Response {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, u.Host, len(body))
	for k, v := range header {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	req.Write(body)
	// Write in a goroutine: the server may answer and stop reading before
	// the whole body is sent.
	go func() { _, _ = conn.Write(req.Bytes()) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return res
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	app, _ := newApp(t, api.Config{BodyLimit: limit})
	app.Post("/echo", func(c *fiber.Ctx) error {
		body, err := api.ReadBody(c)
		if err != nil {
			return err
		}
		return api.OK(c, len(body))
	})
	base := serve(t, app)

	tests := []struct {
		name       string
		size       int
		reqID      string
		wantStatus int
	}{
		{name: "at the limit", size: limit, wantStatus: http.StatusOK},
		{name: "over the limit", size: limit + 1, wantStatus: http.StatusRequestEntityTooLarge},
		{name: "far over the limit", size: 64 * limit, wantStatus: http.StatusRequestEntityTooLarge},
		{name: "over the limit with a request id", size: 2 * limit, reqID: "client-id-413", wantStatus: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := map[string]string{}
			if tt.reqID != "" {
				header[api.HeaderRequestID] = tt.reqID
			}
			r := decodeResponse(t, rawPost(t, base, "/echo", header, bytes.Repeat([]byte("x"), tt.size)))
			if tt.wantStatus == http.StatusOK {
				if r.status != http.StatusOK || r.body["data"] != float64(tt.size) {
					t.Fatalf("status %d, body %s; want 200 and the size", r.status, r.raw)
				}
				return
			}
			checkError(t, r, tt.wantStatus, api.CodeTooLarge)
			if tt.reqID != "" && r.requestID() != tt.reqID {
				t.Errorf("request id = %q, want the caller's %q", r.requestID(), tt.reqID)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, api.Config{})
	app.Get("/id", func(c *fiber.Ctx) error { return api.OK(c, api.RequestID(c)) })

	tests := []struct {
		name     string
		header   *string // nil: no header
		wantEcho bool
	}{
		{name: "absent", header: nil},
		{name: "sane", header: ptr("req-42_ABC.def:1"), wantEcho: true},
		{name: "uuid", header: ptr("0b6f3c1e-6d0c-4bb1-9f63-8f3a8d1c2e7a"), wantEcho: true},
		{name: "printable punctuation", header: ptr("a~!@#$%^&*()[]{}<>?/|\\'\"`z"), wantEcho: true},
		{name: "128 characters", header: ptr(strings.Repeat("a", 128)), wantEcho: true},
		{name: "empty", header: ptr("")},
		{name: "129 characters", header: ptr(strings.Repeat("a", 129))},
		{name: "very long", header: ptr(strings.Repeat("b", 4000))},
		{name: "inner space", header: ptr("abc def")},
		{name: "tab", header: ptr("abc\tdef")},
		{name: "control character", header: ptr("abc\x01def")},
		{name: "escape sequence", header: ptr("abc\x1b[31mdef")},
		{name: "DEL", header: ptr("abc\x7fdef")},
		{name: "non-ASCII", header: ptr("abcédef")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/id", nil)
			if tt.header != nil {
				req.Header[api.HeaderRequestID] = []string{*tt.header}
			}
			r := do(t, app, req)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.status, r.raw)
			}
			got := r.header.Get(api.HeaderRequestID)
			if r.requestID() != got || r.body["data"] != got {
				t.Errorf("header %q, meta %q, RequestID %v: want all equal", got, r.requestID(), r.body["data"])
			}
			if tt.wantEcho {
				if got != *tt.header {
					t.Errorf("request id = %q, want the caller's %q", got, *tt.header)
				}
				return
			}
			if tt.header != nil && got == *tt.header {
				t.Errorf("request id %q was echoed, want it replaced", got)
			}
			checkGeneratedID(t, got)
		})
	}

	t.Run("generated ids differ", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{}
		for range 50 {
			id := get(t, app, "/id").header.Get(api.HeaderRequestID)
			checkGeneratedID(t, id)
			if seen[id] {
				t.Fatalf("request id %q generated twice", id)
			}
			seen[id] = true
		}
	})
}

func ptr[T any](v T) *T { return &v }

// checkGeneratedID asserts that id looks like one the server made: non-empty
// lowercase hex that is safe to log.
func checkGeneratedID(t *testing.T, id string) {
	t.Helper()
	if len(id) < 16 {
		t.Errorf("generated request id %q is too short to be unique", id)
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			t.Errorf("generated request id %q is not lowercase hex", id)
			return
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantHeader string
	}{
		{
			name:       "rate limited",
			err:        &api.Error{Code: api.CodeRateLimited, Message: "slow down", RetryAfter: 7},
			wantStatus: http.StatusTooManyRequests,
			wantHeader: "7",
		},
		{
			name:       "overloaded",
			err:        &api.Error{Code: api.CodeOverloaded, Message: "busy", RetryAfter: 1},
			wantStatus: http.StatusServiceUnavailable,
			wantHeader: "1",
		},
		{
			name:       "wrapped",
			err:        fmt.Errorf("ingest: %w", &api.Error{Code: api.CodeRateLimited, Message: "slow down", RetryAfter: 30}),
			wantStatus: http.StatusTooManyRequests,
			wantHeader: "30",
		},
		{
			name:       "zero",
			err:        &api.Error{Code: api.CodeRateLimited, Message: "slow down"},
			wantStatus: http.StatusTooManyRequests,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, _ := newApp(t, api.Config{})
			app.Get("/x", func(c *fiber.Ctx) error { return tt.err })
			r := get(t, app, "/x")
			checkError(t, r, tt.wantStatus, api.AsError(tt.err).Code)
			if got := r.header.Get(fiber.HeaderRetryAfter); got != tt.wantHeader {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantHeader)
			}
		})
	}
}

func TestParsePage(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, api.Config{})
	app.Get("/page", func(c *fiber.Ctx) error {
		p, err := api.ParsePage(c)
		if err != nil {
			return err
		}
		return api.OK(c, map[string]int{"page": p.Page, "limit": p.Limit, "offset": p.Offset()})
	})

	tests := []struct {
		name      string
		query     string
		want      api.PageRequest
		wantErr   string // the field named by the error
		wantInMsg string
	}{
		{name: "defaults", query: "", want: api.PageRequest{Page: 1, Limit: api.DefaultPageLimit}},
		{name: "empty values", query: "page=&limit=", want: api.PageRequest{Page: 1, Limit: api.DefaultPageLimit}},
		{name: "both set", query: "page=3&limit=20", want: api.PageRequest{Page: 3, Limit: 20}},
		{name: "smallest limit", query: "limit=1", want: api.PageRequest{Page: 1, Limit: 1}},
		{name: "largest limit", query: "limit=1000", want: api.PageRequest{Page: 1, Limit: api.MaxPageLimit}},
		{name: "page 0", query: "page=0", wantErr: "page", wantInMsg: `"0"`},
		{name: "page -1", query: "page=-1", wantErr: "page", wantInMsg: `"-1"`},
		{name: "page not a number", query: "page=two", wantErr: "page"},
		{name: "page fractional", query: "page=1.5", wantErr: "page"},
		{name: "limit 0", query: "limit=0", wantErr: "limit", wantInMsg: `"0"`},
		{name: "limit 1001", query: "limit=1001", wantErr: "limit", wantInMsg: "1000"},
		{name: "limit abc", query: "limit=abc", wantErr: "limit", wantInMsg: `"abc"`},
		{name: "limit huge", query: "limit=99999999999999999999", wantErr: "limit"},
		{name: "both bad", query: "page=0&limit=0", wantErr: "page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := get(t, app, "/page?"+tt.query)
			if tt.wantErr == "" {
				want := map[string]any{"page": float64(tt.want.Page), "limit": float64(tt.want.Limit),
					"offset": float64((tt.want.Page - 1) * tt.want.Limit)}
				if r.status != http.StatusOK || !reflect.DeepEqual(r.body["data"], want) {
					t.Fatalf("status %d, body %s; want 200 and %v", r.status, r.raw, want)
				}
				return
			}
			checkError(t, r, http.StatusBadRequest, api.CodeValidation)
			e := r.apiError()
			msg, _ := e["message"].(string)
			if !strings.HasPrefix(msg, tt.wantErr+": ") || !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message = %q, want it to name %s and contain %s", msg, tt.wantErr, tt.wantInMsg)
			}
			if d, _ := e["details"].(map[string]any); d["field"] != tt.wantErr {
				t.Errorf("details = %v, want field %s", e["details"], tt.wantErr)
			}
		})
	}
}

func TestPageRequestOffset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    api.PageRequest
		want int
	}{
		{api.PageRequest{Page: 1, Limit: 50}, 0},
		{api.PageRequest{Page: 2, Limit: 50}, 50},
		{api.PageRequest{Page: 5, Limit: 7}, 28},
	}
	for _, tt := range tests {
		if got := tt.p.Offset(); got != tt.want {
			t.Errorf("%+v.Offset() = %d, want %d", tt.p, got, tt.want)
		}
	}
}

func TestPagePagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		p         api.PageRequest
		total     int64
		wantPages int64
	}{
		{name: "no rows", p: api.PageRequest{Page: 1, Limit: 10}, total: 0, wantPages: 0},
		{name: "fewer than a page", p: api.PageRequest{Page: 1, Limit: 10}, total: 3, wantPages: 1},
		{name: "exactly one page", p: api.PageRequest{Page: 1, Limit: 10}, total: 10, wantPages: 1},
		{name: "exactly divisible", p: api.PageRequest{Page: 2, Limit: 10}, total: 30, wantPages: 3},
		{name: "remainder", p: api.PageRequest{Page: 4, Limit: 10}, total: 31, wantPages: 4},
		{name: "limit one", p: api.PageRequest{Page: 1, Limit: 1}, total: 7, wantPages: 7},
		{name: "beyond the last page", p: api.PageRequest{Page: 9, Limit: 50}, total: 51, wantPages: 2},
		{name: "large total", p: api.PageRequest{Page: 1, Limit: 1000}, total: 5_000_000_001, wantPages: 5_000_001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := api.PagePagination(tt.p, tt.total)
			want := api.Pagination{Page: tt.p.Page, Limit: tt.p.Limit, Total: int64p(tt.total), TotalPages: int64p(tt.wantPages)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("PagePagination(%+v, %d) = %+v (total_pages %d), want total_pages %d",
					tt.p, tt.total, got, *got.TotalPages, tt.wantPages)
			}
		})
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	type position struct {
		At time.Time `json:"at"`
		ID int64     `json:"id"`
	}
	at := time.Date(2025, 3, 30, 1, 59, 59, 999_000_000, time.UTC)

	t.Run("round trip", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			in   any
			out  func() any // a pointer to decode into
		}{
			{name: "struct", in: position{At: at, ID: 42}, out: func() any { return &position{} }},
			{name: "string", in: "src_1/évé", out: func() any { return new(string) }},
			{name: "array", in: []any{"a", 1.5, nil}, out: func() any { return new([]any) }},
		}
		for _, tt := range tests {
			c := api.EncodeCursor(tt.in)
			if strings.ContainsAny(c, "+/=") {
				t.Errorf("%s: cursor %q is not URL-safe", tt.name, c)
			}
			out := tt.out()
			if err := api.DecodeCursor(c, out); err != nil {
				t.Fatalf("%s: DecodeCursor(%q): %v", tt.name, c, err)
			}
			if got := reflect.ValueOf(out).Elem().Interface(); !reflect.DeepEqual(got, tt.in) {
				t.Errorf("%s: round trip = %#v, want %#v", tt.name, got, tt.in)
			}
		}
	})

	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			cursor string
		}{
			{name: "empty", cursor: ""},
			{name: "not base64", cursor: "!!!not a cursor!!!"},
			{name: "padded standard base64", cursor: base64.StdEncoding.EncodeToString([]byte(`{"id":1}`))},
			{name: "base64 of non-JSON", cursor: base64.RawURLEncoding.EncodeToString([]byte("not json"))},
			{name: "truncated", cursor: api.EncodeCursor(position{At: at, ID: 42})[:10]},
			{name: "wrong shape", cursor: api.EncodeCursor([]int{1, 2})},
			{name: "wrong type", cursor: api.EncodeCursor(map[string]any{"id": "forty-two"})},
		}
		for _, tt := range tests {
			var p position
			err := api.DecodeCursor(tt.cursor, &p)
			e := api.AsError(err)
			if e == nil {
				t.Errorf("%s: DecodeCursor(%q) = %v, want an *api.Error", tt.name, tt.cursor, err)
				continue
			}
			if e.Code != api.CodeValidation || !strings.HasPrefix(e.Message, "cursor: ") ||
				!reflect.DeepEqual(e.Details, map[string]string{"field": "cursor"}) {
				t.Errorf("%s: error = %+v, want VALIDATION_ERROR on cursor", tt.name, e)
			}
		}
	})

	t.Run("unencodable position panics", func(t *testing.T) {
		t.Parallel()
		defer func() {
			if recover() == nil {
				t.Error("EncodeCursor(chan) did not panic")
			}
		}()
		api.EncodeCursor(make(chan int))
	})
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	type window struct {
		Start int `json:"start"`
	}
	type input struct {
		Name   string   `json:"name"`
		Count  int      `json:"count"`
		Window window   `json:"window"`
		Tags   []string `json:"tags"`
	}
	app, _ := newApp(t, api.Config{})
	app.Post("/in", func(c *fiber.Ctx) error {
		var in input
		if err := api.DecodeJSON(c, &in); err != nil {
			return err
		}
		return api.OK(c, in)
	})

	tests := []struct {
		name        string
		contentType string
		body        string
		want        string // data as JSON when it succeeds
		wantField   string // details.field when it fails
		wantInMsg   []string
	}{
		{
			name: "valid", contentType: "application/json",
			body: `{"name":"a","count":2,"window":{"start":3},"tags":["x"]}`,
			want: `{"name":"a","count":2,"window":{"start":3},"tags":["x"]}`,
		},
		{
			name: "valid with charset and trailing newline", contentType: "application/json; charset=utf-8",
			body: "{\"name\":\"a\"}\n",
			want: `{"name":"a","count":0,"window":{"start":0},"tags":null}`,
		},
		{
			name: "no content type", body: `{"count":1}`,
			want: `{"name":"","count":1,"window":{"start":0},"tags":null}`,
		},
		{
			name: "unknown field", contentType: "application/json", body: `{"name":"a","colour":"red"}`,
			wantField: "colour", wantInMsg: []string{"colour", "unknown field"},
		},
		{
			name: "unknown nested field", contentType: "application/json", body: `{"window":{"start":1,"end":2}}`,
			wantField: "end", wantInMsg: []string{"end"},
		},
		{
			name: "wrong type", contentType: "application/json", body: `{"count":"two"}`,
			wantField: "count", wantInMsg: []string{"count", "int", "string"},
		},
		{
			name: "wrong nested type", contentType: "application/json", body: `{"window":{"start":true}}`,
			wantField: "window.start", wantInMsg: []string{"window.start", "int", "bool"},
		},
		{
			name: "wrong element type", contentType: "application/json", body: `{"tags":[1]}`,
			wantField: "tags", wantInMsg: []string{"tags", "string", "number"},
		},
		{
			name: "not an object", contentType: "application/json", body: `[1,2]`,
			wantInMsg: []string{"array"},
		},
		{
			name: "second object", contentType: "application/json", body: `{"name":"a"} {"name":"b"}`,
			wantInMsg: []string{"after the JSON object"},
		},
		{
			name: "trailing garbage", contentType: "application/json", body: `{"name":"a"} xyz`,
			wantInMsg: []string{"after the JSON object"},
		},
		{
			name: "trailing comma", contentType: "application/json", body: `{"name":"a"},`,
			wantInMsg: []string{"after the JSON object"},
		},
		{
			name: "syntax error", contentType: "application/json", body: `{"name":}`,
			wantInMsg: []string{"malformed JSON"},
		},
		{
			name: "truncated", contentType: "application/json", body: `{"name":"a"`,
			wantInMsg: []string{"malformed JSON"},
		},
		{
			name: "empty body", contentType: "application/json", body: ``,
			wantInMsg: []string{"empty"},
		},
		{
			name: "blank body", contentType: "application/json", body: " \n\t ",
			wantInMsg: []string{"empty"},
		},
		{
			name: "wrong content type", contentType: "text/plain", body: `{"name":"a"}`,
			wantInMsg: []string{"text/plain", "application/json"},
		},
		{
			name: "form content type", contentType: "application/x-www-form-urlencoded", body: `name=a`,
			wantInMsg: []string{"application/x-www-form-urlencoded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/in", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set(fiber.HeaderContentType, tt.contentType)
			}
			r := do(t, app, req)
			if tt.want != "" {
				if r.status != http.StatusOK {
					t.Fatalf("status %d, body %s", r.status, r.raw)
				}
				jsonEqual(t, r.body["data"], tt.want)
				return
			}
			checkError(t, r, http.StatusBadRequest, api.CodeValidation)
			e := r.apiError()
			msg, _ := e["message"].(string)
			for _, s := range tt.wantInMsg {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
			if d, _ := e["details"].(map[string]any); d["field"] != tt.wantField {
				t.Errorf("details = %v, want field %q", e["details"], tt.wantField)
			}
		})
	}
}

func TestMountHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ready       api.ReadinessFunc
		path        string
		wantStatus  int
		wantCode    api.Code
		want        string // data (success) or error.details (failure) as JSON
		wantMessage string
	}{
		{
			name:       "healthz",
			ready:      func(context.Context) (map[string]any, error) { return nil, errors.New("not consulted") },
			path:       "/healthz",
			wantStatus: http.StatusOK,
			want:       `{"status":"ok"}`,
		},
		{
			name: "ready with facts",
			ready: func(context.Context) (map[string]any, error) {
				return map[string]any{"backend": "timescaledb", "schema_version": 3}, nil
			},
			path:       "/readyz",
			wantStatus: http.StatusOK,
			want:       `{"backend":"timescaledb","schema_version":3,"status":"ready"}`,
		},
		{
			name:       "ready without facts",
			ready:      func(context.Context) (map[string]any, error) { return nil, nil },
			path:       "/readyz",
			wantStatus: http.StatusOK,
			want:       `{"status":"ready"}`,
		},
		{
			name: "not ready",
			ready: func(context.Context) (map[string]any, error) {
				return map[string]any{"backend": "postgres"}, api.NotReady("database unreachable")
			},
			path:        "/readyz",
			wantStatus:  http.StatusServiceUnavailable,
			wantCode:    api.CodeUnavailable,
			want:        `{"backend":"postgres","status":"unavailable"}`,
			wantMessage: "database unreachable",
		},
		{
			name: "not ready without facts",
			ready: func(context.Context) (map[string]any, error) {
				return nil, fmt.Errorf("wrapped: %w", api.NotReady("migrating"))
			},
			path:        "/readyz",
			wantStatus:  http.StatusServiceUnavailable,
			wantCode:    api.CodeUnavailable,
			want:        `{"status":"unavailable"}`,
			wantMessage: "migrating",
		},
		{
			name: "driver errors are not shown",
			ready: func(context.Context) (map[string]any, error) {
				return nil, errors.New("dial tcp 10.0.0.7:5432: password authentication failed for user ops")
			},
			path:        "/readyz",
			wantStatus:  http.StatusServiceUnavailable,
			wantCode:    api.CodeUnavailable,
			want:        `{"status":"unavailable"}`,
			wantMessage: "see the service log",
		},
		{
			name: "readiness has a deadline",
			ready: func(ctx context.Context) (map[string]any, error) {
				if _, ok := ctx.Deadline(); !ok {
					return nil, errors.New("no deadline")
				}
				return nil, nil
			},
			path:       "/readyz",
			wantStatus: http.StatusOK,
			want:       `{"status":"ready"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, _ := newApp(t, api.Config{})
			api.MountHealth(app, tt.ready)
			r := get(t, app, tt.path)
			if tt.wantCode == "" {
				if r.status != tt.wantStatus {
					t.Fatalf("status %d, body %s; want %d", r.status, r.raw, tt.wantStatus)
				}
				jsonEqual(t, r.body["data"], tt.want)
				return
			}
			checkError(t, r, tt.wantStatus, tt.wantCode)
			jsonEqual(t, r.apiError()["details"], tt.want)
			if msg, _ := r.apiError()["message"].(string); !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("message %q lacks %q", msg, tt.wantMessage)
			}
		})
	}
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	got := api.Config{}.WithDefaults()
	if got.BodyLimit != 256<<10 || got.MaxConns != 4096 || got.ReadHeaderTimeout != 10*time.Second ||
		got.ReadTimeout != 60*time.Second || got.WriteTimeout != 60*time.Second || got.StreamWriteTimeout != 60*time.Second ||
		got.RequestTimeout != 60*time.Second || got.IdleTimeout != 120*time.Second || got.Logger == nil {
		t.Errorf("Config{}.WithDefaults() = %+v", got)
	}
	set := api.Config{BodyLimit: 10, BodyLimits: []api.BodyLimit{{Prefix: "/x", Limit: 5}}, MaxConns: 7,
		ReadHeaderTimeout: 4 * time.Second, ReadTimeout: time.Second, WriteTimeout: 2 * time.Second,
		StreamWriteTimeout: 5 * time.Second, RequestTimeout: 6 * time.Second, IdleTimeout: 3 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
	if got := set.WithDefaults(); !reflect.DeepEqual(got, set) {
		t.Errorf("WithDefaults changed set fields: %+v", got)
	}
}
