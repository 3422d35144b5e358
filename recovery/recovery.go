// Package recovery keeps a panic in a background goroutine from ending the
// process: the panic is logged with its stack and counted, and the caller
// decides what to do with the work that panicked.
package recovery

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Panics counts recovered panics by where they happened (a short,
// fixed name such as "ingest_writer"). Register it once with the service's
// registry.
var Panics = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "gridmetrics_panics_recovered_total",
	Help: "Panics recovered in request handlers and background goroutines, by where they happened.",
}, []string{"where"})

// PanicError is the error a recovered panic becomes.
type PanicError struct {
	Where string
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic in %s: %v", e.Where, e.Value) }

// Call runs fn and turns a panic in it into a *PanicError, logged with its
// stack and counted under where. Extra log attributes (ids of the work item)
// follow where.
func Call(log *slog.Logger, where string, fn func() error, attrs ...any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			pe := &PanicError{Where: where, Value: r, Stack: debug.Stack()}
			Panics.WithLabelValues(where).Inc()
			if log == nil {
				log = slog.Default()
			}
			log.Error("recovered panic", append([]any{"where", where, "panic", fmt.Sprint(r), "stack", string(pe.Stack)}, attrs...)...)
			err = pe
		}
	}()
	return fn()
}

// Go runs fn in a new goroutine under Call; a panic ends only fn.
func Go(log *slog.Logger, where string, fn func(), attrs ...any) {
	go func() {
		_ = Call(log, where, func() error { fn(); return nil }, attrs...)
	}()
}
