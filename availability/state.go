// Package availability keeps the state series of charge boxes and their
// connectors — OCPP StatusNotification statuses and the charge box's
// connection going up and down — and answers time in each state and
// availability per bucket.
//
// The answer is what TimescaleDB Toolkit's state_agg (with heartbeat_agg
// for the connection) would give: time-weighted durations of each state,
// a state holding from its change until the next one, interpolated across
// bucket edges, so the state at a bucket's start is the last change before
// it. The Toolkit is not available on every backend this service runs on
// (plain PostgreSQL, the TimescaleDB test build), so the fold is computed
// here, in Go (fold.go), over the changes the store reads in time order.
//
// How the two series of a connector combine (Effective): while the charge
// box is Offline, the connector's time counts as offline, whatever its
// last status — its state is unknown. While the box is Online, or when it
// never reported its connection (devices that report over HTTP), the
// connector is in its last reported status; before its first status its
// state is unknown. A status outlives an outage: after reconnecting, the
// last status holds until the charger reports a new one (chargers send
// a StatusNotification per connector after booting).
package availability

import (
	"fmt"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// Kind is the series a state belongs to: a connector's status, or a
// charge box's connection.
type Kind string

// The two kinds of state series.
const (
	KindStatus     Kind = "status"
	KindConnection Kind = "connection"
)

// The connection states, recorded by the OCPP-J endpoint when a charge box
// connects, disconnects or misses its heartbeats.
const (
	Online  = "Online"
	Offline = "Offline"
)

// States16 are the OCPP 1.6 ChargePointStatus values.
var States16 = []string{"Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing", "Reserved", "Unavailable", "Faulted"}

// States201 are the OCPP 2.0.1 ConnectorStatusEnumType values.
var States201 = []string{"Available", "Occupied", "Reserved", "Unavailable", "Faulted"}

// ConnectionStates are the states of a charge box's connection.
var ConnectionStates = []string{Online, Offline}

// unavailable are the statuses in which a connector cannot serve a car.
// Every other status — free, reserved, in use — counts as available: the
// connector is in service (the uptime a charging network reports).
var unavailable = map[string]bool{"Unavailable": true, "Faulted": true}

// KindOf returns the series of a state, or an error naming the states
// accepted. Names are exact (OCPP's enumerations are case-sensitive).
func KindOf(state string) (Kind, error) {
	for _, s := range ConnectionStates {
		if s == state {
			return KindConnection, nil
		}
	}
	for _, list := range [][]string{States16, States201} {
		for _, s := range list {
			if s == state {
				return KindStatus, nil
			}
		}
	}
	return "", api.Validation("state", "%q is not a state: one of the OCPP 1.6 statuses (%s), the OCPP 2.0.1 connector statuses (%s) or a connection state (%s)",
		clip(state, 64), strings.Join(States16, ", "), strings.Join(States201, ", "), strings.Join(ConnectionStates, ", "))
}

// Available reports whether a status counts as available (in service).
func Available(status string) bool { return !unavailable[status] }

// clip shortens text quoted back to the client.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// minTime is the earliest instant a state may have: earlier ones are a
// charger's clock that was never set.
var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultMaxSkew is how far ahead of the server's clock a state's time may
// be, by default: the sessions' default skew.
const DefaultMaxSkew = 10 * time.Minute

// validateTime checks a state's time against the server's clock now.
func validateTime(field string, at, now time.Time, skew time.Duration) error {
	switch {
	case at.IsZero():
		return api.Validation(field, "is required")
	case at.Before(minTime):
		return api.Validation(field, "%s is before 2000", at.UTC().Format(time.RFC3339))
	case at.After(now.Add(skew)):
		return api.Validation(field, "%s is in the future (more than %s ahead of the server's clock)", at.UTC().Format(time.RFC3339), skew)
	}
	return nil
}

// Change is one state change of a source.
type Change struct {
	Time     time.Time
	SourceID int64
	Kind     Kind
	State    string
}

// String is for test failures and logs.
func (c Change) String() string {
	return fmt.Sprintf("%s %d %s=%s", c.Time.UTC().Format(time.RFC3339Nano), c.SourceID, c.Kind, c.State)
}
