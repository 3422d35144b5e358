package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/gridmetrics/gridmetrics/rollups"
)

// runRollupBackfill rebuilds the rollup tiers over a range with a progress
// bar; run again after an interruption, it resumes.
func runRollupBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var fromText, toText string
	pool, _, err := adminCommand(ctx, "rollup backfill", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&fromText, "from", "", "start of the range, RFC 3339 or YYYY-MM-DD (required)")
		fs.StringVar(&toText, "to", "", "end of the range, exclusive, RFC 3339 or YYYY-MM-DD (required)")
	})
	if err != nil {
		return err
	}
	defer pool.Close()
	from, err := parseTimeFlag("from", fromText)
	if err != nil {
		return err
	}
	to, err := parseTimeFlag("to", toText)
	if err != nil {
		return err
	}
	r := rollups.NewRunner(pool, rollups.Config{}, slog.New(slog.NewTextHandler(stderr, nil)), rollups.NewMetrics(nil))
	var bar *progressbar.ProgressBar
	err = r.Backfill(ctx, from, to, func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
				progressbar.OptionSetDescription("rebuilding rollups"), progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true), progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }))
		}
		_ = bar.Set(done)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rollups rebuilt over [%s, %s): %d buckets\n", from.Format(time.RFC3339), to.Format(time.RFC3339), r.Buckets.Load())
	return nil
}

func parseTimeFlag(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: --%s is required", errUsage, name)
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: --%s %q is not RFC 3339 or YYYY-MM-DD", errUsage, name, s)
}
