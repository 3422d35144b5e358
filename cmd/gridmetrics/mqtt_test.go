package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/mqtt/mqtttest"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// The MQTT subscription end to end: a private mosquitto with an ACL, the
// service subscribed to it, and devices publishing with mosquitto_pub and
// with a Go client.

// Broker accounts of the tests: the service reads everything; each
// tenant's devices write under their tenant only; a bridge may write
// anywhere (a misconfigured ACL: then only the service's own checks stand
// between a device and another tenant).
const (
	mqttServiceUser, mqttServicePass = "gridmetrics", "service-secret"
	mqttAcmeUser, mqttAcmePass       = "acme-devices", "acme-secret"
	mqttOtherUser, mqttOtherPass     = "other-devices", "other-secret"
	mqttBridgeUser, mqttBridgePass   = "bridge", "bridge-secret"
)

// mqttEnv is a broker and a database with two tenants: acme registers
// sources on first sight, other does not.
type mqttEnv struct {
	t           *testing.T
	broker      *mqtttest.Broker
	dbURL       string
	acme, other string
	key         func(tenant, scopes string) string
}

func newMQTTEnv(t *testing.T) *mqttEnv {
	t.Helper()
	return newMQTTEnvOn(t, dbtest.NewURL(t))
}

// newMQTTEnvOn is newMQTTEnv on a migrated database of the test's own.
func newMQTTEnvOn(t *testing.T, dbURL string) *mqttEnv {
	t.Helper()
	return newMQTTEnvWith(t, dbURL, nil)
}

// newMQTTEnvWith is newMQTTEnvOn with a broker that also listens with TLS.
func newMQTTEnvWith(t *testing.T, dbURL string, tls *mqtttest.TLSFiles) *mqttEnv {
	t.Helper()
	e := &mqttEnv{t: t, dbURL: dbURL}
	e.acme = tenantID(t, cli(t, e.dbURL, "tenant", "create", "--name", "acme", "--auto-register"))
	e.other = tenantID(t, cli(t, e.dbURL, "tenant", "create", "--name", "other"))
	e.key = func(tenant, scopes string) string {
		return strings.TrimSpace(cli(t, e.dbURL, "apikey", "create", "--tenant", tenant, "--scopes", scopes))
	}
	e.broker = mqtttest.Start(t, mqtttest.Options{Users: []mqtttest.User{
		{Name: mqttServiceUser, Password: mqttServicePass, Read: []string{"gridmetrics/#"}},
		{Name: mqttAcmeUser, Password: mqttAcmePass, Write: []string{"gridmetrics/" + e.acme + "/#"}},
		{Name: mqttOtherUser, Password: mqttOtherPass, Write: []string{"gridmetrics/" + e.other + "/#"}},
		{Name: mqttBridgeUser, Password: mqttBridgePass, Write: []string{"gridmetrics/#"}},
	}, TLS: tls})
	return e
}

// serviceArgs are the settings that connect the service to the broker.
func (e *mqttEnv) serviceArgs(clientID string, extra ...string) []string {
	return append([]string{"--mqtt-url", e.broker.URL(), "--mqtt-username", mqttServiceUser, "--mqtt-password", mqttServicePass,
		"--mqtt-client-id", clientID, "--mqtt-reconnect-max", "1s"}, extra...)
}

// topic is a topic of tenant under the default prefix.
func topic(tenant, rest string) string { return "gridmetrics/" + tenant + "/" + rest }

// goPublisher is a device publishing with QoS 1 through the Go client
// (paho.golang), reconnecting when the broker goes away.
type goPublisher struct {
	addr, user, pass, id string
	cli                  *paho.Client
}

func newGoPublisher(t *testing.T, brokerURL, user, pass, id string) *goPublisher {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &goPublisher{addr: u.Host, user: user, pass: pass, id: id}
	t.Cleanup(p.close)
	return p
}

