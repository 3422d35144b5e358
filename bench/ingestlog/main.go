// Command ingestlog measures the durable ingest log against direct ingest,
// in one run on one machine: rows per second through the write pipeline
// alone, and through a three-node NATS cluster (R3 stream) with a consumer
// feeding the same pipeline; then, at a paced rate, the lag from a
// message's storing in the stream to the commit of its rows (the time
// until queryable). The measurement is scaling.MeasureLog, which
// bench/scale runs too.
//
// It creates a fresh database on the server (scripts/pg.sh test unless
// --database-url is given) and starts its own cluster (ingestlog/natstest,
// nats-server from scripts/nats.sh install). It ends with one line of
// key=value pairs:
//
//	direct_rows_s=… log_rows_s=… log_ratio=… log_ack_p50_ms=… log_ack_p99_ms=… log_lag_p50_ms=… log_lag_p99_ms=…
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/bench/internal/scaling"
)

func main() {
	cfg := scaling.DefaultLogConfig()
	flag.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL server to create the benchmark database on (default: the test cluster of scripts/pg.sh test)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the benchmark database")
	cfg.Flags(flag.CommandLine, "")
	flag.Parse()
	r, err := scaling.MeasureLog(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestlog bench:", err)
		os.Exit(1)
	}
	ms := benchutil.Ms
	fmt.Printf("direct_rows_s=%.0f log_rows_s=%.0f log_ratio=%.2f log_ack_p50_ms=%.2f log_ack_p99_ms=%.2f log_lag_p50_ms=%.2f log_lag_p99_ms=%.2f\n",
		r.DirectRowsS, r.LogRowsS, r.LogRowsS/r.DirectRowsS, ms(r.AckP50), ms(r.AckP99), ms(r.LagP50), ms(r.LagP99))
}
