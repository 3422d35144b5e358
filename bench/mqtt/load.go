package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// drive sends every message through send from workers goroutines, in
// order, and returns each message's latency (from when it was due to when
// send returned), sorted. With rate 0 it is a closed loop: each worker
// sends its next message as soon as the last is answered. With a rate,
// message i is due at i/rate seconds after the start and waits for it:
// latencies count from the due time, so a send delayed behind slow
// answers counts as slow. sending is called with each message and the
// time it counts from, before it is sent.
func drive(ctx context.Context, msgs []message, workers int, rate float64, send func(ctx context.Context, w int, m message) error, sending func(message, time.Time)) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next      atomic.Int64
		latencies = make([]time.Duration, len(msgs))
		wg        sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(msgs) || ctx.Err() != nil {
					return
				}
				from := time.Now()
				if rate > 0 {
					from = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Until(from)):
					}
				}
				sending(msgs[i], from)
				if err := send(ctx, w, msgs[i]); err != nil {
					cancel(fmt.Errorf("message %d: %w", i, err))
					return
				}
				latencies[i] = time.Since(from)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	slices.Sort(latencies)
	return latencies, nil
}

// poster sends bodies to POST /v1/readings over keep-alive connections.
// A 503 (the queue full) is retried after a pause; any other answer than
// 200 with every row accepted is an error.
type poster struct {
	base, key string
	hc        *http.Client
	retries   atomic.Int64
}

func newPoster(base, key string, clients int) *poster {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, DisableCompression: true}
	return &poster{base: base, key: key, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

func (p *poster) close() { p.hc.CloseIdleConnections() }

func (p *poster) send(ctx context.Context, _ int, m message) error {
	for {
		status, raw, err := p.post(ctx, m.payload)
		if err != nil {
			return err
		}
		if status == http.StatusServiceUnavailable {
			p.retries.Add(1)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var ans struct {
			Data struct {
				Accepted int `json:"accepted"`
			} `json:"data"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &ans) != nil || ans.Data.Accepted != m.n {
			return fmt.Errorf("status %d, want 200 with %d rows accepted: %.300s", status, m.n, raw)
		}
		return nil
	}
}

func (p *poster) post(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/v1/readings", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := p.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, raw, err
}

// publishers are device connections, each a paho client with its own
// client id, publishing QoS 1. Worker w publishes on connection w mod n,
// so several publishes share a connection at once.
type publishers struct {
	clis  []*paho.Client
	conns []net.Conn
}

// connectPublishers opens n publisher connections (clean sessions) to the
// broker at addr (host:port).
func connectPublishers(ctx context.Context, addr, user, pass string, n int) (*publishers, error) {
	ps := &publishers{}
	for i := range n {
		id := fmt.Sprintf("bench-publisher-%d", i)
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			ps.close()
			return nil, err
		}
		cli := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn})
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ca, err := cli.Connect(cctx, &paho.Connect{ClientID: id, KeepAlive: 60, CleanStart: true,
			Username: user, UsernameFlag: true, Password: []byte(pass), PasswordFlag: true})
		cancel()
		if err == nil && ca.ReasonCode != 0 {
			err = fmt.Errorf("reason 0x%02x", ca.ReasonCode)
		}
		if err != nil {
			conn.Close()
			ps.close()
			return nil, fmt.Errorf("connect publisher %s: %w", id, err)
		}
		ps.clis, ps.conns = append(ps.clis, cli), append(ps.conns, conn)
	}
	return ps, nil
}

func (ps *publishers) close() {
	for i, cli := range ps.clis {
		_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		select {
		case <-cli.Done():
		case <-time.After(2 * time.Second):
		}
		ps.conns[i].Close()
	}
}

// send publishes with QoS 1 and returns once the broker has acknowledged
// the message (PUBACK: the broker has it, which says nothing yet about the
// service).
func (ps *publishers) send(ctx context.Context, w int, m message) error {
	res, err := ps.clis[w%len(ps.clis)].Publish(ctx, &paho.Publish{Topic: m.topic, QoS: 1, Payload: m.payload})
	if err == nil && res.ReasonCode >= 0x80 {
		err = fmt.Errorf("publish %s refused: reason 0x%02x", m.topic, res.ReasonCode)
	}
	return err
}

// counts are the subscriber's figures in the server's /metrics.
type counts struct {
	outcomes map[string]int // gridmetrics_mqtt_messages_total by outcome
	inflight int            // gridmetrics_mqtt_inflight
	retries  int            // gridmetrics_mqtt_retries_total
}

// mqttCounts reads the subscriber's figures from the server's /metrics.
func mqttCounts(ctx context.Context, hc *http.Client, base string) (counts, error) {
	c := counts{outcomes: map[string]int{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return c, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return c, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, `gridmetrics_mqtt_messages_total{outcome="`); ok {
			name, value, _ := strings.Cut(rest, `"} `)
			c.outcomes[name] = atoi(value)
		} else if rest, ok := strings.CutPrefix(line, "gridmetrics_mqtt_inflight "); ok {
			c.inflight = atoi(rest)
		} else if rest, ok := strings.CutPrefix(line, "gridmetrics_mqtt_retries_total "); ok {
			c.retries = atoi(rest)
		}
	}
	return c, sc.Err()
}

// atoi reads a counter's value, which Prometheus writes as a float.
func atoi(s string) int {
	v, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return int(v)
}

// waitStored polls /metrics until want more messages are stored than
// before, and returns the start of the poll that saw it, and the most
// messages in flight it saw on the way. Any other outcome (a rejection, an
// unknown tenant) fails the phase: every message of the benchmark is valid.
//
// A scrape costs the server CPU (the page is long), so polls are sparse
// while much is left and dense near the end: the next poll comes after
// half the time the rest would take at the rate so far, between
// minInterval and maxInterval. The end is then late by at most about
// minInterval.
func waitStored(ctx context.Context, base string, before counts, want int, limit time.Duration) (time.Time, int, error) {
	const minInterval, maxInterval = 5 * time.Millisecond, 100 * time.Millisecond
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	defer hc.CloseIdleConnections()
	start := time.Now()
	deadline := start.Add(limit)
	peak := 0
	for {
		asked := time.Now()
		got, err := mqttCounts(ctx, hc, base)
		if err != nil {
			return time.Time{}, peak, fmt.Errorf("read /metrics: %w", err)
		}
		peak = max(peak, got.inflight)
		for outcome, n := range got.outcomes {
			if outcome != "stored" && n > before.outcomes[outcome] {
				return time.Time{}, peak, fmt.Errorf("%d messages ended %s, want every one stored (GET /v1/mqtt/rejections says why)", n-before.outcomes[outcome], outcome)
			}
		}
		stored := got.outcomes["stored"] - before.outcomes["stored"]
		if stored >= want {
			return asked, peak, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, peak, fmt.Errorf("%d of %d messages stored after %v", stored, want, limit)
		}
		interval := maxInterval
		if stored > 0 {
			perMessage := time.Since(start) / time.Duration(stored)
			interval = min(maxInterval, max(minInterval, perMessage*time.Duration(want-stored)/2))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, peak, ctx.Err()
		case <-time.After(interval):
		}
	}
}
