// Package mqtt takes readings in from an MQTT broker: a shared, QoS 1
// subscription whose messages are decoded by the preset their topic names
// and written through the ingest pipeline, each acknowledged to the broker
// only once its rows are committed.
package mqtt

import (
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

// DefaultPrefix is the first level of every topic the service reads:
// {prefix}/{tenant}/{preset}/{device}/….
const DefaultPrefix = "gridmetrics"

// Message is one received message, ready for its preset's decoder.
type Message struct {
	Topic   Topic
	Payload []byte
	// Received is when the service received the message: the time of
	// readings whose payload carries none.
	Received time.Time
	// Zone is the device's time zone, for payloads that carry local times
	// without an offset (Tasmota). Never nil when the decoder is called.
	Zone *time.Location
}

// Decoded is what a preset's decoder made of a message: rows for the
// ingest service (their Source is an external id within the topic's
// tenant), and the rows it could not read, by index.
type Decoded struct {
	Rows     []ingest.Row
	Rejected ingest.Rejections
}
