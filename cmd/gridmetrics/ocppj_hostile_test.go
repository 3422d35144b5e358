package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// Hostile input on the OCPP-J endpoint (DESIGN §10): refused handshakes,
// malformed and oversized frames, too many CALLs in flight or per second,
// dead connections, and the connection cap. Each bound answers visibly:
// an HTTP error before the upgrade, a CALLERROR naming the bound, or a
// close code.

const hostilePW = "hostile-test-password"

// hostileBox starts a server with args and one charge box, CB-H.
func hostileBox(t *testing.T, args ...string) ocppEnv {
	t.Helper()
	e := newOCPPEnv(t, args...)
	e.chargeBox(e.admin, "CB-H", hostilePW)
	return e
}

func (e ocppEnv) dial(protocol string) *websocket.Conn {
	e.t.Helper()
	return e.dialBox("CB-H", protocol)
}

// dialBox connects as a charge box whose password is hostilePW: one
// connection per box, since a box's new connection replaces its old one.
func (e ocppEnv) dialBox(box, protocol string) *websocket.Conn {
	e.t.Helper()
	ws, res, err := ocppDial(e.t, e.endpoint(e.acme), box, hostilePW, protocol)
	if err != nil {
		e.t.Fatalf("connect: %v (%v)", err, res)
	}
	e.t.Cleanup(func() { ws.Close() })
	return ws
}

