package standby

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// Register exports the monitor's measurements on reg, read at each scrape.
func (m *Monitor) Register(reg prometheus.Registerer) {
	gauge := func(name, help string, f func(State) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(m.State()) })
	}
	boolean := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	reg.MustRegister(
		gauge("gridmetrics_standby_up", "1 when the last check reached the read standby and found it a standby of the primary.",
			func(s State) float64 { return boolean(s.Up) }),
		gauge("gridmetrics_standby_lag_seconds",
			"Upper bound of how far the read standby's data is behind the primary's (reads go to the primary above read-max-lag); +Inf before the first check.",
			func(s State) float64 {
				if s.Fresh.IsZero() {
					return math.Inf(1)
				}
				return s.Lag(m.now()).Seconds()
			}),
		gauge("gridmetrics_standby_replay_lag_bytes", "WAL the read standby had not replayed at the last check (the primary's insert position minus the replay position).",
			func(s State) float64 { return float64(max(s.PrimaryLSN-s.ReplayLSN, 0)) }),
		gauge("gridmetrics_standby_last_replay_timestamp_seconds", "pg_last_xact_replay_timestamp() of the read standby: when the primary committed the last transaction it replayed (Unix time).",
			func(s State) float64 {
				if s.ReplayTime.IsZero() {
					return 0
				}
				return float64(s.ReplayTime.UnixNano()) / 1e9
			}),
		gauge("gridmetrics_standby_replay_paused", "1 when replay on the read standby is paused.",
			func(s State) float64 { return boolean(s.Paused) }),
	)
}
