package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runResult is one timed run.
type runResult struct {
	rows      int
	elapsed   time.Duration
	latencies []time.Duration // per request, first send to acknowledgement
	retries   int             // 503 answers that were retried
}

func (r runResult) rowsPerSecond() float64 { return float64(r.rows) / r.elapsed.Seconds() }

// postAll sends every body to POST /v1/readings from clients concurrent
// clients, in order, and times first send to last acknowledgement. A 503 is
// retried after a pause; any other answer than 200 with every row accepted
// fails the run.
func postAll(ctx context.Context, base, key, contentType string, bodies [][]byte, sizes []int, clients int) (runResult, error) {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		next      atomic.Int64
		retries   atomic.Int64
		latencies = make([]time.Duration, len(bodies))
		wg        sync.WaitGroup
	)
	post := func(i int) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/readings", bytes.NewReader(bodies[i]))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", contentType)
		res, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		return res.StatusCode, raw, err
	}
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) || ctx.Err() != nil {
					return
				}
				sent := time.Now()
				for {
					status, raw, err := post(i)
					if err != nil {
						cancel(fmt.Errorf("request %d: %w", i, err))
						return
					}
					if status == http.StatusServiceUnavailable {
						retries.Add(1)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					var ans struct {
						Data struct {
							Accepted int `json:"accepted"`
						} `json:"data"`
					}
					if status != http.StatusOK || json.Unmarshal(raw, &ans) != nil || ans.Data.Accepted != sizes[i] {
						cancel(fmt.Errorf("request %d: status %d, want 200 with %d rows accepted: %.300s", i, status, sizes[i], raw))
						return
					}
					break
				}
				latencies[i] = time.Since(sent)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return runResult{}, err
	}
	rows := 0
	for _, n := range sizes {
		rows += n
	}
	slices.Sort(latencies)
	return runResult{rows: rows, elapsed: elapsed, latencies: latencies, retries: int(retries.Load())}, nil
}

// copyRows feeds one request's rows to pgx's CopyFrom, resolved to
// source ids 1..N and the catalogue's metric ids.
type copyRows struct {
	rows    []reading
	metrics *[len(benchMetrics)]int16
	i       int
	values  []any
}

func (c *copyRows) Next() bool { c.i++; return c.i < len(c.rows) }
func (c *copyRows) Err() error { return nil }

func (c *copyRows) Values() ([]any, error) {
	r := c.rows[c.i]
	c.values[0] = time.UnixMicro(r.time)
	c.values[1] = int64(r.source) + 1
	c.values[2] = c.metrics[r.metric]
	c.values[3] = r.value
	return c.values, nil
}

var readingsColumns = []string{"time", "source_id", "metric", "value"}

// copyAll is the baseline: pgx CopyFrom of the same requests' rows straight
// into readings, clients connections at once, each request one COPY (and
// one transaction).
func copyAll(ctx context.Context, pool *pgxpool.Pool, d *dataset, metrics *[len(benchMetrics)]int16, clients int) (runResult, error) {
	// Open the connections before the clock starts.
	conns := make([]*pgxpool.Conn, clients)
	for i := range conns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return runResult{}, err
		}
		conns[i] = c
	}
	var (
		next      atomic.Int64
		latencies = make([]time.Duration, d.requestCount())
		errs      = make([]error, clients)
		wg        sync.WaitGroup
	)
	start := time.Now()
	for w, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Release()
			for {
				i := int(next.Add(1)) - 1
				if i >= d.requestCount() {
					return
				}
				sent := time.Now()
				src := &copyRows{rows: d.request(i), metrics: metrics, i: -1, values: make([]any, 4)}
				if _, err := conn.CopyFrom(ctx, pgx.Identifier{"readings"}, readingsColumns, src); err != nil {
					errs[w] = fmt.Errorf("baseline copy %d: %w", i, err)
					next.Store(int64(d.requestCount())) // stop the others
					return
				}
				latencies[i] = time.Since(sent)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return runResult{}, err
	}
	slices.Sort(latencies)
	return runResult{rows: len(d.rows), elapsed: elapsed, latencies: latencies}, nil
}