func TestOCPPJHandshakeRefusals(t *testing.T) {
	t.Parallel()
	e := hostileBox(t, "--auth-failure-limit", "3")
	refused := func(what string, protocols []string, password string, wantStatus int, wantCode string) {
		t.Helper()
		ws, res, err := ocppDial(t, e.endpoint(e.acme), "CB-H", password, protocols...)
		if err == nil {
			ws.Close()
			t.Fatalf("%s: the handshake succeeded", what)
		}
		if res == nil {
			t.Fatalf("%s: no HTTP answer: %v", what, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(raw, &body)
		if res.StatusCode != wantStatus || body.Error.Code != wantCode {
			t.Fatalf("%s: %d %s, want %d %s", what, res.StatusCode, raw, wantStatus, wantCode)
		}
		if wantStatus == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("%s: WWW-Authenticate %q", what, res.Header.Get("WWW-Authenticate"))
		}
	}
	refused("no subprotocol", nil, hostilePW, 400, "VALIDATION_ERROR")
	refused("unsupported subprotocols", []string{"ocpp1.5", "ocpp2.1"}, hostilePW, 400, "VALIDATION_ERROR")
	// A supported one among others is chosen.
	ws, res, err := ocppDial(t, e.endpoint(e.acme), "CB-H", hostilePW, "ocpp1.5", "ocpp1.6")
	if err != nil || ws.Subprotocol() != "ocpp1.6" {
		t.Fatalf("ocpp1.5, ocpp1.6 offered: %v %v", err, res)
	}
	ws.Close()
	// Not a WebSocket request at all.
	r := e.admin.do("GET", "/ocpp/"+e.acme+"/CB-H", "")
	expect(t, "plain GET", r, 400, "VALIDATION_ERROR")
	// Wrong passwords count toward the per-address limit: the fourth try
	// is refused before the password is looked at.
	for i := 0; i < 3; i++ {
		refused("wrong password", []string{"ocpp1.6"}, "not-the-password-at-all", 401, "UNAUTHORIZED")
	}
	refused("past the failure limit", []string{"ocpp1.6"}, hostilePW, 429, "RATE_LIMITED")
}

// rpcAnswer reads a CALLRESULT or CALLERROR: its type, id, and the error
// code or result payload.
type rpcAnswer struct {
	kind    float64
	id      string
	code    string
	payload any
	details map[string]any
}

func readRPC(t *testing.T, ws *websocket.Conn) rpcAnswer {
	t.Helper()
	f := ocppRead(t, ws)
	a := rpcAnswer{kind: f[0].(float64), id: f[1].(string)}
	switch a.kind {
	case 3:
		a.payload = f[2]
	case 4:
		if len(f) != 5 {
			t.Fatalf("CALLERROR %v has %d elements", f, len(f))
		}
		a.code = f[2].(string)
		a.details, _ = f[4].(map[string]any)
	}
	return a
}

func TestOCPPJMalformedFrames(t *testing.T) {
	t.Parallel()
	e := hostileBox(t, "--body-limit-ocpp", "8192")
	for _, proto := range []string{"ocpp1.6", "ocpp2.0.1"} {
		v16 := proto == "ocpp1.6"
		spell := func(s16, s201 string) string {
			if v16 {
				return s16
			}
			return s201
		}
		ws := e.dial(proto)
		start := `{"connectorId":"one","idTag":"T","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}`
		boot := `{}`
		for _, tc := range []struct {
			frame, wantID, wantCode string
		}{
			{`not json`, "-1", spell("FormationViolation", "FormatViolation")},
			{`{"an":"object"}`, "-1", spell("FormationViolation", "FormatViolation")},
			{`[2,"a1","Heartbeat"]`, "a1", spell("FormationViolation", "FormatViolation")},
			{`[2,"` + strings.Repeat("x", 37) + `","Heartbeat",{}]`, "-1", spell("FormationViolation", "FormatViolation")},
			{`[2,"a2","Heartbeat",[]]`, "a2", spell("FormationViolation", "FormatViolation")},
			{`[2,"a3","NoSuchAction",{}]`, "a3", "NotImplemented"},
			{`[9,"a4","Heartbeat",{}]`, "a4", spell("ProtocolError", "MessageTypeNotSupported")},
			{`[2,"a5","BootNotification",` + boot + `]`, "a5", spell("OccurenceConstraintViolation", "OccurrenceConstraintViolation")},
			{`[2,"a6","` + spell("StartTransaction", "TransactionEvent") + `",` + start + `]`, "a6", spell("TypeConstraintViolation", "OccurrenceConstraintViolation")},
			{`[2,"a7","` + spell("TransactionEvent", "StartTransaction") + `",{}]`, "a7", "NotSupported"},
		} {
			if err := ws.WriteMessage(websocket.TextMessage, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			a := readRPC(t, ws)
			if a.kind != 4 || a.id != tc.wantID || a.code != tc.wantCode {
				t.Errorf("%s %s: got %+v, want CALLERROR %s %s", proto, tc.frame, a, tc.wantID, tc.wantCode)
			}
		}
		// An answer to a CALL the server never sent is dropped; the
		// connection still serves.
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`[3,"nobody-asked",{}]`))
		if a := readRPC(t, mustSend(t, ws, `[2,"ok","Heartbeat",{}]`)); a.kind != 3 || a.id != "ok" {
			t.Errorf("%s: heartbeat after the malformed frames: %+v", proto, a)
		}
		// A frame past the limit closes the connection: 1009.
		big := `[2,"big","Heartbeat",{"pad":"` + strings.Repeat("x", 9000) + `"}]`
		_ = ws.WriteMessage(websocket.TextMessage, []byte(big))
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("%s: oversized frame: %v, want close 1009", proto, err)
		}
	}
	// A binary frame closes the connection: 1003.
	ws := e.dial("ocpp1.6")
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte(`[2,"b","Heartbeat",{}]`))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseUnsupportedData {
		t.Errorf("binary frame: %v, want close 1003", err)
	}
}

func mustSend(t *testing.T, ws *websocket.Conn, frame string) *websocket.Conn {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	return ws
}

// burst sends n CALLs without waiting and returns the answers by id.
func burst(t *testing.T, ws *websocket.Conn, n int, frame func(id string) string) map[string]rpcAnswer {
	t.Helper()
	for i := 0; i < n; i++ {
		mustSend(t, ws, frame(fmt.Sprint("m", i)))
	}
	got := map[string]rpcAnswer{}
	for i := 0; i < n; i++ {
		a := readRPC(t, ws)
		if _, dup := got[a.id]; dup {
			t.Fatalf("two answers to %s", a.id)
		}
		got[a.id] = a
	}
	return got
}

