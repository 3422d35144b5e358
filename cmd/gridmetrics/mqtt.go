package main

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/mqtt"
)

// bindMQTT registers the settings of the broker subscription; it is off
// while mqtt-url is empty.
func (c *Config) bindMQTT(b *binder) {
	m := &c.MQTT
	b.str(&m.URL, "mqtt-url", "", "MQTT broker to subscribe to: mqtt://host:port or mqtts://host:port; empty: no MQTT")
	b.str(&m.Username, "mqtt-username", "", "user name at the broker")
	b.str(&m.Password, "mqtt-password", "", "password at the broker")
	b.str(&m.ClientID, "mqtt-client-id", "", "client id of the service's session at the broker: stable across restarts, one per replica; empty: gridmetrics-<hostname>")
	b.str(&m.CAFile, "mqtt-ca-file", "", "PEM file of the CA that signs the broker's certificate (mqtts); empty: the system's roots")
	b.str(&m.Prefix, "mqtt-prefix", mqtt.DefaultPrefix, "first topic level(s): topics are {prefix}/{tenant_id}/{preset}/{device}/…")
	b.str(&m.Group, "mqtt-group", mqtt.DefaultGroup, "shared subscription group: replicas in one group split the messages")
	b.int(&m.Inflight, "mqtt-inflight", mqtt.DefaultInflight, "most messages the broker sends before the service acknowledges one (MQTT 5 Receive Maximum)")
	b.int(&m.MaxPayload, "mqtt-max-payload", mqtt.DefaultMaxPayload, "largest message payload in bytes; a larger one goes to the tenant's rejections")
	b.duration(&m.SessionExpiry, "mqtt-session-expiry", mqtt.DefaultSessionExpiry, "how long the broker keeps the service's session and queued messages while it is away")
	b.duration(&m.KeepAlive, "mqtt-keepalive", mqtt.DefaultKeepAlive, "MQTT keep-alive interval")
	b.duration(&m.ReconnectMax, "mqtt-reconnect-max", mqtt.DefaultReconnectMax, "longest wait between attempts to reconnect to the broker")
	b.int(&m.RejectionsKept, "mqtt-rejections-kept", mqtt.DefaultRejectionsKept, "rejected MQTT messages kept per tenant (GET /v1/mqtt/rejections)")
}

// validateMQTT checks the subscription's settings when it is on.
func (c Config) validateMQTT() error {
	m := c.MQTT
	if m.URL == "" {
		return nil
	}
	if m.Inflight < 1 || m.Inflight > 65535 || m.MaxPayload < 1 || m.RejectionsKept < 1 {
		return errors.New("mqtt-inflight must be from 1 to 65535; mqtt-max-payload and mqtt-rejections-kept must be positive")
	}
	if m.SessionExpiry <= 0 || m.KeepAlive < 0 || m.ReconnectMax <= 0 {
		return errors.New("mqtt-session-expiry and mqtt-reconnect-max must be positive, mqtt-keepalive not negative")
	}
	return m.Validate()
}

// mountMQTT mounts the rejections route and, when a broker is set,
// connects to it. Its lookups and rejections are short statements on the
// auth pool, beside the source lookups of the other ingest paths.
func (m *Main) mountMQTT(v1 fiber.Router, readings *ingest.Service, reg prometheus.Registerer) error {
	mqtt.Mount(v1, mqtt.NewRejections(m.pools.read, m.Config.MQTT.RejectionsKept))
	if m.Config.MQTT.URL == "" {
		return nil
	}
	m.mqtt = mqtt.New(m.Config.MQTT, readings, m.pools.auth, mqtt.NewMetrics(reg), m.Log)
	// A device's time zone is cached by name: it follows the resolver,
	// which hears of every rename and change of zone.
	readings.Resolver.Follow(m.mqtt.SourceChanged)
	return m.mqtt.Start()
}

// mqttFact is the broker connection as /readyz shows it. A broker that is
// down leaves the service ready: the other ingest paths and every read
// still work, and the broker keeps the messages until it is back.
func (m *Main) mqttFact() any {
	if m.mqtt == nil {
		return map[string]any{"status": "off"}
	}
	return m.mqtt.State()
}

// closeMQTT stops taking messages and lets those in flight commit and be
// acknowledged until ctx ends.
func (m *Main) closeMQTT(ctx context.Context) {
	if m.mqtt != nil {
		m.mqtt.Close(ctx)
	}
}
