package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// pipelineStats are the ingest pipeline's counters from /metrics.
type pipelineStats struct {
	batches, batchRows, commitSeconds, merges, writeErrors float64
}

// readPipelineStats scrapes the server's /metrics.
func readPipelineStats(base string) (pipelineStats, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return pipelineStats{}, err
	}
	defer res.Body.Close()
	var s pipelineStats
	fields := map[string]*float64{
		"gridmetrics_ingest_batch_rows_count":      &s.batches,
		"gridmetrics_ingest_batch_rows_sum":        &s.batchRows,
		"gridmetrics_ingest_commit_seconds_sum":    &s.commitSeconds,
		"gridmetrics_ingest_merge_conflicts_total": &s.merges,
		"gridmetrics_ingest_write_errors_total":    &s.writeErrors,
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if p := fields[name]; ok && p != nil {
			*p, _ = strconv.ParseFloat(value, 64)
		}
	}
	return s, sc.Err()
}

func (s pipelineStats) sub(o pipelineStats) pipelineStats {
	return pipelineStats{s.batches - o.batches, s.batchRows - o.batchRows, s.commitSeconds - o.commitSeconds,
		s.merges - o.merges, s.writeErrors - o.writeErrors}
}

func (s pipelineStats) String() string {
	if s.batches == 0 {
		return "no batches"
	}
	return fmt.Sprintf("%.0f batches of %.0f rows on average, %.1f ms each to write and commit; %.0f merged, %.0f write errors",
		s.batches, s.batchRows/s.batches, 1000*s.commitSeconds/s.batches, s.merges, s.writeErrors)
}
