package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ingestlog/natstest"
)

// TestIngestLogFrontEnds runs the service with the ingest log: readings
// posted as JSON and as OCPP MeterValues (the code path of the OCPP-J
// endpoint too) are acknowledged once the stream has them, and written by
// the consumer; /metrics counts what went through the log.
func TestIngestLogFrontEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a NATS cluster")
	}
	t.Parallel()
	nodes := natstest.Start(t, 3)
	e := newAutoRegisterEnv(t, "--ingest-log", nodes.URLs(), "--ingest-log-stream", "FRONTENDS")
	at := base.Format(time.RFC3339)

	accepted(t, e.post("/v1/readings", "application/json", "",
		[]byte(fmt.Sprintf(`{"readings":[{"source":"log-m1","metric":"power_import","time":%q,"value":7,"unit":"kW"}]}`, at))), 1)
	v16 := fmt.Sprintf(`{"connectorId":1,"meterValue":[{"timestamp":%q,"sampledValue":[
		{"value":"1.5","measurand":"Energy.Active.Import.Register","unit":"kWh"}]}]}`, at)
	accepted(t, e.post("/v1/ocpp/CB-LOG/meter-values", "application/json", "", []byte(v16)), 1)

	// Acknowledged is in the log; written a moment later.
	if !waitFor(30*time.Second, func() bool {
		return e.values("log-m1", "power_import")[base] == 7000 && e.values("CB-LOG/1", "energy_import")[base] == 1500
	}) {
		t.Fatalf("not written: %v %v", e.values("log-m1", "power_import"), e.values("CB-LOG/1", "energy_import"))
	}
	if n := metricValue(t, e.base, "gridmetrics_ingest_log_published_messages_total"); n != 2 {
		t.Errorf("messages published = %v, want 2", n)
	}
	if !waitFor(10*time.Second, func() bool {
		return metricValue(t, e.base, "gridmetrics_ingest_log_written_messages_total") == 2
	}) {
		t.Errorf("messages written = %v, want 2", metricValue(t, e.base, "gridmetrics_ingest_log_written_messages_total"))
	}
}

func TestIngestLogSettingsRefused(t *testing.T) {
	serveFlags(t) // unsets the variables
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--ingest-log", "http://127.0.0.1:4222"}, `ingestlog.URLs: "http://127.0.0.1:4222" is not nats://host:port`},
		{[]string{"--ingest-log", "nats://127.0.0.1:1", "--ingest-log-replicas", "0"}, "ingestlog.Replicas is 0"},
		{[]string{"--ingest-log", "nats://127.0.0.1:1", "--ingest-log-max-bytes", "-1"}, "ingestlog.MaxBytes is -1: must be positive"},
		{[]string{"--ingest-log", "nats://127.0.0.1:1", "--ingest-log-max-age", "-1h"}, "ingestlog.MaxAge is -1h0m0s: must be positive"},
		{[]string{"--ingest-log", "nats://127.0.0.1:1", "--ingest-log-stream", "a.b"}, `ingestlog.Stream "a.b"`},
		{[]string{"--ingest-log", "nats://127.0.0.1:1", "--ingest-log-ack-wait", "-1s"}, "ingestlog.AckWait is -1s: must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "="), func(t *testing.T) {
			err := run(context.Background(), append([]string{"serve", "--database-url", "postgres://127.0.0.1:1/x"}, tt.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

// TestIngestLogMQTT: an MQTT message goes through the log like a request:
// acknowledged to the broker once the stream has its rows, written by the
// consumer.
func TestIngestLogMQTT(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a NATS cluster and a broker")
	}
	t.Parallel()
	nodes := natstest.Start(t, 3)
	e := newMQTTEnv(t)
	m := startServer(t, e.dbURL, append(e.serviceArgs("gm-log", "--ingest-log", nodes.URLs(), "--ingest-log-stream", "MQTT"), "--rate-limit", "0")...)
	base := "http://" + m.Addr()
	waitConnected(t, base)

	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var rows []string
	for i := range 3 {
		rows = append(rows, fmt.Sprintf(`{"source":"mlog-%d","metric":"power_import","unit":"W","time":%q,"value":%d}`, i, at.Format(time.RFC3339), 100+i))
	}
	if err := e.broker.Publish(t, mqttAcmeUser, mqttAcmePass, topic(e.acme, "readings/gateway-log"),
		[]byte(`{"readings":[`+strings.Join(rows, ",")+`]}`), 1); err != nil {
		t.Fatal(err)
	}
	got := waitReadings(t, e.dbURL, e.acme, "mlog-", 3, 30*time.Second)
	if len(got) != 3 {
		t.Fatalf("%d readings stored, want 3: %v", len(got), got)
	}
	for i, r := range got {
		if r.value != float64(100+i) || !r.at.Equal(at) {
			t.Errorf("reading %d = %+v, want %d W at %s", i, r, 100+i, at)
		}
	}
	if n := metricValue(t, base, "gridmetrics_ingest_log_published_messages_total"); n != 1 {
		t.Errorf("messages published = %v, want 1", n)
	}
}