func TestOCPPJMessagesInFlight(t *testing.T) {
	t.Parallel()
	e := hostileBox(t, "--ocpp-max-queued", "1", "--ocpp-rate", "1000", "--ocpp-rate-burst", "1000")
	ws := e.dial("ocpp1.6")
	at := time.Now().UTC().Add(-time.Hour)
	got := burst(t, ws, 30, func(id string) string {
		return fmt.Sprintf(`[2,%q,"MeterValues",{"connectorId":1,"meterValue":[{"timestamp":%q,"sampledValue":[{"value":"%d"}]}]}]`,
			id, at.Add(time.Duration(len(id))*time.Second).Format(time.RFC3339Nano), len(id))
	})
	results, refused := 0, 0
	for id, a := range got {
		switch {
		case a.kind == 3:
			results++
		case a.code == "GenericError" && a.details["max_queued"] == 1.0:
			refused++
		default:
			t.Errorf("%s: %+v", id, a)
		}
	}
	if results < 1 || refused < 1 {
		t.Fatalf("%d results, %d refused as in flight; want some of each", results, refused)
	}
}

func TestOCPPJRateLimit(t *testing.T) {
	t.Parallel()
	e := hostileBox(t, "--ocpp-rate", "1", "--ocpp-rate-burst", "3")
	ws := e.dial("ocpp2.0.1")
	got := burst(t, ws, 10, func(id string) string { return fmt.Sprintf(`[2,%q,"Heartbeat",{}]`, id) })
	limited := 0
	for _, a := range got {
		if a.kind == 4 && a.code == "GenericError" && a.details["rate_per_second"] == 1.0 {
			limited++
		}
	}
	// 3 pass at once, one more per second the burst takes to arrive.
	if limited < 5 || limited > 7 {
		t.Fatalf("%d of 10 heartbeats refused by a rate of 1/s with a burst of 3; want 5 to 7: %v", limited, got)
	}
}

