package recovery

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCallTurnsAPanicIntoAnError(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	before := testutil.ToFloat64(Panics.WithLabelValues("test"))
	err := Call(log, "test", func() error { panic("boom") }, "item", 7)
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || pe.Where != "test" || len(pe.Stack) == 0 {
		t.Fatalf("Call = %v, want a PanicError for boom", err)
	}
	if got := testutil.ToFloat64(Panics.WithLabelValues("test")) - before; got != 1 {
		t.Fatalf("panics counted %v, want 1", got)
	}
	want := errors.New("plain")
	if err := Call(log, "test", func() error { return want }); err != want {
		t.Fatalf("Call = %v, want the function's own error", err)
	}
}

func TestGoSurvivesAPanic(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	done := make(chan struct{})
	Go(log, "test_go", func() { defer close(done); panic(errors.New("boom")) })
	<-done
}
