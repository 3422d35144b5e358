package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ingestlog"
)

// bindIngestLog registers the settings of the durable ingest log; it is off
// while ingest-log is empty. Its bound on rows in flight and on one request
// is the queue's (ingest-queue-rows), set when the log opens.
func (c *Config) bindIngestLog(b *binder) {
	l := &c.IngestLog
	b.str(&l.URLs, "ingest-log", "", "NATS servers of the durable ingest log, comma-separated nats://host:port; set, ingest is acknowledged once the replicated JetStream stream has the rows, and writers consume it into the database; empty: no log, ingest is acknowledged at commit")
	b.str(&l.Stream, "ingest-log-stream", ingestlog.DefaultStream, "JetStream stream of the ingest log (its subject is <stream>.points, its shared durable consumer <stream>_WRITERS)")
	b.int(&l.Replicas, "ingest-log-replicas", ingestlog.DefaultReplicas, "replicas of the ingest log's stream: 3 in a cluster of three or more NATS servers (an acknowledged reading survives the loss of one), 1 for a single server")
	bindInt64(b, &l.MaxBytes, "ingest-log-max-bytes", ingestlog.DefaultMaxBytes, "bytes the ingest log's stream holds unwritten (per replica) before ingest answers 503 OVERLOADED")
	b.duration(&l.MaxAge, "ingest-log-max-age", ingestlog.DefaultMaxAge, "age past which an unwritten message is dropped from the ingest log: longer than any database outage to ride out")
	b.duration(&l.AckWait, "ingest-log-ack-wait", ingestlog.DefaultAckWait, "how long a message taken by a writer that died stays unacknowledged before it is delivered to another")
	b.duration(&l.PublishWait, "ingest-log-publish-wait", ingestlog.DefaultPublishWait, "how long ingest waits for the stream to persist a request's rows before it answers 503 UNAVAILABLE")
}

// bindInt64 binds an int64 setting, as binder.int binds an int.
func bindInt64(b *binder, p *int64, name string, def int64, usage string) {
	if v, ok := b.env(name); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q: not an integer", envName(name), v))
		}
		def = n
	}
	b.fs.Int64Var(p, name, def, usage+" ("+envName(name)+")")
}

// validateIngestLog checks the log's settings when it is on.
func (c Config) validateIngestLog() error {
	if c.IngestLog.URLs == "" {
		return nil
	}
	// The flags give their settings in full: a zero is refused, not
	// replaced by a default.
	cfg, raw := c.ingestLogConfig(), c.IngestLog
	cfg.Stream, cfg.Replicas, cfg.MaxBytes, cfg.MaxAge = raw.Stream, raw.Replicas, raw.MaxBytes, raw.MaxAge
	cfg.AckWait, cfg.PublishWait = raw.AckWait, raw.PublishWait
	return cfg.Validate()
}

func (c Config) ingestLogConfig() ingestlog.Config {
	cfg := c.IngestLog
	cfg.MaxRows = c.Ingest.QueueRows
	return cfg.WithDefaults()
}

// openIngestLog returns what the front ends submit to: the pipeline, or,
// with ingest-log set, the log, with a consumer that writes the stream
// through the pipeline.
func (m *Main) openIngestLog(ctx context.Context, reg prometheus.Registerer) (ingest.Submitter, error) {
	if m.Config.IngestLog.URLs == "" {
		return m.pipeline, nil
	}
	l, err := ingestlog.Open(ctx, m.Config.ingestLogConfig(), m.Log, ingestlog.NewMetrics(reg))
	if err != nil {
		return nil, err
	}
	m.ingestLog = l
	if _, err := l.StartConsumer(m.pipeline, ingestlog.ConsumerOptions{}); err != nil {
		return nil, err
	}
	m.Log.Info("ingest log on", "stream", m.Config.IngestLog.Stream, "replicas", m.Config.IngestLog.Replicas)
	return l, nil
}

// closeIngestLog waits for the submissions in flight to reach the stream and
// for the consumer's messages to be written and acknowledged; the pipeline
// closes after it.
func (m *Main) closeIngestLog(ctx context.Context) error {
	if m.ingestLog == nil {
		return nil
	}
	return m.ingestLog.Close(ctx)
}
