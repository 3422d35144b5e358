package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// probeKey names a probe row: its meter (an index of the dataset's
// sources) and time, in Unix microseconds (the database's precision).
type probeKey struct {
	source int
	at     int64
}

// prober measures send→commit latency from outside the service: a row is
// committed once another connection can read it. The load registers each
// probe row with the time it starts sending the row's message (before the
// publish, or before the request); the prober queries the database in a
// loop for the rows registered and not yet seen, and takes a row's commit
// time to be the start of the query that first returns it. A row
// committed just after a query's snapshot waits for the next query, so the
// figure is late by at most one query's duration plus the interval
// between queries: the resolution printed beside the figures.
type prober struct {
	pool     *pgxpool.Pool
	ids      []int64 // the meters' source ids, by dataset index
	byID     map[int64]int
	metric   int16
	interval time.Duration

	mu        sync.Mutex
	pending   map[probeKey]time.Time // the time sending began
	latencies []time.Duration
	queries   int
	queryTime time.Duration
}

func newProber(pool *pgxpool.Pool, ids []int64, metricID int16, interval time.Duration) *prober {
	p := &prober{pool: pool, ids: ids, byID: map[int64]int{}, metric: metricID, interval: interval}
	for i, id := range ids {
		p.byID[id] = i
	}
	return p
}

// reset starts a phase.
func (p *prober) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending, p.latencies, p.queries, p.queryTime = map[probeKey]time.Time{}, nil, 0, 0
}

// sending registers a probe row of a message about to be sent.
func (p *prober) sending(k probeKey, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[k] = at
}

const probeQuery = `SELECT r.source_id, r.time
	FROM readings r JOIN unnest($1::bigint[], $2::timestamptz[]) AS p(source_id, time)
	  ON r.source_id = p.source_id AND r.time = p.time
	WHERE r.metric = $3`

// run polls until done is closed and no registered row is left unseen, or
// until ctx ends.
func (p *prober) run(ctx context.Context, done <-chan struct{}) error {
	var ids []int64
	var times []time.Time
	for {
		ids, times = ids[:0], times[:0]
		p.mu.Lock()
		for k := range p.pending {
			ids, times = append(ids, p.ids[k.source]), append(times, time.UnixMicro(k.at))
		}
		p.mu.Unlock()
		if len(ids) == 0 {
			select {
			case <-done:
				return nil
			default:
			}
		} else if err := p.poll(ctx, ids, times); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.interval):
		}
	}
}

func (p *prober) poll(ctx context.Context, ids []int64, times []time.Time) error {
	began := time.Now()
	rows, err := p.pool.Query(ctx, probeQuery, ids, times, p.metric)
	if err != nil {
		return fmt.Errorf("probe query: %w", err)
	}
	var found []probeKey
	for rows.Next() {
		var id int64
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return err
		}
		found = append(found, probeKey{source: p.byID[id], at: at.UnixMicro()})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("probe query: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queries++
	p.queryTime += time.Since(began)
	for _, k := range found {
		if sent, ok := p.pending[k]; ok {
			p.latencies = append(p.latencies, max(0, began.Sub(sent)))
			delete(p.pending, k)
		}
	}
	return nil
}

// result is the latencies seen, sorted, and the probe's resolution: the
// interval plus the mean query time.
func (p *prober) result() ([]time.Duration, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lat := slices.Clone(p.latencies)
	slices.Sort(lat)
	res := p.interval
	if p.queries > 0 {
		res += p.queryTime / time.Duration(p.queries)
	}
	return lat, res
}
