package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/ocppj"
)

// password is every charge box's: one stored hash serves all.
const password = "bench-ocpp-password-0001"

// createChargers registers the chargers over the API and stores their
// password through the OCPP-J store, and returns their charge box ids.
func createChargers(ctx context.Context, base, key, dbURL, tenant string, cfg config) ([]string, error) {
	boxes := make([]string, cfg.conns)
	for i := range boxes {
		boxes[i] = fmt.Sprintf("CB-%05d", i+1)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	err := parallel(ctx, len(boxes), 8, func(i int) error {
		body := fmt.Sprintf(`{"external_id":%q,"kind":"charger"}`, boxes[i])
		status, answer, err := do(ctx, client, http.MethodPost, base+"/v1/sources", key, body)
		if err != nil {
			return err
		}
		if status != http.StatusCreated && status != http.StatusOK {
			return fmt.Errorf("create charger %s: %d %s", boxes[i], status, answer)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pool, err := benchutil.OpenPool(ctx, dbURL, 4)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var tenantID int64
	if err := pool.QueryRow(ctx, "SELECT id FROM tenants WHERE public_id = $1", tenant).Scan(&tenantID); err != nil {
		return nil, fmt.Errorf("tenant %s: %w", tenant, err)
	}
	hash, err := ocppj.HashPassword(password, cfg.iterations)
	if err != nil {
		return nil, err
	}
	store := ocppj.NewStore(pool)
	err = parallel(ctx, len(boxes), 4, func(i int) error {
		_, err := store.SetPassword(ctx, tenantID, boxes[i], hash)
		return err
	})
	return boxes, err
}

// do sends one request and reads its answer.
func do(ctx context.Context, client *http.Client, method, url, key, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, string(b), err
}

// parallel runs fn(0…n-1) on workers goroutines and returns the first
// error; after one, the rest are skipped.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// fleet is the open charge-point connections.
type fleet struct {
	boxes []string
	conns []*websocket.Conn
}

// connect opens a connection per box, dialers at once, and stops at the
// first failure (most likely the machine's limit); it returns those open.
func connect(ctx context.Context, wsBase string, boxes []string, dialers int) (*fleet, time.Duration, error) {
	dialer := &websocket.Dialer{Subprotocols: []string{"ocpp1.6"}, HandshakeTimeout: 60 * time.Second,
		ReadBufferSize: 1024, WriteBufferSize: 1024}
	conns := make([]*websocket.Conn, len(boxes))
	began := time.Now()
	err := parallel(ctx, len(boxes), dialers, func(i int) error {
		h := http.Header{}
		h.Set("Authorization", basicAuth(boxes[i], password))
		c, res, err := dialer.DialContext(ctx, wsBase+boxes[i], h)
		if err != nil {
			status := 0
			if res != nil {
				status = res.StatusCode
			}
			return fmt.Errorf("connect %s (HTTP %d): %w", boxes[i], status, err)
		}
		conns[i] = c
		return nil
	})
	f := &fleet{}
	for i, c := range conns {
		if c != nil {
			f.boxes = append(f.boxes, boxes[i])
			f.conns = append(f.conns, c)
		}
	}
	return f, time.Since(began), err
}

func (f *fleet) close() {
	for _, c := range f.conns {
		_ = c.Close()
	}
}

// meterValues has every connection send a MeterValues CALL every interval,
// starting at a random point of the first interval, which is the warm-up
// (it registers the connectors); what is sent in the duration after it is
// measured.
func (f *fleet) meterValues(ctx context.Context, interval, duration time.Duration, pid int) (*phase, error) {
	start := time.Now()
	from, to := start.Add(interval), start.Add(interval+duration)
	latencies := make([][]time.Duration, len(f.conns))
	var messages, failures atomic.Int64
	var warmupFailures, lost atomic.Int64 // CALLERRORs in all, connections lost
	var firstErr atomic.Value
	cpuBefore, _, err := benchutil.CPUTime(pid)
	if err != nil {
		return nil, err
	}
	var cpuAtFrom time.Duration
	go func() { // the server's CPU from the end of the warm-up
		select {
		case <-time.After(time.Until(from)):
			cpuAtFrom, _, _ = benchutil.CPUTime(pid)
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	for i, c := range f.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(time.Duration(rand.Int64N(int64(interval))))
			for seq := 0; ; seq++ {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				if !next.Before(to) {
					return
				}
				sent := time.Now()
				id := strconv.Itoa(seq)
				frame := fmt.Appendf(nil, `[2,%q,"MeterValues",{"connectorId":1,"meterValue":[{"timestamp":%q,"sampledValue":[{"value":"%d","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}]`,
					id, sent.UTC().Format(time.RFC3339Nano), 1000+seq*10)
				_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
				err := c.WriteMessage(websocket.TextMessage, frame)
				var answer []byte
				if err == nil {
					_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
					_, answer, err = c.ReadMessage()
				}
				if err == nil {
					err = callResult(answer, id)
					if err != nil {
						// A CALLERROR (the server busy): the connection
						// goes on, as a charger's would.
						warmupFailures.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", f.boxes[i], err))
						if !sent.Before(from) {
							failures.Add(1)
						}
						next = next.Add(interval)
						continue
					}
				}
				measured := !sent.Before(from)
				if err != nil {
					if measured {
						failures.Add(1)
					}
					lost.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", f.boxes[i], err))
					return
				}
				if measured {
					messages.Add(1)
					latencies[i] = append(latencies[i], time.Since(sent))
				}
				next = next.Add(interval)
			}
		}()
	}
	// The memory with every connection open and busy, near the end.
	var rss int64
	select {
	case <-time.After(time.Until(to.Add(-interval / 2))):
		rss, _ = residentMemory(pid)
	case <-ctx.Done():
	}
	wg.Wait()
	cpuEnd, _, _ := benchutil.CPUTime(pid)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if cpuAtFrom == 0 {
		cpuAtFrom = cpuBefore
	}
	if e, ok := firstErr.Load().(error); ok {
		fmt.Printf("ocpp-j:  first error: %v (%d CALLERRORs, warm-up included; %d connections lost)\n", e, warmupFailures.Load(), lost.Load())
	}
	return &phase{name: "ocpp-j", messages: int(messages.Load()), errors: int(failures.Load()),
		elapsed: duration, cpu: cpuEnd - cpuAtFrom, latencies: sortLatencies(latencies), rss: rss}, nil
}

// postReadings sends rate single-reading POST /v1/readings per second for
// duration, round the boxes' connectors, from clients keep-alive clients.
func postReadings(ctx context.Context, base, key string, boxes []string, rate float64, duration time.Duration, clients int, pid int) (*phase, error) {
	if rate <= 0 || len(boxes) == 0 {
		return nil, errors.New("no OCP-J messages were acknowledged: nothing to compare with")
	}
	transport := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Timeout: 60 * time.Second, Transport: transport}
	defer transport.CloseIdleConnections()
	total := int(rate * duration.Seconds())
	jobs := make(chan time.Time, clients)
	latencies := make([][]time.Duration, clients)
	var messages, failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	var seq atomic.Int64
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for due := range jobs {
				n := int(seq.Add(1))
				box := boxes[n%len(boxes)]
				body := fmt.Sprintf(`{"readings":[{"source":"%s/1","metric":"energy_import","time":%q,"value":%d,"unit":"Wh"}]}`,
					box, time.Now().UTC().Format(time.RFC3339Nano), 100_000+n)
				status, answer, err := do(ctx, client, http.MethodPost, base+"/v1/readings", key, body)
				if err == nil && status != http.StatusOK && status != http.StatusAccepted && status != http.StatusCreated {
					err = fmt.Errorf("POST /v1/readings: %d %s", status, answer)
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				messages.Add(1)
				// From when it was due: a queue behind slow answers counts.
				latencies[w] = append(latencies[w], time.Since(due))
			}
		}()
	}
	var elapsed time.Duration
	cpu, err := measure(pid, func() error {
		began := time.Now()
		for i := range total {
			due := began.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(due)):
			}
			if ctx.Err() != nil {
				break
			}
			jobs <- due
		}
		close(jobs)
		wg.Wait()
		elapsed = time.Since(began)
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	if e, ok := firstErr.Load().(error); ok {
		fmt.Printf("http:    first error: %v\n", e)
	}
	return &phase{name: "http", messages: int(messages.Load()), errors: int(failures.Load()),
		elapsed: elapsed, cpu: cpu, latencies: sortLatencies(latencies)}, nil
}
