// Command scale measures, in one run, the two paths beyond one machine
// that docs/scaling.md builds its capacity model on:
//
//   - the durable ingest log against direct ingest (scaling.MeasureLog):
//     rows per second acknowledged at commit against rows per second
//     through a three-node NATS cluster (R3 stream) until committed, and
//     the lag from the stream to a committed (queryable) row, p50 and p99;
//   - dashboard queries on the primary against a streaming standby while
//     live ingest runs on the primary (scaling.MeasureStandby), p50 and p99.
//
// The phases run one after the other, so that neither takes the other's
// cores. The log phase creates its database on the test cluster of
// scripts/pg.sh test (or --database-url); the standby phase starts its own
// primary and standby (internal/pgpair). The last line holds the figures as
// key=value pairs, starting with
//
//	direct_rows_s log_rows_s log_lag_p50_ms log_lag_p99_ms primary_query_p99_ms standby_query_p99_ms
//
// Run it with make bench-scale, or go run ./bench/scale -h for the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/bench/internal/scaling"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Larger than the single benchmarks' defaults, so that each p99 rests
	// on a thousand samples or more (the lag on 1,000, the queries on 600
	// per server); a run takes about a minute on 2 cores.
	logCfg := scaling.DefaultLogConfig()
	logCfg.Rows, logCfg.LagDuration = 500_000, 10*time.Second
	standbyCfg := scaling.DefaultStandbyConfig()
	standbyCfg.Iterations = 300
	flag.StringVar(&logCfg.DatabaseURL, "database-url", "", "PostgreSQL server the log phase creates its database on (default: the test cluster of scripts/pg.sh test)")
	logCfg.Flags(flag.CommandLine, "log-")
	standbyCfg.Flags(flag.CommandLine, "standby-")
	flag.Parse()

	began := time.Now()
	fmt.Fprintln(os.Stderr, "bench-scale: the ingest log against direct ingest")
	l, err := scaling.MeasureLog(ctx, logCfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale: log:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "bench-scale: queries on the primary against the standby")
	s, err := scaling.MeasureStandby(ctx, standbyCfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale: standby:", err)
		os.Exit(1)
	}
	ms := benchutil.Ms
	fmt.Printf("direct_rows_s=%.0f log_rows_s=%.0f log_lag_p50_ms=%.2f log_lag_p99_ms=%.2f primary_query_p99_ms=%.2f standby_query_p99_ms=%.2f"+
		" log_ratio=%.2f log_ack_p50_ms=%.2f log_ack_p99_ms=%.2f primary_query_p50_ms=%.2f standby_query_p50_ms=%.2f queries=%d standby_fallbacks=%d standby_ingest_rows_s=%.0f wal_bytes_per_row=%.0f seconds=%.0f\n",
		l.DirectRowsS, l.LogRowsS, ms(l.LagP50), ms(l.LagP99), ms(s.PrimaryP99), ms(s.StandbyP99),
		l.LogRowsS/l.DirectRowsS, ms(l.AckP50), ms(l.AckP99), ms(s.PrimaryP50), ms(s.StandbyP50), s.Queries, s.Fallbacks, s.IngestRowsS, s.WALBytesPerRow,
		time.Since(began).Seconds())
}