func (p *goPublisher) connect() error {
	conn, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		return err
	}
	cli := paho.NewClient(paho.ClientConfig{ClientID: p.id, Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := cli.Connect(ctx, &paho.Connect{ClientID: p.id, KeepAlive: 30, CleanStart: true,
		Username: p.user, UsernameFlag: true, Password: []byte(p.pass), PasswordFlag: true})
	if err != nil {
		conn.Close()
		return err
	}
	if ca.ReasonCode != 0 {
		conn.Close()
		return fmt.Errorf("connect refused: reason 0x%02x", ca.ReasonCode)
	}
	p.cli = cli
	return nil
}

// publish sends one QoS 1 message and returns nil once the broker has
// acknowledged it (PUBACK with a success code).
func (p *goPublisher) publish(topic string, payload []byte) error {
	if p.cli == nil {
		if err := p.connect(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.cli.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if err != nil {
		p.close()
		return err
	}
	if res.ReasonCode >= 0x80 {
		return fmt.Errorf("publish refused: reason 0x%02x", res.ReasonCode)
	}
	return nil
}

func (p *goPublisher) close() {
	if p.cli != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = p.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-waitDone(ctx, p.cli.Done())
		p.cli = nil
	}
}

// waitDone is done when either is.
func waitDone(ctx context.Context, done <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-ctx.Done():
		}
		close(out)
	}()
	return out
}

// storedReading is one reading read back: source, metric, time, value.
type storedReading struct {
	source, metric string
	at             time.Time
	value          float64
}

