package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// The OCPP-J endpoint end to end: real charge points (the ocpp-rpc client
// in test/ocpp, strict mode: every frame checked against the OCPP JSON
// schemas) and a raw WebSocket client for what no well-behaved charger
// sends.

// ocppEnv is a running server with two tenants, acme (auto-registering
// connectors) and other, and an admin client of each.
type ocppEnv struct {
	t                 *testing.T
	addr              string
	dbURL             string
	acme, other       string // tenant public ids
	admin, otherAdmin client
	reader            client
}

func newOCPPEnv(t *testing.T, serverArgs ...string) ocppEnv {
	t.Helper()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme", "--auto-register"))
	other := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "other"))
	key := func(tenant, scopes string) string {
		return strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", scopes))
	}
	m := startServer(t, dbURL, append([]string{"--rate-limit", "0"}, serverArgs...)...)
	base := "http://" + m.Addr()
	return ocppEnv{t: t, addr: m.Addr(), dbURL: dbURL, acme: acme, other: other,
		admin: client{t, base, key(acme, "ingest,read,billing,admin")}, otherAdmin: client{t, base, key(other, "admin")},
		reader: client{t, base, key(acme, "read")}}
}

// chargeBox registers a charger and sets its OCPP password.
func (e ocppEnv) chargeBox(c client, box, password string) {
	e.t.Helper()
	expect(e.t, "create charger "+box, c.do("POST", "/v1/sources", fmt.Sprintf(`{"external_id":%q,"kind":"charger","site_id":"depot-1",
		"metadata":{"location_id":"LOC-1","address":"Hauptstr. 1","city":"Berlin","postal_code":"10115","country":"DEU",
		"latitude":"52.520","longitude":"13.405","connector_standard":"IEC_62196_T2","connector_format":"SOCKET",
		"connector_power_type":"AC_3_PHASE"}}`, box)), 201, "")
	expect(e.t, "set password of "+box, c.do("PUT", "/v1/sources/"+box+"/ocpp-password", fmt.Sprintf(`{"password":%q}`, password)), 204, "")
}

func (e ocppEnv) endpoint(tenant string) string { return "ws://" + e.addr + "/ocpp/" + tenant }

// ocppHarness returns the directory of the Node charge points, installing
// their packages on first use; it skips the test when Node is absent.
func ocppHarness(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the OCPP-J charge points are Node programs")
	}
	dir, err := filepath.Abs("../../test/ocpp")
	if err != nil {
		t.Fatal(err)
	}
	harnessOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "ocpp-rpc")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			harnessErr = fmt.Errorf("npm ci in test/ocpp: %v\n%s", err, out)
		}
	})
	if harnessErr != nil {
		t.Fatal(harnessErr)
	}
	return dir
}

var (
	harnessOnce sync.Once
	harnessErr  error
)

// chargePoint runs a scenario of test/ocpp/chargepoint.mjs and returns
// what it printed; failed is true when the scenario failed.
func chargePoint(t *testing.T, scenario, endpoint, box, password string) (out map[string]any, failed bool) {
	t.Helper()
	dir := ocppHarness(t)
	cmd := exec.Command("node", "chargepoint.mjs", scenario, endpoint, box, password)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("charge point %s %s: still running after 30 s\n%s", scenario, box, stderr.String())
	}
	if jerr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &out); jerr != nil {
		t.Fatalf("charge point %s %s: %v (%v)\nstdout: %s\nstderr: %s", scenario, box, err, jerr, stdout.String(), stderr.String())
	}
	return out, err != nil
}

