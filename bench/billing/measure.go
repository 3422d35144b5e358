package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/sessions"
)

// cpu is the CPU time spent during a phase by the server, by this process,
// by the PostgreSQL backends serving this benchmark's database, and by the
// whole machine. Other databases' backends (other runs sharing the cluster)
// count as other processes.
type cpu struct {
	server, self, db, machine time.Duration
	backends                  map[int]time.Duration // by pid, to subtract
}

// cpuNow reads the CPU times now. pool is on the benchmark's database.
func cpuNow(ctx context.Context, pool *pgxpool.Pool, serverPID int) cpu {
	c := cpu{backends: map[int]time.Duration{}}
	if serverPID > 0 {
		c.server, _, _ = benchutil.CPUTime(serverPID)
	}
	c.self, _, _ = benchutil.CPUTime(os.Getpid())
	if rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err == nil {
		pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
		for _, pid := range pids {
			if d, _, err := benchutil.CPUTime(int(pid)); err == nil {
				c.backends[int(pid)] = d
				c.db += d
			}
		}
	}
	c.machine = benchutil.MachineCPU()
	return c
}

// sub is the CPU spent from o to c. A backend that started meanwhile
// counts whole; one that ended meanwhile took its time with it.
func (c cpu) sub(o cpu) cpu {
	d := cpu{server: c.server - o.server, self: c.self - o.self, machine: c.machine - o.machine}
	for pid, t := range c.backends {
		d.db += t - o.backends[pid]
	}
	return d
}

// others is the CPU used by everything else: other processes, and other
// databases' backends.
func (c cpu) others() time.Duration { return max(0, c.machine-c.server-c.self-c.db) }

func (c cpu) String() string {
	return fmt.Sprintf("CPU s: server %.1f, bench %.1f, postgres (this database) %.1f, others %.1f",
		c.server.Seconds(), c.self.Seconds(), c.db.Seconds(), c.others().Seconds())
}

// statusCounts counts the tenant's sessions by status.
func statusCounts(ctx context.Context, pool *pgxpool.Pool, tenantID int64) (map[sessions.Status]int, error) {
	rows, err := pool.Query(ctx, `SELECT status, count(*) FROM sessions WHERE tenant_id = $1 GROUP BY status`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[sessions.Status]int{}
	for rows.Next() {
		var s sessions.Status
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// waitPriced polls until no session is left completed and returns when
// that was seen. The poll asks only whether one is left: counting them
// visits every one still waiting, a cost that grew to a sizeable share of
// the database's CPU while it was pricing; they are counted only for the
// progress report.
func waitPriced(ctx context.Context, pool *pgxpool.Pool, tenantID int64, every time.Duration, progress func(left int)) (time.Time, error) {
	lastReport := time.Now()
	for {
		var left bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM sessions WHERE status = 'completed' AND tenant_id = $1)`, tenantID).Scan(&left); err != nil {
			return time.Time{}, fmt.Errorf("look for sessions left to price: %w", err)
		}
		if !left {
			return time.Now(), nil
		}
		if progress != nil && time.Since(lastReport) >= 10*time.Second {
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE status = 'completed' AND tenant_id = $1`, tenantID).Scan(&n); err != nil {
				return time.Time{}, fmt.Errorf("count sessions left to price: %w", err)
			}
			progress(n)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(every):
		}
	}
}

// transfer is one timed read of the sessions: rows, bytes, elapsed.
type transfer struct {
	rows    int64
	bytes   int64
	elapsed time.Duration
	cpu     cpu
}

