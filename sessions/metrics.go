package sessions

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the pricing worker's Prometheus instruments.
type Metrics struct {
	// Replicas claim sessions apart (FOR UPDATE SKIP LOCKED, then a lease):
	// summed over them, the results stored equal the sessions priced when
	// none was priced twice.
	stored *prometheus.CounterVec
}

// NewMetrics creates the instruments and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{stored: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gridmetrics_session_pricings_total",
		Help: "Pricing results the worker stored, by the session's status after it (priced or failed); a result equal to the stored one is not counted.",
	}, []string{"status"})}
	if reg != nil {
		reg.MustRegister(m.stored)
	}
	return m
}

// storedResult counts a result stored on its session.
func (m *Metrics) storedResult(s Status) {
	if m != nil {
		m.stored.WithLabelValues(string(s)).Inc()
	}
}