// TestOCPPJChargersEndToEnd: an OCPP 1.6 and an OCPP 2.0.1 charge point
// boot, report status, authorize and run a transaction with meter values;
// the sessions exist and are priced, the readings are queryable. Then a
// reconnect mid-transaction, and the refused handshakes.
func TestOCPPJChargersEndToEnd(t *testing.T) {
	t.Parallel()
	e := newOCPPEnv(t)
	ocppHarness(t)
	const pw16, pw201 = "secret-of-cb-16-aaaa", "secret-of-cs-201-bbbb"
	e.chargeBox(e.admin, "CB-16", pw16)
	e.chargeBox(e.admin, "CS-201", pw201)
	r := e.admin.do("POST", "/v1/tariffs", evTariff)
	expect(t, "create tariff", r, 201, "")
	tariff := r.data()["id"].(string)
	for _, box := range []string{"CB-16", "CS-201"} {
		expect(t, "assign tariff", e.admin.do("POST", "/v1/tariffs/"+tariff+"/assignments",
			fmt.Sprintf(`{"source_id":%q,"valid_from":"2020-01-01T00:00:00Z"}`, box)), 201, "")
	}

	out, failed := chargePoint(t, "session16", e.endpoint(e.acme), "CB-16", pw16)
	if failed {
		t.Fatalf("OCPP 1.6 charge point: %v", out)
	}
	if out["protocol"] != "ocpp1.6" || dig(out, "boot", "status") != "Accepted" || dig(out, "boot", "interval") != 300.0 ||
		dig(out, "authorize", "idTagInfo", "status") != "Accepted" || dig(out, "start", "idTagInfo", "status") != "Accepted" ||
		dig(out, "dataTransfer", "status") != "UnknownVendorId" || dig(out, "heartbeat", "currentTime") == nil {
		t.Fatalf("OCPP 1.6 answers: %v", out)
	}
	out201, failed := chargePoint(t, "session201", e.endpoint(e.acme), "CS-201", pw201)
	if failed {
		t.Fatalf("OCPP 2.0.1 charge point: %v", out201)
	}
	if out201["protocol"] != "ocpp2.0.1" || dig(out201, "boot", "status") != "Accepted" ||
		dig(out201, "authorize", "idTokenInfo", "status") != "Accepted" || dig(out201, "started", "idTokenInfo", "status") != "Accepted" {
		t.Fatalf("OCPP 2.0.1 answers: %v", out201)
	}

	// The sessions, priced with the charge boxes' tariff: 2 kWh each.
	for _, box := range []string{"CB-16/1", "CS-201/1"} {
		s := waitSessionPriced(t, e.admin, box)
		if s["energy_kwh"] != "2" || s["total_excl_vat"] == nil || !strings.HasPrefix(s["tariff"].(string), tariff+"@") {
			t.Fatalf("session of %s: %v", box, s)
		}
	}
	// The meter values are readings of the connectors (meterStart and
	// meterStop are not).
	for box, want := range map[string]int{"CB-16/1": 2, "CS-201/1": 4} {
		r := e.reader.do("GET", "/v1/sources?external_id="+box, "")
		expect(t, "find "+box, r, 200, "")
		list, _ := r.Body["data"].([]any)
		if len(list) != 1 {
			t.Fatalf("source %s: %v", box, r.Body)
		}
		id := list[0].(map[string]any)["id"].(string)
		r = e.reader.do("GET", "/v1/sources/"+id+"/readings?metric=energy_import&tier=raw&from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", "")
		expect(t, "readings of "+box, r, 200, "")
		if n := len(readingPoints(r)); n != want {
			t.Fatalf("%s has %d energy readings, want %d: %v", box, n, want, r.Body)
		}
	}

	// The StatusNotifications are connector states, and each box's
	// connection went Online, then Offline when the charge point left.
	for _, box := range []string{"CB-16", "CS-201"} {
		want := map[string]int{box + "/1 Preparing": 1, box + " Online": 1, box + " Offline": 1}
		if box == "CS-201" {
			want = map[string]int{box + "/1 Occupied": 1, box + " Online": 1, box + " Offline": 1}
		}
		var got map[string]int
		if !waitFor(5*time.Second, func() bool {
			got = availabilityStates(t, e.dbURL, box)
			return fmt.Sprint(got) == fmt.Sprint(want)
		}) {
			t.Fatalf("states of %s: %v, want %v", box, got, want)
		}
	}

	// A reconnect mid-transaction: the old connection is closed, the
	// transaction stops over the new one.
	out, failed = chargePoint(t, "reconnect16", e.endpoint(e.acme), "CB-16", pw16)
	if failed || dig(out, "oldClosed") == nil || dig(out, "oldClosed", "code") != 1008.0 {
		t.Fatalf("reconnect: %v", out)
	}

	// Refused handshakes: wrong password, unknown box, another tenant's box.
	e.chargeBox(e.otherAdmin, "CB-OTHER", "secret-of-other-cccc")
	for _, tc := range []struct{ name, tenant, box, password string }{
		{"wrong password", e.acme, "CB-16", pw16 + "x"},
		{"unknown box", e.acme, "CB-NONE", pw16},
		{"another tenant's box", e.acme, "CB-OTHER", "secret-of-other-cccc"},
		{"a box under another tenant's id", e.other, "CB-16", pw16},
	} {
		out, _ := chargePoint(t, "connect", e.endpoint(tc.tenant), tc.box, tc.password)
		if out["status"] != 401.0 {
			t.Errorf("%s: %v, want a 401", tc.name, out)
		}
	}
	if out, _ := chargePoint(t, "connect", e.endpoint(e.other), "CB-OTHER", "secret-of-other-cccc"); out["connected"] != true {
		t.Errorf("the other tenant's box under its own tenant: %v", out)
	}
}

// availabilityStates counts the recorded states of a charge box and its
// connectors, as "source state".
func availabilityStates(t *testing.T, dbURL, box string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT s.external_id || ' ' || a.state FROM availability_changes a JOIN sources s ON s.id = a.source_id
		WHERE s.external_id = $1 OR s.external_id LIKE $1 || '/%'`, box)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitSessionPriced waits for the one session of a connector to be priced.
func waitSessionPriced(t *testing.T, c client, source string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := c.do("GET", "/v1/sessions?source="+source, "")
		expect(t, "list sessions", r, 200, "")
		list, _ := r.Body["data"].([]any)
		if len(list) == 1 {
			s := list[0].(map[string]any)
			if s["status"] == "priced" {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no priced session of %s: %v", source, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readingPoints(r response) []any {
	if list, ok := r.Body["data"].([]any); ok {
		return list
	}
	if pts, ok := dig(r.Body, "data", "points").([]any); ok {
		return pts
	}
	return nil
}

// ocppDial opens a raw OCPP-J connection.
func ocppDial(t *testing.T, endpoint, box, password string, protocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(box+":"+password)))
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	return d.Dial(endpoint+"/"+box, h)
}

// ocppCall sends a frame and reads the next text frame.
func ocppCall(t *testing.T, ws *websocket.Conn, frame string) []any {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatalf("send %s: %v", frame, err)
	}
	return ocppRead(t, ws)
}

func ocppRead(t *testing.T, ws *websocket.Conn) []any {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var out []any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return out
}
