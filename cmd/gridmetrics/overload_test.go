//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// TestOverloadSheds drives many clients at a server with a small ingest
// queue: the excess must be refused at once with 503 OVERLOADED and
// Retry-After, everything else written, and memory must stay bounded
// (DESIGN §4).
func TestOverloadSheds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	t.Parallel()
	const (
		queueRows = 2000
		clients   = 64
		batchRows = 500
		duration  = 2 * time.Second
		// Generous: the child is race-instrumented under go test -race,
		// which multiplies its memory several times.
		maxRSS = 400 << 20
	)
	dbURL := dbtest.NewURL(t)
	tenant := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "fleet", "--auto-register"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", tenant, "--scopes", "ingest"))
	srv := startServerProcess(t, dbURL,
		"--ingest-queue-rows", strconv.Itoa(queueRows), "--ingest-linger", "200ms",
		"--ingest-writers", "1", "--ingest-batch-rows", "1000")

	// Sample the queue gauge meanwhile: it must never exceed the bound.
	stopSampling := make(chan struct{})
	sampled := make(chan float64, 1)
	go func() {
		hc := &http.Client{Timeout: 2 * time.Second}
		peak := 0.0
		defer func() { sampled <- peak }()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if q, err := queueGauge(hc, srv.base); err == nil && q > peak {
				peak = q
			}
		}
	}()

	// The database holds the writer (a lock on readings) until the first
	// request is shed: the queue then fills however fast this machine
	// decodes, and the rows queued meanwhile are committed once it goes.
	release := lockTable(t, dbURL, "readings", "SHARE")
	var released atomic.Bool

	base := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	lc := newLoadClient(srv.base, key, clients)
	var (
		mu       sync.Mutex
		answers  = map[string]int{}
		ok, shed atomic.Int64
	)
	start := time.Now()
	go func() {
		for shed.Load() == 0 && time.Since(start) < 10*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
		_ = release()
		released.Store(true)
	}()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("overload-%02d", c)
			for seq := 0; time.Since(start) < duration || !released.Load(); seq += batchRows {
				rows := make([]loadRow, batchRows)
				for i := range rows {
					// A millisecond apart: however fast the clients, times
					// stay unique and in the past.
					rows[i] = loadRow{source: src, at: base.Add(time.Duration(seq+i) * time.Millisecond), value: float64(seq + i)}
				}
				ans := lc.post(readingsBody(rows))
				var what string
				switch {
				case ans.Err != nil:
					what = "transport error: " + ans.Err.Error()
				case ans.Status == http.StatusOK && ans.Accepted == batchRows:
					what = "200"
					ok.Add(1)
				case ans.Status == http.StatusServiceUnavailable && ans.Code == "OVERLOADED" && ans.RetryAfter != "":
					what = "503 OVERLOADED with Retry-After"
					shed.Add(1)
				default:
					what = fmt.Sprintf("%d %s (Retry-After %q, accepted %d)", ans.Status, ans.Code, ans.RetryAfter, ans.Accepted)
				}
				mu.Lock()
				answers[what]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stopSampling)
	peakQueue := <-sampled

	rss, err := srv.peakRSS()
	if err != nil {
		t.Fatalf("peak RSS: %v", err)
	}
	t.Logf("%d clients × %d-row batches for %s: answers %v; peak queue %.0f rows; server peak RSS (VmHWM) %.1f MiB",
		clients, batchRows, duration, answers, peakQueue, float64(rss)/(1<<20))
	for what := range answers {
		if what != "200" && what != "503 OVERLOADED with Retry-After" {
			t.Errorf("unexpected answers: %v; log:\n%s", answers, srv.logs)
			break
		}
	}
	if ok.Load() == 0 || shed.Load() == 0 {
		t.Errorf("want both 200s and 503s, got %d and %d", ok.Load(), shed.Load())
	}
	if peakQueue > queueRows {
		t.Errorf("queue held %.0f rows, more than its bound of %d", peakQueue, queueRows)
	}
	if rss > maxRSS {
		t.Errorf("server peak RSS %d MiB, want below %d MiB", rss>>20, maxRSS>>20)
	}
}

// queueGauge reads gridmetrics_ingest_queue_rows from /metrics.
func queueGauge(hc *http.Client, base string) (float64, error) {
	res, err := hc.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "gridmetrics_ingest_queue_rows "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no queue gauge in /metrics (%v)", sc.Err())
}
