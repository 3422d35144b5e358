package main

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ocppj"
	"github.com/gridmetrics/gridmetrics/sessions"
)

// bindOCPPJ registers the settings of the OCPP-J endpoint. Its frame limit
// is body-limit-ocpp, the limit of the HTTP OCPP routes; each CALL's
// deadline is request-timeout.
func (c *Config) bindOCPPJ(b *binder) {
	c.OCPPJ = ocppj.Config{}.WithDefaults()
	b.duration(&c.OCPPJ.HeartbeatInterval, "ocpp-heartbeat-interval", c.OCPPJ.HeartbeatInterval, "heartbeat interval BootNotification gives OCPP-J chargers")
	b.duration(&c.OCPPJ.PingInterval, "ocpp-ping-interval", c.OCPPJ.PingInterval, "how often the server pings an OCPP-J connection")
	b.duration(&c.OCPPJ.PongWait, "ocpp-pong-wait", c.OCPPJ.PongWait, "an OCPP-J connection silent for ocpp-ping-interval plus this is closed as dead")
	b.int(&c.OCPPJ.MaxQueued, "ocpp-max-queued", c.OCPPJ.MaxQueued, "CALLs of one OCPP-J connection that may wait behind the one being processed; more get a CALLERROR")
	b.float(&c.OCPPJ.Rate, "ocpp-rate", c.OCPPJ.Rate, "CALLs per second one OCPP-J connection may send; more get a CALLERROR")
	b.int(&c.OCPPJ.Burst, "ocpp-rate-burst", c.OCPPJ.Burst, "CALLs one OCPP-J connection may send at once above ocpp-rate")
	b.duration(&c.OCPPJ.PasswordCacheTTL, "ocpp-password-cache-ttl", ocppj.DefaultPasswordCacheTTL, "how long a charge box password that passed the slow hash is accepted again without it (a password change applies at once); 0 disables the cache")
	b.int(&c.OCPPJ.PasswordCacheSize, "ocpp-password-cache-size", c.OCPPJ.PasswordCacheSize, "most verified charge box passwords cached")
}

// ocppjConfig completes the endpoint's settings from the HTTP limits.
func (m *Main) ocppjConfig() ocppj.Config {
	cfg := m.Config.OCPPJ
	cfg.MaxFrame = min(m.Config.HTTP.OCPPBody, m.Config.BodyLimit)
	cfg.CallTimeout = m.Config.HTTP.RequestTimeout
	cfg.Logger = m.Log
	return cfg
}

// mountOCPPJ starts the OCPP-J endpoint: GET /ocpp/{tenant}/{chargeBoxId}
// on the app, its password route under v1. Charge box passwords are looked
// up on the auth pool, beside the API keys.
func (m *Main) mountOCPPJ(app *fiber.App, v1 fiber.Router, authn *auth.Authenticator, readings *ingest.Service,
	svc *sessions.Service, status ocppj.StatusRecorder, reg prometheus.Registerer) {
	m.ocppj = ocppj.NewServer(ocppj.NewStore(m.pools.auth), m.ocppjConfig(), reg)
	m.ocppj.Sessions, m.ocppj.Readings, m.ocppj.Auth, m.ocppj.Status = svc, readings, authn, status
	// Failed handshakes count per client, as the API's: behind a trusted
	// proxy, the address it forwards.
	m.ocppj.ClientAddr = api.ClientAddr
	m.ocppj.Mount(app)
	m.ocppj.MountAPI(v1)
}

// closeOCPPJ closes the chargers' connections, letting CALLs in flight
// finish until ctx ends.
func (m *Main) closeOCPPJ(ctx context.Context) {
	if m.ocppj != nil {
		m.ocppj.Close(ctx)
	}
}
