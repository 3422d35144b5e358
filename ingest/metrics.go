package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest pipeline's Prometheus instruments.
type Metrics struct {
	rows           *prometheus.CounterVec
	batchRows      prometheus.Histogram
	commitSeconds  prometheus.Histogram
	mergeConflicts prometheus.Counter
	writeErrors    prometheus.Counter
}

// NewMetrics creates the instruments and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_rows_total",
			Help: "Rows received, by result (accepted, rejected) and rejection reason.",
		}, []string{"result", "reason"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridmetrics_ingest_batch_rows",
			Help:    "Rows per batch written to the database.",
			Buckets: prometheus.ExponentialBuckets(16, 4, 8),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridmetrics_ingest_commit_seconds",
			Help:    "Time to write and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		mergeConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_merge_conflicts_total",
			Help: "Batches that overlapped stored readings and took the merge path.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_write_errors_total",
			Help: "Batch write attempts that failed (retried or reported to clients).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.batchRows, m.commitSeconds, m.mergeConflicts, m.writeErrors)
	}
	return m
}

// queueGauge exposes the rows waiting in a pipeline.
func (m *Metrics) registerQueue(reg prometheus.Registerer, p *Pipeline) {
	if reg == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gridmetrics_ingest_queue_rows",
		Help: "Rows accepted into the queue and not yet committed.",
	}, func() float64 { return float64(p.queued.Load()) }))
}