// readingsOf returns the readings of the tenant's sources whose external
// id starts with prefix.
func readingsOf(t *testing.T, dbURL, tenant, prefix string) []storedReading {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT s.external_id, m.name, r.time, r.value
		FROM readings r JOIN sources s ON s.id = r.source_id JOIN metrics m ON m.id = r.metric JOIN tenants t ON t.id = s.tenant_id
		WHERE t.public_id = $1 AND starts_with(s.external_id, $2) ORDER BY 1, 2, 3`, tenant, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedReading, error) {
		var s storedReading
		err := r.Scan(&s.source, &s.metric, &s.at, &s.value)
		return s, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitReadings polls until the readings of prefix number at least n.
func waitReadings(t *testing.T, dbURL, tenant, prefix string, n int, limit time.Duration) []storedReading {
	t.Helper()
	var got []storedReading
	waitFor(limit, func() bool {
		got = readingsOf(t, dbURL, tenant, prefix)
		return len(got) >= n
	})
	return got
}

// rejectionsOf lists a tenant's dead-letter record through the API.
func rejectionsOf(c client) []map[string]any {
	c.t.Helper()
	r := c.do("GET", "/v1/mqtt/rejections?limit=1000", "")
	expect(c.t, "list MQTT rejections", r, 200, "")
	var out []map[string]any
	for _, x := range r.Body["data"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// waitRejection polls the record until a rejection of topic appears, and
// returns it.
func waitRejection(t *testing.T, c client, topic string) map[string]any {
	t.Helper()
	var found map[string]any
	if !waitFor(10*time.Second, func() bool {
		for _, r := range rejectionsOf(c) {
			if r["topic"] == topic {
				found = r
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no rejection of %s after 10s; the record: %v", topic, rejectionsOf(c))
	}
	return found
}

func TestMQTTPresetsEndToEnd(t *testing.T) {
	e := newMQTTEnv(t)
	m := startServer(t, e.dbURL, append(e.serviceArgs("gm-presets", "--mqtt-max-payload", "4096"), "--rate-limit", "0")...)
	base := "http://" + m.Addr()
	admin := client{t, base, e.key(e.acme, "ingest,read,admin")}
	otherAdmin := client{t, base, e.key(e.other, "ingest,read,admin")}
	waitConnected(t, base)

	// A Tasmota plug registered in Berlin: its local times are Berlin's.
	expect(t, "create plug", admin.do("POST", "/v1/sources", `{"external_id":"plug-1","kind":"meter","timezone":"Europe/Berlin"}`), 201, "")

	// Readings of yesterday: inside the raw retention whatever the date.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	y := time.Now().In(berlin).AddDate(0, 0, -1)
	day := y.Format("2006-01-02")
	at := func(hhmm string) string { return day + "T" + hhmm + ":00Z" }
	tasmotaAt := time.Date(y.Year(), y.Month(), y.Day(), 10, 15, 0, 0, berlin)

	// mosquitto_pub, as a device would.
	pub := func(user, pass, tp, payload string) {
		t.Helper()
		if err := e.broker.Publish(t, user, pass, tp, []byte(payload), 1); err != nil {
			t.Fatalf("publish %s: %v", tp, err)
		}
	}
	pub(mqttAcmeUser, mqttAcmePass, topic(e.acme, "tasmota/plug-1/tele/SENSOR"),
		`{"Time":"`+day+`T10:15:00","ENERGY":{"TotalStartTime":"2026-01-01T00:00:00","Total":12.345,"Yesterday":1.2,"Today":0.4,"Power":120,"Voltage":231,"Current":0.52}}`)
	pub(mqttAcmeUser, mqttAcmePass, topic(e.acme, "value/CB-0042/1/energy_import/kWh"), `{"value":1.5,"time":"`+at("08:00")+`"}`)
	pub(mqttAcmeUser, mqttAcmePass, topic(e.acme, "readings/gateway-7"),
		`{"readings":[{"source":"sub-1","metric":"power_import","unit":"kW","time":"`+at("08:00")+`","value":2.5}]}`)
	// The Go client, as a gateway would.
	gp := newGoPublisher(t, e.broker.URL(), mqttAcmeUser, mqttAcmePass, "shelly-gw")
	shellyAt := time.Date(y.Year(), y.Month(), y.Day(), 8, 0, 0, 520_000_000, time.UTC)
	if err := gp.publish(topic(e.acme, "shelly/shelly-1/events/rpc"), fmt.Appendf(nil,
		`{"src":"shellyplus1pm-1","dst":"gridmetrics","method":"NotifyStatus","params":{"ts":%d.52,"switch:0":{"id":0,"apower":845.5,"aenergy":{"total":3021.25}}}}`,
		shellyAt.Unix())); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := gp.publish(topic(e.acme, "shelly/shelly-1/status/switch:1"),
		[]byte(`{"id":1,"source":"timer","output":true,"apower":12.5,"voltage":229.9,"current":0.06,"aenergy":{"total":77.5,"by_minute":[0,0,0],"minute_ts":1782892800},"temperature":{"tC":41.2,"tF":106.2}}`)); err != nil {
		t.Fatal(err)
	}

	want := map[string]map[string]float64{
		"plug-1":     {"energy_import": 12345, "power_import": 120, "voltage": 231, "current_import": 0.52},
		"CB-0042/1":  {"energy_import": 1500},
		"sub-1":      {"power_import": 2500},
		"shelly-1":   {"power_import": 845.5, "energy_import": 3021.25},
		"shelly-1/1": {"power_import": 12.5, "voltage": 229.9, "current_import": 0.06, "energy_import": 77.5},
	}
	got := waitReadings(t, e.dbURL, e.acme, "", 12, 15*time.Second)
	seen := map[string]map[string]float64{}
	for _, r := range got {
		if seen[r.source] == nil {
			seen[r.source] = map[string]float64{}
		}
		seen[r.source][r.metric] = r.value
		switch r.source {
		case "plug-1":
			if !r.at.Equal(tasmotaAt) {
				t.Errorf("plug-1 %s at %s, want %s (Tasmota's local time in the source's zone)", r.metric, r.at, tasmotaAt.UTC())
			}
		case "shelly-1":
			if !r.at.Equal(shellyAt) {
				t.Errorf("shelly-1 %s at %s, want the notification's ts %s", r.metric, r.at, shellyAt)
			}
		case "shelly-1/1":
			if r.at.Before(before.Add(-time.Second)) || r.at.After(time.Now()) {
				t.Errorf("shelly-1/1 %s at %s: a status without a time is stamped when received", r.metric, r.at)
			}
		}
	}
	for src, metrics := range want {
		for metric, v := range metrics {
			if seen[src][metric] != v {
				t.Errorf("%s %s = %v, want %v (stored: %v)", src, metric, seen[src][metric], v, seen[src])
			}
		}
	}
	if len(got) != 12 {
		t.Errorf("%d readings stored, want 12: %v", len(got), got)
	}

	// Queryable through the API like any reading.
	r := admin.do("GET", "/v1/readings/latest?source="+url.QueryEscape(sourcePublicID(t, admin, "plug-1"))+"&metric=energy_import", "")
	expect(t, "latest of plug-1", r, 200, "")
	if !strings.Contains(fmt.Sprint(r.Body["data"]), "12345") {
		t.Errorf("latest energy of plug-1: %v", r.Body["data"])
	}

	// Poison: a payload that cannot be decoded, a metric the catalogue does
	// not know, a payload past the limit. Each is acknowledged and kept in
	// the tenant's record; the stream goes on.
	pub(mqttAcmeUser, mqttAcmePass, topic(e.acme, "tasmota/plug-1/tele/SENSOR"), `{"Time":"`+day+`T10:15:00","ENERGY":{"Total":`)
	pub(mqttAcmeUser, mqttAcmePass, topic(e.acme, "value/plug-1/flux_capacitance/GW"), `1.21`)
	pub(mqttAcmeUser, mqttAcmePass, topic(e.acme, "value/plug-1/power_import/W"), strings.Repeat("9", 5000))
	pub(mqttAcmeUser, mqttAcmePass, topic(e.acme, "value/plug-1/power_import/W"), `{"value":7,"time":"`+at("08:30")+`"}`)
	rej := waitRejection(t, admin, topic(e.acme, "tasmota/plug-1/tele/SENSOR"))
	if !strings.Contains(fmt.Sprint(rej["payload_head"]), `"ENERGY":{"Total":`) || rej["reason"] == "" {
		t.Errorf("rejection of the truncated Tasmota payload: %v", rej)
	}
	rej = waitRejection(t, admin, topic(e.acme, "value/plug-1/flux_capacitance/GW"))
	if !strings.Contains(fmt.Sprint(rej["reason"]), "UNKNOWN_METRIC") {
		t.Errorf("rejection of an unknown metric: %v", rej)
	}
	rej = waitRejection(t, admin, topic(e.acme, "value/plug-1/power_import/W"))
	if !strings.Contains(fmt.Sprint(rej["reason"]), "exceeds the limit of 4096 bytes") || rej["payload_size"] != float64(5000) ||
		rej["payload_truncated"] != true || len(fmt.Sprint(rej["payload_head"])) != 256 {
		t.Errorf("rejection of an oversized payload: %v", rej)
	}
	if got := waitReadings(t, e.dbURL, e.acme, "plug-1", 5, 10*time.Second); len(got) != 5 {
		t.Errorf("the message after the poison ones: plug-1 has %d readings, want 5", len(got))
	}

	// Tenants: other's devices may not publish under acme (the broker's
	// ACL refuses it: PUBACK "not authorized"), and a bridge that may
	// write anywhere still writes into the topic's tenant only, where the
	// device is not a source: refused per row, and recorded there.
	if err := e.broker.Publish(t, mqttOtherUser, mqttOtherPass, topic(e.acme, "value/plug-1/power_import/W"), []byte(`{"value":666,"time":"`+at("09:00")+`"}`), 1); err == nil {
		t.Error("the ACL let other's device publish under acme's prefix")
	}
	pub(mqttBridgeUser, mqttBridgePass, topic(e.other, "value/plug-1/power_import/W"), `{"value":666,"time":"`+at("09:00")+`"}`)
	rej = waitRejection(t, otherAdmin, topic(e.other, "value/plug-1/power_import/W"))
	if !strings.Contains(fmt.Sprint(rej["reason"]), "UNKNOWN_SOURCE") {
		t.Errorf("a device other does not know: %v", rej)
	}
	for _, r := range readingsOf(t, e.dbURL, e.acme, "plug-1") {
		if r.value == 666 {
			t.Errorf("a publication under other's prefix reached acme: %v", r)
		}
	}
	for _, r := range rejectionsOf(otherAdmin) {
		if strings.HasPrefix(fmt.Sprint(r["topic"]), topic(e.acme, "")) {
			t.Errorf("other sees acme's rejection %v", r)
		}
	}
	if n := len(readingsOf(t, e.dbURL, e.other, "")); n != 0 {
		t.Errorf("other has %d readings", n)
	}

	// The record's route is bounded like every list.
	expect(t, "rejections past the page limit", admin.do("GET", "/v1/mqtt/rejections?limit=100000", ""), 400, "VALIDATION_ERROR")
	expect(t, "rejections without read scope", client{t, base, e.key(e.acme, "ingest")}.do("GET", "/v1/mqtt/rejections", ""), 403, "FORBIDDEN")

	// The connection shows in /metrics.
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, line := range []string{"gridmetrics_mqtt_connected 1", `gridmetrics_mqtt_messages_total{outcome="stored"} 6`, `gridmetrics_mqtt_messages_total{outcome="rejected"} 4`} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// sourcePublicID is the public id of the caller's source named external.
func sourcePublicID(t *testing.T, c client, external string) string {
	t.Helper()
	r := c.do("GET", "/v1/sources?external_id="+url.QueryEscape(external), "")
	expect(t, "find "+external, r, 200, "")
	list, _ := r.Body["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d sources named %s: %v", len(list), external, r.Body)
	}
	return fmt.Sprint(list[0].(map[string]any)["id"])
}

// waitConnected waits until /readyz shows the broker connection up.
func waitConnected(t *testing.T, base string) {
	t.Helper()
	var last string
	if !waitFor(15*time.Second, func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		last = string(b)
		return strings.Contains(last, `"mqtt":{"status":"connected"`)
	}) {
		t.Fatalf("the service did not connect to the broker within 15s; /readyz: %s", last)
	}
}

// TestMQTTBackPressure runs the subscription against an ingest queue of 40
// rows: messages of 8 rows from several gateways keep it full, so writes
// wait (unacknowledged: the broker holds back more than mqtt-inflight) and
// every message is stored in the end; a message of more rows than the
// queue could ever take goes to the record at once instead of waiting for
// ever. Messages outside the topic layout or for no tenant are
// acknowledged and counted.
func TestMQTTBackPressure(t *testing.T) {
	e := newMQTTEnv(t)
	m := startServer(t, e.dbURL, e.serviceArgs("gm-pressure", "--ingest-queue-rows", "40", "--ingest-batch-rows", "8",
		"--ingest-writers", "1", "--mqtt-inflight", "16")...)
	base := "http://" + m.Addr()
	admin := client{t, base, e.key(e.acme, "read")}
	waitConnected(t, base)

	const gateways, messages, rowsPerMessage = 4, 40, 8
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	var wg sync.WaitGroup
	for g := range gateways {
		p := newGoPublisher(t, e.broker.URL(), mqttAcmeUser, mqttAcmePass, fmt.Sprintf("pressure-gw-%d", g))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range messages {
				var rows []loadRow
				for r := range rowsPerMessage {
					rows = append(rows, loadRow{source: fmt.Sprintf("bp-%d", g), at: at.Add(time.Duration(i*rowsPerMessage+r) * time.Millisecond), value: float64(r)})
				}
				if err := p.publish(topic(e.acme, fmt.Sprintf("readings/gw-%d", g)), readingsBody(rows)); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := waitReadings(t, e.dbURL, e.acme, "bp-", gateways*messages*rowsPerMessage, 60*time.Second)
	if len(got) != gateways*messages*rowsPerMessage {
		t.Fatalf("%d readings stored, want %d", len(got), gateways*messages*rowsPerMessage)
	}
	if n := metricValue(t, base, "gridmetrics_mqtt_retries_total"); n == 0 {
		t.Error("no message waited for the full queue: the test did not fill it")
	}

	var big []loadRow
	for r := range 41 {
		big = append(big, loadRow{source: "bp-big", at: at.Add(time.Duration(r) * time.Millisecond), value: 1})
	}
	if err := e.broker.Publish(t, mqttAcmeUser, mqttAcmePass, topic(e.acme, "readings/gw-big"), readingsBody(big), 1); err != nil {
		t.Fatal(err)
	}
	rej := waitRejection(t, admin, topic(e.acme, "readings/gw-big"))
	if !strings.Contains(fmt.Sprint(rej["reason"]), "more than 40 readings") {
		t.Errorf("a message larger than the queue: %v", rej)
	}

	for _, tp := range []string{"gridmetrics/ten_00000000000000000000/value/x/power_import/W", "gridmetrics/" + e.acme} {
		if err := e.broker.Publish(t, mqttBridgeUser, mqttBridgePass, tp, []byte("1"), 1); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(10*time.Second, func() bool {
		return metricValue(t, base, `gridmetrics_mqtt_messages_total{outcome="unknown_tenant"}`) == 1 &&
			metricValue(t, base, `gridmetrics_mqtt_messages_total{outcome="invalid_topic"}`) == 1
	}) {
		t.Error("a message for no tenant and one outside the layout are not counted")
	}
}

// TestMQTTReadmeExample runs the README's mosquitto_pub line against the
// demo, as a newcomer would after make run (the broker's address and an
// account put in for the test's broker): the Tasmota reading lands on the
// demo depot's plug.
func TestMQTTReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "mosquitto_pub -q 1 -L ")
	if start < 0 {
		t.Fatal("the README has no mosquitto_pub example")
	}
	var line string
	for l := range strings.SplitSeq(string(readme[start:]), "\n") {
		line += l + "\n"
		if !strings.HasSuffix(l, `\`) {
			break
		}
	}
	e := newMQTTEnv(t)
	envFile := filepath.Join(t.TempDir(), "demo.env")
	cli(t, e.dbURL, "demo", "--env-file", envFile)
	tenant := readEnvValue(envFile, "GRIDMETRICS_TENANT_ID")
	m := startServer(t, e.dbURL, append(e.serviceArgs("gm-readme"), "--rollup-jobs=false")...)
	waitConnected(t, "http://"+m.Addr())

	brokerURL := strings.Replace(e.broker.URL(), "mqtt://", "mqtt://"+mqttBridgeUser+":"+mqttBridgePass+"@", 1)
	line = strings.Replace(line, "mqtt://127.0.0.1:18830", brokerURL, 1)
	cmd := exec.Command("bash", "-euc", line)
	cmd.Env = append(os.Environ(), "GRIDMETRICS_TENANT_ID="+tenant)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	got := waitReadings(t, e.dbURL, tenant, demoPlug, 4, 10*time.Second)
	energy := 0.0
	for _, r := range got {
		if r.metric == "energy_import" {
			energy = r.value
			if time.Since(r.at) > time.Minute || time.Until(r.at) > time.Second {
				t.Errorf("the plug's reading is at %s: Tasmota's Berlin time was not read as Berlin time", r.at)
			}
		}
	}
	if len(got) != 4 || energy != 12345 {
		t.Errorf("the README's Tasmota reading: %v", got)
	}
}

// TestMQTTOverTLS connects to the broker's TLS listener (mqtts://) with a
// private CA: readings flow; without the CA the connection is refused and
// /readyz says why.
func TestMQTTOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestCA(t, dir)
	e := newMQTTEnvWith(t, dbtest.NewURL(t), &mqtttest.TLSFiles{CertFile: cert, KeyFile: key})
	args := []string{"--mqtt-url", e.broker.TLSURL(), "--mqtt-username", mqttServiceUser, "--mqtt-password", mqttServicePass,
		"--mqtt-reconnect-max", "1s"}
	m := startServer(t, e.dbURL, append(args, "--mqtt-client-id", "gm-tls", "--mqtt-ca-file", ca)...)
	waitConnected(t, "http://"+m.Addr())
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if err := e.broker.Publish(t, mqttAcmeUser, mqttAcmePass, topic(e.acme, "value/tls-meter/power_import/W"), []byte(`{"value":42,"time":"`+at+`"}`), 1); err != nil {
		t.Fatal(err)
	}
	if got := waitReadings(t, e.dbURL, e.acme, "tls-meter", 1, 10*time.Second); len(got) != 1 || got[0].value != 42 {
		t.Errorf("over TLS: %v", got)
	}

	untrusting := startServer(t, e.dbURL, append(args, "--mqtt-client-id", "gm-tls-untrusting")...)
	var ready string
	if !waitFor(10*time.Second, func() bool {
		res, err := http.Get("http://" + untrusting.Addr() + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ready = string(b)
		return strings.Contains(ready, "TLS certificate is not trusted")
	}) {
		t.Errorf("/readyz of a service that does not trust the broker: %s", ready)
	}
}

// writeTestCA writes a CA and a certificate for 127.0.0.1 it signs, as PEM
// files in dir.
func writeTestCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Gridmetrics test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, kind string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server-key.pem", "PRIVATE KEY", keyDER)
}
