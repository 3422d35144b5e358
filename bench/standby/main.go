// Command standby measures dashboard queries answered by the primary
// against the same queries answered by a streaming standby, while ingest
// runs on the primary: scaling.MeasureStandby (its doc says how), which
// bench/scale runs too. The last line holds the figures as key=value
// pairs.
//
// Run it with go run ./bench/standby (-h for the flags).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/bench/internal/scaling"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := scaling.DefaultStandbyConfig()
	cfg.Flags(flag.CommandLine, "")
	flag.Parse()
	r, err := scaling.MeasureStandby(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-standby:", err)
		os.Exit(1)
	}
	ms := benchutil.Ms
	fmt.Printf("primary_query_p50_ms=%.2f primary_query_p99_ms=%.2f standby_query_p50_ms=%.2f standby_query_p99_ms=%.2f queries=%d standby_fallbacks=%d ingest_rows_s=%.0f wal_bytes_per_row=%.0f\n",
		ms(r.PrimaryP50), ms(r.PrimaryP99), ms(r.StandbyP50), ms(r.StandbyP99), r.Queries, r.Fallbacks, r.IngestRowsS, r.WALBytesPerRow)
}
