// Package ocppj lets chargers connect directly: the OCPP-J endpoint
// (OCPP 1.6 and 2.0.1 over WebSocket). Each CALL a charger sends is
// answered through the same service functions as the HTTP OCPP routes
// (sessions, ingest, availability), and its CALLRESULT is sent only after
// what it carried is committed.
package ocppj

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/credcache"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/internal/settings"
	"github.com/gridmetrics/gridmetrics/sessions"
)

// DefaultPasswordCacheTTL is the service's default Config.PasswordCacheTTL;
// WithDefaults leaves a zero alone, since zero disables the cache.
const DefaultPasswordCacheTTL = 10 * time.Minute

// Config configures the endpoint. Zero fields take their defaults
// (WithDefaults).
type Config struct {
	// MaxFrame is the largest frame (WebSocket message) a charger may send,
	// in bytes; a larger one closes the connection with 1009 (message too
	// big). Default 1 MiB, the OCPP HTTP routes' body limit.
	MaxFrame int
	// MaxQueued is how many CALLs of one connection may wait behind the one
	// being processed. OCPP allows one CALL in flight per direction; a
	// charger that sends more gets a CALLERROR (GenericError) for each one
	// past the queue. Default 4.
	MaxQueued int
	// Rate is the sustained CALLs per second one connection may send, and
	// Burst how many at once above it; past them a CALL gets a CALLERROR
	// (GenericError) unprocessed. Defaults 10 and 20.
	Rate  float64
	Burst int
	// HeartbeatInterval is the interval BootNotification tells chargers to
	// send heartbeats at. Default 5m.
	HeartbeatInterval time.Duration
	// PingInterval is how often the server pings an idle connection; a
	// connection from which nothing (frame or pong) arrived for
	// PingInterval+PongWait is closed as dead. Defaults 30s and 30s.
	PingInterval time.Duration
	PongWait     time.Duration
	// CallTimeout bounds the processing of one CALL (its commit included).
	// Default 60s.
	CallTimeout time.Duration
	// WriteTimeout bounds writing one frame to a charger. Default 10s.
	WriteTimeout time.Duration
	// MaxVerifying bounds the password checks (a slow hash) running at
	// once; more handshakes wait for a slot. Default 4.
	MaxVerifying int
	// PasswordCacheTTL is how long a password that passed the slow check
	// is accepted again without it (a reconnect storm costs a hash and a
	// lookup per charger); a change of the box's password drops its entry
	// at once. Zero disables the cache. PasswordCacheSize is the most
	// entries held; zero means DefaultPasswordCacheSize.
	PasswordCacheTTL  time.Duration
	PasswordCacheSize int
	// Logger receives connection events and errors. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxFrame <= 0 {
		c.MaxFrame = 1 << 20
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 4
	}
	if c.Rate <= 0 {
		c.Rate = 10
	}
	if c.Burst <= 0 {
		c.Burst = int(math.Ceil(2 * c.Rate))
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Minute
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.PongWait <= 0 {
		c.PongWait = 30 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxVerifying <= 0 {
		c.MaxVerifying = 4
	}
	if c.PasswordCacheSize <= 0 {
		c.PasswordCacheSize = DefaultPasswordCacheSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the settings that cannot work. It checks c as it will
// run, so a zero that WithDefaults would replace is refused too: call it on
// WithDefaults' result, or on settings given in full (the command line).
func (c Config) Validate() error {
	return errors.Join(
		settings.Positive("ocppj.MaxFrame", c.MaxFrame),
		settings.Positive("ocppj.MaxQueued", c.MaxQueued),
		settings.Positive("ocppj.Rate", c.Rate),
		settings.Positive("ocppj.Burst", c.Burst),
		settings.Positive("ocppj.HeartbeatInterval", c.HeartbeatInterval),
		settings.Positive("ocppj.PingInterval", c.PingInterval),
		settings.Positive("ocppj.PongWait", c.PongWait),
		settings.Positive("ocppj.CallTimeout", c.CallTimeout),
		settings.Positive("ocppj.WriteTimeout", c.WriteTimeout),
		settings.Positive("ocppj.MaxVerifying", c.MaxVerifying),
		settings.NotNegative("ocppj.PasswordCacheTTL", c.PasswordCacheTTL),
		settings.Positive("ocppj.PasswordCacheSize", c.PasswordCacheSize),
	)
}

// Sessions applies transaction messages: sessions.Service.
type Sessions interface {
	OCPPStartTransaction16(ctx context.Context, tenantID int64, box string, payload []byte) (sessions.OCPPReply, error)
	OCPPStopTransaction16(ctx context.Context, tenantID int64, box string, payload []byte) (sessions.OCPPReply, error)
	OCPPTransactionEvent201(ctx context.Context, tenantID int64, box string, payload []byte) (sessions.OCPPReply, error)
}

// Readings writes MeterValues payloads: ingest.Service.
type Readings interface {
	OCPPMeterValues(ctx context.Context, tenantID int64, box string, payload []byte) (ingest.Result, error)
}

// StatusRecorder records connector availability: StatusNotification
// payloads (as the HTTP status route does) and a charge box's connection
// going up and down ("Online", "Offline") at an instant. Both return once
// the state is committed. Nil records nothing (see Server.Status).
type StatusRecorder interface {
	StatusNotification(ctx context.Context, tenantID int64, box string, payload []byte) error
	Record(ctx context.Context, tenantID, sourceID int64, state string, at time.Time) error
}

// Authenticator counts failed authentications per client address: the
// same limit the API's credentials are under (auth.Authenticator).
type Authenticator interface {
	AddressBlocked(addr string) (bool, time.Duration)
	AuthFailed(addr string)
}

// Server is the OCPP-J endpoint: its handshake, its connections and their
// message handling.
type Server struct {
	Store    *Store
	Sessions Sessions
	Readings Readings
	// IDTags answers Authorize by the tenant's id-tag policy, the one the
	// transaction messages' idTagInfo comes from; nil accepts every id.
	IDTags sessions.IDTags
	// Status records availability; nil answers StatusNotification without
	// recording it.
	Status StatusRecorder
	// Auth limits failed authentications per address; nil does not.
	Auth Authenticator
	// ClientAddr names the client address of a request (for the failure
	// limit); nil takes the peer address.
	ClientAddr func(c *fiber.Ctx) string

	cfg       Config
	hub       hub
	verifying chan struct{}
	metrics   *metrics
	// passwords holds the passwords verified recently (nil: disabled);
	// slowChecks counts the key derivations run, for tests.
	passwords  *credcache.Cache[struct{}]
	slowChecks atomic.Int64
}

// NewServer returns an endpoint; Mount its routes, Close it on shutdown.
// reg may be nil.
func NewServer(store *Store, cfg Config, reg prometheus.Registerer) *Server {
	cfg = cfg.WithDefaults()
	s := &Server{Store: store, cfg: cfg, hub: hub{conns: map[hubKey]*conn{}},
		verifying: make(chan struct{}, cfg.MaxVerifying), metrics: newMetrics(reg)}
	if cfg.PasswordCacheTTL > 0 {
		s.passwords = credcache.New[struct{}](cfg.PasswordCacheTTL, 0, cfg.PasswordCacheSize)
	}
	if store != nil {
		store.onChange = s.forgetPassword
	}
	return s
}

// forgetPassword drops a box's verified password from the cache.
func (s *Server) forgetPassword(tenantID int64, box string) {
	if s.passwords != nil {
		s.passwords.Forget(passwordOwner(tenantID, box))
	}
}

// Mount registers GET /ocpp/:tenant/:chargeBoxId (the WebSocket endpoint,
// outside /v1: chargers authenticate with HTTP Basic, not the API's
// credentials) on the app.
func (s *Server) Mount(r fiber.Router) {
	r.Get("/ocpp/:tenant/:chargeBoxId", s.handshake)
}

// basicRealm is the realm of the 401 answers' WWW-Authenticate.
const basicRealm = `Basic realm="gridmetrics-ocpp", charset="UTF-8"`

const headerProtocol = "Sec-WebSocket-Protocol"

// handshake checks the request and upgrades it: every refusal is an HTTP
// answer before the upgrade, in the API's error format.
func (s *Server) handshake(c *fiber.Ctx) error {
	// Copies: Fiber's parameters point into the request's buffer, which
	// is reused once the handshake is answered; the connection outlives it.
	tenant, box := strings.Clone(c.Params("tenant")), strings.Clone(c.Params("chargeBoxId"))
	if err := ingest.ValidateChargeBox(box); err != nil {
		return err
	}
	if !websocket.FastHTTPIsWebSocketUpgrade(c.Context()) {
		return api.Errorf(api.CodeValidation, "this is the OCPP-J endpoint: connect with a WebSocket upgrade, subprotocol %s", protocolList())
	}
	proto, ok := chooseProtocol(c.Get(headerProtocol))
	if !ok {
		return &api.Error{Code: api.CodeValidation,
			Message: fmt.Sprintf("no supported OCPP subprotocol offered in Sec-WebSocket-Protocol (%q); this server speaks %s", c.Get(headerProtocol), protocolList()),
			Details: map[string]any{"field": "Sec-WebSocket-Protocol", "supported": Protocols}}
	}
	addr := c.IP()
	if s.ClientAddr != nil {
		addr = s.ClientAddr(c)
	}
	if s.Auth != nil {
		if blocked, wait := s.Auth.AddressBlocked(addr); blocked {
			secs := int(math.Ceil(wait.Seconds()))
			return &api.Error{Code: api.CodeRateLimited, RetryAfter: secs,
				Message: fmt.Sprintf("too many failed authentications from this address; retry after %d s", secs)}
		}
	}
	cb, err := s.authenticate(c.UserContext(), tenant, box, c.Get(fiber.HeaderAuthorization))
	if err != nil {
		if e := api.AsError(err); e != nil && e.Code == api.CodeUnauthorized {
			s.metrics.refused.WithLabelValues("unauthorized").Inc()
			if s.Auth != nil {
				s.Auth.AuthFailed(addr)
			}
			c.Set(fiber.HeaderWWWAuthenticate, basicRealm)
		}
		return err
	}
	up := websocket.FastHTTPUpgrader{
		Subprotocols: []string{string(proto)},
		// Chargers send no Origin; a browser page may not open this
		// connection on a user's behalf.
		CheckOrigin: func(ctx *fasthttp.RequestCtx) bool { return len(ctx.Request.Header.Peek("Origin")) == 0 },
	}
	return up.Upgrade(c.Context(), func(ws *websocket.Conn) { s.serve(ws, cb, proto) })
}

// authenticate checks HTTP Basic credentials: the user is the charge box
// id, the password that box's own. The answer does not tell an unknown box
// from a wrong password.
func (s *Server) authenticate(ctx context.Context, tenant, box, header string) (chargeBox, error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" || !strings.EqualFold(scheme, "Basic") {
		return chargeBox{}, api.Errorf(api.CodeUnauthorized, "send Authorization: Basic with the charge box id as user and its OCPP password")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	user, pass, found := strings.Cut(string(raw), ":")
	if err != nil || !found || len(pass) > 4*MaxPasswordLen {
		return chargeBox{}, api.Errorf(api.CodeUnauthorized, "malformed Basic credentials")
	}
	if user != box {
		return chargeBox{}, api.Errorf(api.CodeUnauthorized, "the Basic user must be the charge box id of the URL")
	}
	cb, err := s.Store.chargeBox(ctx, tenant, box)
	refused := api.Errorf(api.CodeUnauthorized, "unknown charge box or wrong password")
	switch {
	case err == errUnknownBox:
		return chargeBox{}, refused
	case err != nil:
		return chargeBox{}, err
	}
	// The box is still looked up: the database stays the authority on
	// which boxes exist; only the slow hash is skipped on a hit.
	var key [32]byte
	var gen uint64
	if s.passwords != nil {
		key = passwordKey(tenant, box, cb.hash, pass)
		if _, fresh, hit := s.passwords.Get(key, time.Now()); hit && fresh {
			return cb, nil
		}
		gen = s.passwords.Generation()
	}
	select {
	case s.verifying <- struct{}{}:
	case <-ctx.Done():
		return chargeBox{}, ctx.Err()
	}
	s.slowChecks.Add(1)
	ok := checkPassword(cb.hash, pass)
	<-s.verifying
	if !ok {
		return chargeBox{}, refused
	}
	if s.passwords != nil {
		s.passwords.Put(key, passwordOwner(cb.TenantID, box), struct{}{}, time.Now(), gen)
	}
	return cb, nil
}

// chooseProtocol picks the subprotocol among those offered: the first the
// charger lists that the server speaks.
func chooseProtocol(header string) (Protocol, bool) {
	for _, p := range strings.Split(header, ",") {
		p = strings.TrimSpace(p)
		for _, known := range Protocols {
			if p == string(known) {
				return known, true
			}
		}
	}
	return "", false
}

func protocolList() string {
	names := make([]string, len(Protocols))
	for i, p := range Protocols {
		names[i] = string(p)
	}
	return strings.Join(names, " or ")
}

// Close closes every connection (1001, going away) and waits, until ctx
// ends, for the CALLs in flight to finish.
func (s *Server) Close(ctx context.Context) {
	s.hub.closeAll(ctx)
}

// hubKey names a charge box across tenants.
type hubKey struct {
	tenantID int64
	box      string
}

// hub holds the open connection of each charge box: one per box, a new
// one replaces the old.
type hub struct {
	mu     sync.Mutex
	conns  map[hubKey]*conn
	wg     sync.WaitGroup
	closed bool
}

// add registers c and returns the connection it replaces, if any; ok is
// false once the hub is closed.
func (h *hub) add(c *conn) (old *conn, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	k := hubKey{c.box.TenantID, c.box.ID}
	old = h.conns[k]
	h.conns[k] = c
	h.wg.Add(1)
	return old, true
}

// remove unregisters c; it reports whether c was still the box's
// connection (not replaced).
func (h *hub) remove(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.wg.Done()
	k := hubKey{c.box.TenantID, c.box.ID}
	if h.conns[k] == c {
		delete(h.conns, k)
		return true
	}
	return false
}

// get returns a box's connection.
func (h *hub) get(tenantID int64, box string) *conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[hubKey{tenantID, box}]
}

func (h *hub) closeAll(ctx context.Context) {
	h.mu.Lock()
	h.closed = true
	list := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		list = append(list, c)
	}
	h.mu.Unlock()
	for _, c := range list {
		c.close(websocket.CloseGoingAway, "the server is shutting down")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
