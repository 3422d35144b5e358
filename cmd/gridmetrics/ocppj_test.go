package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5"
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
	m, dbURL, acme, other, key := twoTenants(t, serverArgs...)
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
		"latitude":"52.520000","longitude":"13.405000","connector_standard":"IEC_62196_T2","connector_format":"SOCKET",
		"connector_power_type":"AC_3_PHASE"}}`, box)), 201, "")
	expect(e.t, "set password of "+box, c.do("PUT", "/v1/sources/"+box+"/ocpp-password", fmt.Sprintf(`{"password":%q}`, password)), 204, "")
}

// sourceID is the id of the tenant acme's source named external.
func (e ocppEnv) sourceID(external string) string {
	e.t.Helper()
	r := e.reader.do("GET", "/v1/sources?external_id="+url.QueryEscape(external), "")
	expect(e.t, "find "+external, r, 200, "")
	list, _ := r.Body["data"].([]any)
	if len(list) != 1 {
		e.t.Fatalf("%d sources named %s: %v", len(list), external, r.Body)
	}
	return fmt.Sprint(list[0].(map[string]any)["id"])
}

func (e ocppEnv) endpoint(tenant string) string { return "ws://" + e.addr + "/ocpp/" + tenant }

// ocppHarness returns the directory of the Node charge points, installing
// their packages on first use; it skips the test when Node is absent.
func ocppHarness(t *testing.T) string {
	t.Helper()
	return nodeHarness(t, "ocpp", "ocpp-rpc")
}

// nodeHarness returns the directory of the Node harness test/<name>,
// installing its packages (npm ci) once per test binary when node_modules
// lacks the package marker; it skips the test when Node is absent.
func nodeHarness(t *testing.T, name, marker string) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skipf("node is not installed: the harness test/%s is a Node program", name)
	}
	dir, err := filepath.Abs(filepath.Join("../../test", name))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := harnesses.LoadOrStore(name, &harnessInstall{})
	h := v.(*harnessInstall)
	h.once.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", marker)); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			h.err = fmt.Errorf("npm ci in test/%s: %v\n%s", name, err, out)
		}
	})
	if h.err != nil {
		t.Fatal(h.err)
	}
	return dir
}

// harnesses holds each Node harness's one install, by name.
var harnesses sync.Map

type harnessInstall struct {
	once sync.Once
	err  error
}

// chargePoint runs a scenario of test/ocpp/chargepoint.mjs, with env
// (KEY=value) added to its environment, and returns what it printed;
// failed is true when the scenario failed.
func chargePoint(t *testing.T, scenario, endpoint, box, password string, env ...string) (out map[string]any, failed bool) {
	t.Helper()
	dir := ocppHarness(t)
	cmd := exec.Command("node", "chargepoint.mjs", scenario, endpoint, box, password)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
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

// signedSession is what test/ocmf/harness.cjs signs for one transaction:
// its Begin and End OCMF records and the hex public key.
type signedSession struct {
	Begin     string `json:"begin"`
	End       string `json:"end"`
	PublicKey string `json:"publicKey"`
}

// signSession has @road-labs/ocmf (test/ocmf) sign, with a fresh key, the
// Begin reading beginKWh at begin and the End reading endKWh at end.
func signSession(t *testing.T, begin, end time.Time, beginKWh, endKWh float64) signedSession {
	t.Helper()
	dir := ocmfHarness(t)
	in := fmt.Sprintf(`{"begin":{"time":%q,"kwh":%v},"end":{"time":%q,"kwh":%v}}`,
		begin.UTC().Format(time.RFC3339Nano), beginKWh, end.UTC().Format(time.RFC3339Nano), endKWh)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "harness.cjs", "session")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node harness.cjs session: %v\n%s", err, stderr.String())
	}
	var s signedSession
	if err := json.Unmarshal(b, &s); err != nil || s.Begin == "" || s.End == "" || s.PublicKey == "" {
		t.Fatalf("harness.cjs session: %v: %s", err, b)
	}
	return s
}

// ocmfHarness returns a directory holding a copy of test/ocmf's harness
// and its packages. The copy lives under .data so that its install never
// races the ocmf package's interop test, which installs test/ocmf's own
// packages when both test binaries run at once.
func ocmfHarness(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("../../test/ocmf")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("../../.data/ocmf-harness")
	if err != nil {
		t.Fatal(err)
	}
	ocmfOnce.Do(func() {
		ocmfErr = func() error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, f := range []string{"harness.cjs", "package.json", "package-lock.json"} {
				b, err := os.ReadFile(filepath.Join(src, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return err
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "node_modules", "@road-labs", "ocmf-crypto-noble")); err == nil {
				return nil
			}
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("npm ci for the OCMF harness: %v\n%s", err, out)
			}
			return nil
		}()
	})
	if ocmfErr != nil {
		t.Fatal(ocmfErr)
	}
	return dir
}

var (
	ocmfOnce sync.Once
	ocmfErr  error
)

// TestOCPPJChargersEndToEnd: an OCPP 1.6 and an OCPP 2.0.1 charge point
// boot, report status, authorize and run a transaction with periodic and
// signed meter values (OCMF records signed by @road-labs/ocmf); the
// sessions exist, are priced and verified, their CDRs carry the records
// as OCPI signed_data, the readings are queryable and the connectors'
// availability counts time in the states they reported. Then a reconnect
// mid-transaction, and the refused handshakes.
func TestOCPPJChargersEndToEnd(t *testing.T) {
	t.Parallel()
	e := newOCPPEnv(t)
	ocppHarness(t)
	// The transactions run from t0 for 3 minutes, in the recent past; the
	// signed readings are their meterStart/meterStop (1.6: 1 → 3 kWh) and
	// first/last energy values (2.0.1: 5 → 7 kWh).
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	t1 := t0.Add(3 * time.Minute)
	sig16 := signSession(t, t0, t1, 1, 3)
	sig201 := signSession(t, t0, t1, 5, 7)
	env := func(s signedSession) []string {
		b, _ := json.Marshal(s)
		return []string{fmt.Sprintf("CP_T0=%d", t0.UnixMilli()), "CP_SIGNED=" + string(b)}
	}
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

	// The 1.6 charge box's key is registered; the 2.0.1 one sends its own.
	expect(t, "register the OCMF key of CB-16", e.admin.do("PUT", "/v1/sources/"+e.sourceID("CB-16")+"/ocmf-public-key",
		fmt.Sprintf(`{"public_key":%q}`, sig16.PublicKey)), 204, "")

	out, failed := chargePoint(t, "session16", e.endpoint(e.acme), "CB-16", pw16, env(sig16)...)
	if failed {
		t.Fatalf("OCPP 1.6 charge point: %v", out)
	}
	if out["protocol"] != "ocpp1.6" || dig(out, "boot", "status") != "Accepted" || dig(out, "boot", "interval") != 300.0 ||
		dig(out, "authorize", "idTagInfo", "status") != "Accepted" || dig(out, "start", "idTagInfo", "status") != "Accepted" ||
		dig(out, "dataTransfer", "status") != "UnknownVendorId" || dig(out, "heartbeat", "currentTime") == nil {
		t.Fatalf("OCPP 1.6 answers: %v", out)
	}
	out201, failed := chargePoint(t, "session201", e.endpoint(e.acme), "CS-201", pw201, env(sig201)...)
	if failed {
		t.Fatalf("OCPP 2.0.1 charge point: %v", out201)
	}
	if out201["protocol"] != "ocpp2.0.1" || dig(out201, "boot", "status") != "Accepted" ||
		dig(out201, "authorize", "idTokenInfo", "status") != "Accepted" || dig(out201, "started", "idTokenInfo", "status") != "Accepted" {
		t.Fatalf("OCPP 2.0.1 answers: %v", out201)
	}

	// The sessions, priced with the charge boxes' tariff: 2 kWh each, the
	// signed readings verified; their CDRs carry the records verbatim.
	for box, sig := range map[string]signedSession{"CB-16/1": sig16, "CS-201/1": sig201} {
		s := waitSessionPriced(t, e.admin, box)
		r := e.admin.do("GET", "/v1/sessions/"+s["id"].(string), "")
		expect(t, "session of "+box, r, 200, "")
		s = r.data()
		if s["energy_kwh"] != "2" || s["total_excl_vat"] == nil || !strings.HasPrefix(s["tariff"].(string), tariff+"@") ||
			s["signature_state"] != "verified" {
			t.Fatalf("session of %s: %v", box, s)
		}
		r = e.admin.do("GET", "/v1/sessions/"+s["id"].(string)+"/cdr", "")
		expect(t, "CDR of "+box, r, 200, "")
		values, _ := dig(r.Body, "data", "signed_data", "signed_values").([]any)
		if len(values) != 2 || dig(r.Body, "data", "signed_data", "encoding_method") != "OCMF" ||
			dig(values[0], "nature") != "Start" || dig(values[0], "signed_data") != sig.Begin ||
			dig(values[1], "nature") != "End" || dig(values[1], "signed_data") != sig.End {
			t.Fatalf("CDR signed_data of %s: %v", box, dig(r.Body, "data", "signed_data"))
		}
	}
	// The meter values are readings of the connectors (meterStart and
	// meterStop are not); the 1.6 box's signed Begin and End readings are
	// two more, the 2.0.1 one's sign values it sends anyway.
	for box, want := range map[string]int{"CB-16/1": 4, "CS-201/1": 4} {
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
	// The availability route counts the connectors' time in those states.
	from := t0.UTC().Truncate(time.Hour).Format(time.RFC3339)
	to := time.Now().UTC().Truncate(time.Hour).Add(time.Hour).Format(time.RFC3339)
	for box, state := range map[string]string{"CB-16/1": "Preparing", "CS-201/1": "Occupied"} {
		r := e.reader.do("GET", "/v1/sources/"+e.sourceID(box)+"/availability?from="+from+"&to="+to+"&bucket=1h", "")
		expect(t, "availability of "+box, r, 200, "")
		var secs float64
		for _, b := range rows(t, r) {
			n, _ := dig(b, "seconds", state).(float64)
			secs += n
		}
		if secs <= 0 {
			t.Fatalf("availability of %s: no time %s: %v", box, state, r.Body)
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
