package ingestlog

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the log's Prometheus instruments: what was published, what
// waits in the stream to be written, and how long it waited.
type Metrics struct {
	published      prometheus.Counter
	publishErrors  prometheus.Counter
	publishSeconds prometheus.Histogram
	written        prometheus.Counter
	poison         prometheus.Counter
	redelivered    prometheus.Counter
	writeFailures  prometheus.Counter
	lagSeconds     prometheus.Histogram

	// The stream's state, as a consumer last read it.
	pendingMessages atomic.Int64
	pendingBytes    atomic.Int64
	oldestAgeMicros atomic.Int64
}

// NewMetrics creates the instruments and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_log_published_messages_total",
			Help: "Messages the ingest log's stream acknowledged (persisted on its replicas).",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_log_publish_errors_total",
			Help: "Submissions the stream refused (full) or did not acknowledge in time.",
		}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridmetrics_ingest_log_publish_seconds",
			Help:    "Time from a submission to the stream's acknowledgement of all its messages.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_log_written_messages_total",
			Help: "Messages written to the database and acknowledged to the stream.",
		}),
		poison: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_log_poison_messages_total",
			Help: "Messages terminated without being written: malformed, or refused by the database on their own.",
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_log_redelivered_messages_total",
			Help: "Messages delivered more than once (a consumer died or a write failed); their rows are written again to the same keys.",
		}),
		writeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridmetrics_ingest_log_write_failures_total",
			Help: "Messages whose write failed for a reason that passes (the database was unreachable); they are delivered again after a back-off.",
		}),
		lagSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridmetrics_ingest_log_lag_seconds",
			Help:    "Time from a message's storing in the stream to the commit of its rows: how long an acknowledged reading takes to become queryable.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.publishErrors, m.publishSeconds, m.written, m.poison, m.redelivered, m.writeFailures, m.lagSeconds,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridmetrics_ingest_log_pending_messages",
				Help: "Messages in the stream not yet written and acknowledged (read every few seconds).",
			}, func() float64 { return float64(m.pendingMessages.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridmetrics_ingest_log_pending_bytes",
				Help: "Bytes in the stream not yet written; submissions are refused past ingest-log-max-bytes.",
			}, func() float64 { return float64(m.pendingBytes.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gridmetrics_ingest_log_oldest_pending_age_seconds",
				Help: "Age of the oldest message not yet written (0 when none waits).",
			}, func() float64 { return float64(m.oldestAgeMicros.Load()) / 1e6 }),
		)
	}
	return m
}
