package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDriveSendsEachMessageOnce(t *testing.T) {
	t.Parallel()
	msgs := make([]message, 500)
	for i := range msgs {
		msgs[i] = message{first: i, n: 1}
	}
	var mu sync.Mutex
	sent := map[int]int{}
	var announced atomic.Int64
	lat, err := drive(context.Background(), msgs, 7, 0, func(_ context.Context, w int, m message) error {
		if w < 0 || w >= 7 {
			return fmt.Errorf("worker %d of 7", w)
		}
		mu.Lock()
		sent[m.first]++
		mu.Unlock()
		return nil
	}, func(message, time.Time) { announced.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != len(msgs) || len(lat) != len(msgs) || announced.Load() != int64(len(msgs)) {
		t.Fatalf("%d distinct sent, %d latencies, %d announced; want %d each", len(sent), len(lat), announced.Load(), len(msgs))
	}
	for i, n := range sent {
		if n != 1 {
			t.Errorf("message %d sent %d times", i, n)
		}
	}
	for i := 1; i < len(lat); i++ {
		if lat[i] < lat[i-1] {
			t.Fatal("latencies not sorted")
		}
	}
}

// Paced, message i is due at i/rate and counts its latency from then: a
// send held up behind a slow one is late by the wait.
func TestDrivePaced(t *testing.T) {
	t.Parallel()
	msgs := make([]message, 40)
	var dues []time.Time
	var mu sync.Mutex
	began := time.Now()
	lat, err := drive(context.Background(), msgs, 1, 400, func(context.Context, int, message) error {
		time.Sleep(time.Millisecond)
		return nil
	}, func(_ message, due time.Time) {
		mu.Lock()
		dues = append(dues, due)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 39*time.Second/400 {
		t.Errorf("40 messages at 400/s took %v, want at least %v", took, 39*time.Second/400)
	}
	for i := 1; i < len(dues); i++ {
		if gap := dues[i].Sub(dues[i-1]); gap < 2400*time.Microsecond || gap > 2600*time.Microsecond {
			t.Fatalf("due times %d and %d are %v apart, want 2.5 ms", i-1, i, gap)
		}
	}
	if lat[0] < time.Millisecond {
		t.Errorf("shortest latency %v, shorter than the send", lat[0])
	}

	// One worker whose sends take 10 ms cannot keep 400/s: the latencies
	// grow with the backlog.
	lat, err = drive(context.Background(), make([]message, 10), 1, 400, func(context.Context, int, message) error {
		time.Sleep(10 * time.Millisecond)
		return nil
	}, func(message, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	if lat[len(lat)-1] < 50*time.Millisecond {
		t.Errorf("the last of 10 messages due every 2.5 ms, each taking 10 ms, waited only %v", lat[len(lat)-1])
	}
}

func TestDriveStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	boom := errors.New("refused")
	_, err := drive(context.Background(), make([]message, 1000), 4, 0, func(_ context.Context, _ int, m message) error {
		if calls.Add(1) == 10 {
			return boom
		}
		time.Sleep(100 * time.Microsecond)
		return nil
	}, func(message, time.Time) {})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the send's error", err)
	}
	if n := calls.Load(); n > 20 {
		t.Errorf("%d sends after the failure began", n)
	}
}

// metricsPage is a /metrics page in the Prometheus text format.
func metricsPage(stored, rejected, inflight, retries int) string {
	return fmt.Sprintf(`# HELP gridmetrics_mqtt_inflight MQTT messages received and not yet acknowledged.
# TYPE gridmetrics_mqtt_inflight gauge
gridmetrics_mqtt_inflight %d
# TYPE gridmetrics_mqtt_messages_total counter
gridmetrics_mqtt_messages_total{outcome="rejected"} %d
gridmetrics_mqtt_messages_total{outcome="stored"} %d
gridmetrics_mqtt_retries_total %d
gridmetrics_mqtt_inflight_other 99
`, inflight, rejected, stored, retries)
}

func TestWaitStored(t *testing.T) {
	t.Parallel()
	var scrapes atomic.Int64
	var rejected atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		n := int(scrapes.Add(1))
		fmt.Fprint(w, metricsPage(100+n*10, 3+int(rejected.Load()), 256-n, 7))
	}))
	defer srv.Close()
	ctx := context.Background()

	before, err := mqttCounts(ctx, http.DefaultClient, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if before.outcomes["stored"] != 110 || before.outcomes["rejected"] != 3 || before.inflight != 255 || before.retries != 7 {
		t.Fatalf("parsed %+v", before)
	}
	at, peak, err := waitStored(ctx, srv.URL, before, 50, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n := scrapes.Load(); n != 6 || peak != 254 || at.IsZero() {
		t.Errorf("done after %d scrapes (want 6: 110 → 160 stored), peak %d (want 254), at %v", n, peak, at)
	}

	// A message that ends any other way than stored fails the phase.
	before, _ = mqttCounts(ctx, http.DefaultClient, srv.URL)
	rejected.Store(1)
	if _, _, err := waitStored(ctx, srv.URL, before, 1000, 10*time.Second); err == nil || !strings.Contains(err.Error(), "1 messages ended rejected") {
		t.Errorf("err = %v, want the rejection", err)
	}
	// And a phase that never finishes ends at the limit.
	before, _ = mqttCounts(ctx, http.DefaultClient, srv.URL)
	if _, _, err := waitStored(ctx, srv.URL, before, 1<<30, 150*time.Millisecond); err == nil || !strings.Contains(err.Error(), "messages stored after") {
		t.Errorf("err = %v, want the limit", err)
	}
}
