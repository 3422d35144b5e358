package ocppj

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	open     prometheus.Gauge
	replaced prometheus.Counter
	refused  *prometheus.CounterVec
	calls    *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridmetrics_ocppj_connections",
			Help: "Open OCPP-J charger connections."}),
		replaced: prometheus.NewCounter(prometheus.CounterOpts{Name: "gridmetrics_ocppj_replaced_total",
			Help: "Charger connections closed because the same charge box connected again."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gridmetrics_ocppj_refused_total",
			Help: "Handshakes and frames refused, by reason."}, []string{"reason"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gridmetrics_ocppj_calls_total",
			Help: "CALLs processed, by protocol, action and outcome (result or error)."}, []string{"protocol", "action", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gridmetrics_ocppj_call_seconds",
			Help: "Time from taking a CALL to its answer (commit included).", Buckets: prometheus.DefBuckets}),
	}
	if reg != nil {
		reg.MustRegister(m.open, m.replaced, m.refused, m.calls, m.latency)
	}
	return m
}

// metricAction bounds the action label to the actions served.
func metricAction(a string) string {
	if actions[OCPP16][a] != nil || actions[OCPP201][a] != nil {
		return a
	}
	return "other"
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "result"
}
