package rollups

import (
	"log/slog"

	"github.com/robfig/cron/v3"

	"github.com/gridmetrics/gridmetrics/recovery"
)

// panicLogger adapts slog to the logger cron.Recover reports a job's panic
// to. cron.Recover calls Error only for a recovered panic, so each call is
// also counted in recovery.Panics: a panicking job shows in /metrics, not
// only in the log, and the process lives on to run the next tick.
type panicLogger struct{ log *slog.Logger }

// Info logs cron's routine messages at debug level.
func (l panicLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }

// Error logs and counts a recovered job panic.
func (l panicLogger) Error(err error, msg string, kv ...any) {
	recovery.Panics.WithLabelValues("rollup_job").Inc()
	l.log.Error("recovered panic", append([]any{"where", "rollup_job", "panic", err.Error(), "msg", msg}, kv...)...)
}

// recovered wraps a job so that a panic in it is logged with the job's
// name, counted, and ends that run only.
func (r *Runner) recovered(name string, job func()) cron.Job {
	return cron.NewChain(cron.Recover(panicLogger{r.log.With("job", name)})).Then(cron.FuncJob(job))
}