func (t transfer) rowsPerSecond() float64 { return float64(t.rows) / t.elapsed.Seconds() }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// export streams GET /v1/sessions/export in format and counts its rows:
// NDJSON lines, or the rows of the Arrow stream's record batches (read
// with ipc.Reader, which also checks the stream is whole). Timed from the
// request to the end of the body.
func export(ctx context.Context, hc *http.Client, base, key string, from, to time.Time, format sessions.ExportFormat) (transfer, error) {
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}, "format": {string(format)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/sessions/export?"+q.Encode(), nil)
	if err != nil {
		return transfer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	began := time.Now()
	res, err := hc.Do(req)
	if err != nil {
		return transfer{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2000))
		return transfer{}, fmt.Errorf("export %s: %s: %s", format, res.Status, b)
	}
	body := &countingReader{r: res.Body}
	var rows int64
	switch format {
	case sessions.FormatArrow:
		rd, err := ipc.NewReader(body)
		if err != nil {
			return transfer{}, fmt.Errorf("export arrow: %w", err)
		}
		for rd.Next() {
			rows += rd.Record().NumRows()
		}
		err = rd.Err()
		rd.Release()
		if err != nil {
			return transfer{}, fmt.Errorf("export arrow: %w", err)
		}
		// The end-of-stream marker: without it the export stopped early.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return transfer{}, err
		}
	default:
		buf := make([]byte, 256<<10)
		var tail []byte
		for {
			n, err := body.Read(buf)
			rows += int64(bytes.Count(buf[:n], []byte{'\n'}))
			if tail = append(tail, buf[:n]...); len(tail) > 4096 {
				tail = append(tail[:0], tail[len(tail)-1024:]...)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return transfer{}, fmt.Errorf("export %s: %w", format, err)
			}
		}
		if i := bytes.LastIndexByte(bytes.TrimRight(tail, "\n"), '\n'); bytes.HasPrefix(tail[i+1:], []byte(`{"error"`)) {
			return transfer{}, fmt.Errorf("export %s stopped early: %s", format, bytes.TrimSpace(tail[i+1:]))
		}
	}
	return transfer{rows: rows, bytes: body.n, elapsed: time.Since(began)}, nil
}

// baselineQuery is the export's statement (sessions.Store.export: the
// fields of a session's summary, the same joins, tenant, priced, start time
// in [from, to), start order) as a COPY … TO STDOUT, its parameters inlined.
func baselineQuery(tenantID int64, from, to time.Time, binary bool) string {
	const columns = `s.public_id AS id, s.external_id, nullif(s.charge_box_id, '') AS charge_box_id, s.protocol,
	src.public_id AS source, src.external_id AS source_external_id, coalesce(src.site_id, box.site_id) AS site_id, s.id_tag, s.status,
	s.start_time, s.stop_time, s.meter_start, s.meter_stop, nullif(s.stop_reason, '') AS stop_reason,
	nullif(s.failure_reason, '') AS failure_reason, nullif(s.tariff_ref, '') AS tariff, nullif(s.currency, '') AS currency,
	s.energy_kwh, s.charging_hours, s.parking_hours, s.total_excl_vat, s.total_incl_vat,
	s.priced_at, s.created_at, s.updated_at, s.change_seq AS version`
	opts := ""
	if binary {
		opts = " (FORMAT binary)"
	}
	return fmt.Sprintf(`COPY (SELECT %s FROM sessions s LEFT JOIN sources src ON src.id = s.source_id LEFT JOIN sources box ON box.id = src.parent_id
		WHERE s.tenant_id = %d AND s.status = 'priced' AND s.start_time >= '%s' AND s.start_time < '%s'
		ORDER BY s.start_time, s.id) TO STDOUT%s`,
		columns, tenantID, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), opts)
}

// copyOut runs the baseline: the COPY into io.Discard on one connection,
// timed from the statement to its completion.
func copyOut(ctx context.Context, pool *pgxpool.Pool, sql string) (transfer, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return transfer{}, err
	}
	defer conn.Release()
	w := &countingWriter{}
	began := time.Now()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, w, sql)
	if err != nil {
		return transfer{}, fmt.Errorf("baseline COPY: %w", err)
	}
	return transfer{rows: tag.RowsAffected(), bytes: w.n, elapsed: time.Since(began)}, nil
}

// countingWriter discards what it is given and counts the bytes.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
