package rollups

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the rollup jobs' Prometheus instruments.
type Metrics struct {
	jobSeconds *prometheus.HistogramVec
	buckets    *prometheus.CounterVec
	refreshed  *prometheus.CounterVec
	lag        *prometheus.GaugeVec
}

// NewMetrics creates the instruments and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gridmetrics_rollup_job_seconds",
			Help:    "Duration of rollup jobs, by job.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"job"}),
		buckets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridmetrics_rollup_buckets_total",
			Help: "Rollup buckets written, by tier.",
		}, []string{"tier"}),
		// Replicas take turns at the refresh (an advisory lock): summed
		// over them, this equals each watermark's advance exactly when no
		// stretch of time was computed twice.
		refreshed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridmetrics_rollup_refreshed_seconds_total",
			Help: "Span of time the refresh computed and committed, by tier: how far this process moved the tier's watermark.",
		}, []string{"tier"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gridmetrics_rollup_lag_seconds",
			Help: "How far each tier's watermark is behind now, after its last refresh.",
		}, []string{"tier"}),
	}
	if reg != nil {
		reg.MustRegister(m.jobSeconds, m.buckets, m.refreshed, m.lag)
	}
	return m
}

func isBusy(err error) bool { return errors.Is(err, ErrBusy) }
