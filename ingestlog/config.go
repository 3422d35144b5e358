// Package ingestlog is the optional durable log between the ingest front
// ends and the database writers, on NATS JetStream.
//
// With it, a submission is answered once the replicated stream has
// persisted it (Log.Submit); writer consumers (Consumer) fetch from a
// shared durable pull consumer, write through the ingest pipeline with its
// group commit and idempotent keys, and acknowledge each message only after
// its rows are committed. A message delivered twice (a consumer died before
// its ack) is written twice to the same keys: harmless.
package ingestlog

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/internal/settings"
)

// Defaults of Config.
const (
	DefaultStream        = "GRIDMETRICS_READINGS"
	DefaultReplicas      = 3
	DefaultMaxBytes      = 1 << 30 // 1 GiB per replica
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultAckWait       = 30 * time.Second
	DefaultPublishWait   = 10 * time.Second
	DefaultFetchMessages = 64
	DefaultMaxAckPending = 1024
	DefaultMaxRows       = 500_000
)

// Config configures the log and its consumers.
type Config struct {
	// URLs are the NATS servers, comma-separated nats://host:port; the
	// client connects to any and follows the cluster.
	URLs string
	// Stream is the JetStream stream's name; its one subject is
	// Stream + ".points" and its durable consumer Stream + "_WRITERS".
	// Default DefaultStream.
	Stream string
	// Replicas is the stream's replication factor: 3 in a cluster of three
	// or more, so an acknowledged submission survives the loss of a node;
	// 1 for a single server. Default 3.
	Replicas int
	// MaxBytes bounds the stream (messages not yet written): past it,
	// submissions are refused (503 OVERLOADED), never older messages
	// dropped. Default 1 GiB.
	MaxBytes int64
	// MaxAge is how long a message may wait to be written: an older one is
	// dropped by the server. Set it beyond the longest database outage to
	// ride out. Default 7 days.
	MaxAge time.Duration
	// AckWait is how long a fetched message may go unacknowledged before
	// it is delivered again (a consumer that died); consumers extend it
	// while a message is being written. Default 30s.
	AckWait time.Duration
	// PublishWait bounds how long a submission waits for the stream's
	// acknowledgement before it is answered 503 UNAVAILABLE. Default 10s.
	PublishWait time.Duration
	// FetchMessages is how many messages one fetch of a consumer asks for.
	// With the pipeline's queue, it bounds a consumer's memory: a fetch
	// waiting for room in the queue holds at most FetchMessages messages
	// of at most MaxMessageBytes (about 54 MB at the default). Default 64.
	FetchMessages int
	// MaxAckPending bounds the messages delivered and not yet acknowledged,
	// all consumers of the stream together. Default 1024.
	MaxAckPending int
	// MaxRows bounds the rows submitted and not yet acknowledged by the
	// stream, in this process; past it Submit answers ErrOverloaded. It is
	// also the most rows one submission may carry. Default 500 000.
	MaxRows int
}

// WithDefaults returns the config with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.PublishWait == 0 {
		c.PublishWait = DefaultPublishWait
	}
	if c.FetchMessages == 0 {
		c.FetchMessages = DefaultFetchMessages
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.MaxRows == 0 {
		c.MaxRows = DefaultMaxRows
	}
	return c
}

var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports the settings that cannot work; call it on WithDefaults'
// result.
func (c Config) Validate() error {
	errs := []error{
		settings.Positive("ingestlog.MaxBytes", c.MaxBytes),
		settings.Positive("ingestlog.MaxAge", c.MaxAge),
		settings.Positive("ingestlog.AckWait", c.AckWait),
		settings.Positive("ingestlog.PublishWait", c.PublishWait),
		settings.Positive("ingestlog.FetchMessages", c.FetchMessages),
		settings.Positive("ingestlog.MaxAckPending", c.MaxAckPending),
		settings.Positive("ingestlog.MaxRows", c.MaxRows),
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("ingestlog.Replicas is %d: JetStream replicates a stream 1 to 5 times", c.Replicas))
	}
	if !streamName.MatchString(c.Stream) {
		errs = append(errs, fmt.Errorf("ingestlog.Stream %q: want 1 to 64 letters, digits, _ or -", c.Stream))
	}
	if c.MaxBytes > 0 && c.MaxBytes < MaxMessageBytes {
		errs = append(errs, fmt.Errorf("ingestlog.MaxBytes is %d: must hold at least one message (%d bytes)", c.MaxBytes, MaxMessageBytes))
	}
	for _, u := range c.servers() {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			errs = append(errs, fmt.Errorf("ingestlog.URLs: %q is not nats://host:port", u))
		}
	}
	if len(c.servers()) == 0 {
		errs = append(errs, errors.New("ingestlog.URLs: no server"))
	}
	return errors.Join(errs...)
}

func (c Config) servers() []string {
	var out []string
	for u := range strings.SplitSeq(c.URLs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func (c Config) subject() string  { return c.Stream + ".points" }
func (c Config) consumer() string { return c.Stream + "_WRITERS" }
