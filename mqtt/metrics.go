package mqtt

import "github.com/prometheus/client_golang/prometheus"

// Message outcomes, the label of gridmetrics_mqtt_messages_total.
const (
	outcomeStored        = "stored"         // every row committed
	outcomeRejected      = "rejected"       // in the dead-letter record (some rows may be stored)
	outcomeIgnored       = "ignored"        // a topic of a preset that carries no readings
	outcomeInvalidTopic  = "invalid_topic"  // not in the topic layout: no tenant to record it for
	outcomeUnknownTenant = "unknown_tenant" // names no tenant
)

// Metrics are the subscriber's Prometheus metrics.
type Metrics struct {
	connected  prometheus.Gauge
	connects   prometheus.Counter
	failures   prometheus.Counter
	messages   *prometheus.CounterVec
	inflight   prometheus.Gauge
	retries    prometheus.Counter
	commitTime prometheus.Histogram
}

// NewMetrics registers the subscriber's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridmetrics_mqtt_connected",
			Help: "1 while the MQTT broker connection is up and subscribed, 0 otherwise."}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{Name: "gridmetrics_mqtt_connections_total",
			Help: "MQTT broker connections made (the first and every reconnection)."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "gridmetrics_mqtt_connect_failures_total",
			Help: "MQTT connection attempts that failed (refused, unreachable, not authorised)."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gridmetrics_mqtt_messages_total",
			Help: "MQTT messages acknowledged, by outcome: stored, rejected, ignored, invalid_topic, unknown_tenant."}, []string{"outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridmetrics_mqtt_inflight",
			Help: "MQTT messages received and not yet acknowledged."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "gridmetrics_mqtt_retries_total",
			Help: "Waits before writing an MQTT message again: a full ingest queue or an unreachable database. The message stays unacknowledged meanwhile."}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gridmetrics_mqtt_commit_seconds",
			Help:    "Time from receiving an MQTT message to the commit of its rows.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
	}
	reg.MustRegister(m.connected, m.connects, m.failures, m.messages, m.inflight, m.retries, m.commitTime)
	return m
}