// TestOCPPJKeepalive: the server pings; a connection that answers stays
// open past the HTTP read and idle timeouts, one that does not is closed.
// The connection cap covers upgraded connections.
func TestOCPPJKeepalive(t *testing.T) {
	t.Parallel()
	// The pong wait leaves room for a loaded machine: a healthy client
	// that answers late must not be taken for a dead one.
	e := hostileBox(t, "--ocpp-ping-interval", "200ms", "--ocpp-pong-wait", "2s",
		"--idle-timeout", "100ms", "--read-timeout", "100ms", "--read-header-timeout", "100ms", "--max-conns", "3")
	for _, box := range []string{"CB-K1", "CB-K2", "CB-K3"} {
		e.chargeBox(e.admin, box, hostilePW)
	}
	healthy := e.dial("ocpp1.6")
	dead := e.dialBox("CB-K1", "ocpp1.6")
	dead.SetPingHandler(func(string) error { return nil }) // never answers
	readAll := func(ws *websocket.Conn) chan error {
		ch := make(chan error, 1)
		go func() {
			for {
				_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, _, err := ws.ReadMessage(); err != nil {
					ch <- err
					return
				}
			}
		}()
		return ch
	}
	// The healthy one answers pings while it reads; it outlives the HTTP
	// timeouts many times over.
	frames := make(chan []byte, 4)
	go func() {
		for {
			_ = healthy.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := healthy.ReadMessage()
			if err != nil {
				close(frames)
				return
			}
			frames <- b
		}
	}()
	deadErr := readAll(dead)
	select {
	case err := <-deadErr:
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the silent connection was not closed by the server: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the silent connection is still open after 8 s")
	}
	time.Sleep(3 * time.Second) // past the silence allowed, thirty HTTP idle timeouts
	mustSend(t, healthy, `[2,"hb","Heartbeat",{}]`)
	select {
	case b, ok := <-frames:
		if !ok || !strings.HasPrefix(string(b), `[3,"hb"`) {
			t.Fatalf("heartbeat after three seconds: %q (open %v)", b, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to a heartbeat after three seconds")
	}
	// Connections count toward max-conns: with the healthy one and two
	// more open, the next is refused before the handshake.
	e.dialBox("CB-K2", "ocpp1.6")
	e.dialBox("CB-K3", "ocpp1.6")
	_, res, err := ocppDial(t, e.endpoint(e.acme), "CB-K1", hostilePW, "ocpp1.6")
	if err == nil || res == nil || res.StatusCode != 503 {
		t.Fatalf("a connection past max-conns: %v %v", err, res)
	}
}

// TestOCPPJPasswordRoute: PUT /v1/sources/{id}/ocpp-password validates,
// is tenant-scoped and admin-only, never shows the password, and a change
// closes the box's open connection.
func TestOCPPJPasswordRoute(t *testing.T) {
	t.Parallel()
	e := hostileBox(t)
	put := func(c client, id, body string) response {
		return c.do("PUT", "/v1/sources/"+id+"/ocpp-password", body)
	}
	expect(t, "too short", put(e.admin, "CB-H", `{"password":"short"}`), 400, "VALIDATION_ERROR")
	expect(t, "too long", put(e.admin, "CB-H", fmt.Sprintf(`{"password":%q}`, strings.Repeat("x", 41))), 400, "VALIDATION_ERROR")
	expect(t, "missing", put(e.admin, "CB-H", `{}`), 400, "VALIDATION_ERROR")
	expect(t, "unknown field", put(e.admin, "CB-H", `{"password":"a-long-enough-password","x":1}`), 400, "VALIDATION_ERROR")
	expect(t, "unknown source", put(e.admin, "CB-NONE", `{"password":"a-long-enough-password"}`), 404, "NOT_FOUND")
	expect(t, "another tenant's", put(e.otherAdmin, "CB-H", `{"password":"a-long-enough-password"}`), 404, "NOT_FOUND")
	expect(t, "read scope", put(e.reader, "CB-H", `{"password":"a-long-enough-password"}`), 403, "FORBIDDEN")
	expect(t, "create meter", e.admin.do("POST", "/v1/sources", `{"external_id":"M-1","kind":"meter"}`), 201, "")
	expect(t, "a meter", put(e.admin, "M-1", `{"password":"a-long-enough-password"}`), 400, "VALIDATION_ERROR")
	r := e.reader.do("GET", "/v1/sources?external_id=CB-H", "")
	expect(t, "get charger", r, 200, "")
	raw, _ := json.Marshal(r.Body)
	if strings.Contains(string(raw), hostilePW) || strings.Contains(string(raw), "pbkdf2") {
		t.Fatalf("the source shows its password: %s", raw)
	}
	// By public id; the open connection, authenticated by the old
	// password, is closed; the new one works, the old one no longer does.
	id := r.Body["data"].([]any)[0].(map[string]any)["id"].(string)
	ws := e.dial("ocpp1.6")
	const newPW = "a-brand-new-password"
	expect(t, "change password", put(e.admin, id, fmt.Sprintf(`{"password":%q}`, newPW)), 204, "")
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("connection after a password change: %v, want close 1008", err)
	}
	if _, res, err := ocppDial(t, e.endpoint(e.acme), "CB-H", hostilePW, "ocpp1.6"); err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("old password: %v %v", err, res)
	}
	ws2, _, err := ocppDial(t, e.endpoint(e.acme), "CB-H", newPW, "ocpp1.6")
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	ws2.Close()
}

// TestOCPPJQueuedBytes: the CALLs waiting on a connection hold at most a
// frame's worth of bytes, however many MaxQueued lets wait.
func TestOCPPJQueuedBytes(t *testing.T) {
	t.Parallel()
	e := hostileBox(t, "--body-limit-ocpp", "8192", "--ocpp-max-queued", "8", "--ocpp-rate", "1000", "--ocpp-rate-burst", "1000")
	ws := e.dial("ocpp1.6")
	at := time.Now().UTC().Add(-time.Hour)
	pad := strings.Repeat("p", 5000)
	got := burst(t, ws, 6, func(id string) string {
		return fmt.Sprintf(`[2,%q,"MeterValues",{"connectorId":1,"pad":%q,"meterValue":[{"timestamp":%q,"sampledValue":[{"value":"1"}]}]}]`,
			id, pad, at.Add(time.Duration(id[1]-'0')*time.Second).Format(time.RFC3339Nano))
	})
	results, refused := 0, 0
	for id, a := range got {
		switch {
		case a.kind == 3:
			results++
		case a.code == "GenericError" && a.details["max_queued_bytes"] == 8192.0:
			refused++
		default:
			t.Errorf("%s: %+v", id, a)
		}
	}
	if results < 1 || refused < 1 {
		t.Fatalf("%d results, %d refused for queued bytes; want some of each", results, refused)
	}
}
