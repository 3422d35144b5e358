package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/recovery"
)

// Config is the broker connection and its limits.
type Config struct {
	// URL is the broker: mqtt://host:port or mqtts://host:port (TLS).
	URL      string
	Username string
	Password string
	// ClientID names the service's session at the broker, which keeps the
	// messages not yet acknowledged while the service is away: stable
	// across restarts of one replica, different between replicas.
	ClientID string
	// CAFile is a PEM bundle the broker's certificate must chain to
	// (mqtts); empty: the system's roots.
	CAFile string
	// Prefix is the first level (or levels) of every topic; Group names
	// the shared subscription ($share/{Group}/{Prefix}/#) that replicas
	// split the messages through.
	Prefix string
	Group  string
	// Inflight is the most messages the broker sends before the service
	// acknowledges one (MQTT 5 Receive Maximum): the back-pressure bound.
	Inflight int
	// MaxPayload bounds a message's payload; a larger one goes to the
	// dead-letter record. The broker is asked (Maximum Packet Size) not to
	// send packets much larger.
	MaxPayload int
	// SessionExpiry is how long the broker keeps the session, and the
	// messages queued for it, while the service is disconnected.
	SessionExpiry time.Duration
	KeepAlive     time.Duration
	// ReconnectMax bounds the backoff between connection attempts.
	ReconnectMax time.Duration
	// RejectionsKept is how many rejected messages each tenant's
	// dead-letter record keeps.
	RejectionsKept int
}

// Defaults of Config.
const (
	DefaultGroup         = "gridmetrics"
	DefaultInflight      = 256
	DefaultMaxPayload    = 256 << 10
	DefaultSessionExpiry = 24 * time.Hour
	DefaultKeepAlive     = 30 * time.Second
	DefaultReconnectMax  = 30 * time.Second
)

// packetOverhead is what a packet may carry beyond its payload: the topic
// and properties.
const packetOverhead = 64 << 10

// Subscriber holds the broker connection and turns its messages into
// committed readings.
type Subscriber struct {
	cfg        Config
	ingest     *ingest.Service
	dir        *directory
	rejections *Rejections
	metrics    *Metrics
	log        *slog.Logger

	cm     *autopaho.ConnectionManager
	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	slots  chan struct{}  // one per message in flight
	wg     sync.WaitGroup // messages in flight

	mu      sync.Mutex
	state   State
	closing chan struct{} // closed when Close starts
}

// State is the broker connection as /readyz shows it.
type State struct {
	Status string    `json:"status"` // connecting, connected, disconnected, closed
	Since  time.Time `json:"since"`
	// Problem says what is wrong while not connected, without hosts or
	// credentials: the route that shows it needs none.
	Problem string `json:"problem,omitempty"`
}

// New returns a subscriber writing through svc; lookups and the
// dead-letter record use db. Start connects it.
func New(cfg Config, svc *ingest.Service, db *pgxpool.Pool, m *Metrics, log *slog.Logger) *Subscriber {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{cfg: cfg, ingest: svc, dir: &directory{db: db}, rejections: NewRejections(db, cfg.RejectionsKept),
		metrics: m, log: log, ctx: ctx, cancel: cancel, slots: make(chan struct{}, cfg.Inflight),
		state: State{Status: "connecting", Since: time.Now()}, closing: make(chan struct{})}
}

// SourceChanged drops the cached time zones: a source was renamed, given
// another zone or deleted (sources.Resolver.Follow tells of it, from this
// replica and the others). The zones are cached by device name, so all of
// them go; each device costs one lookup more afterwards.
func (s *Subscriber) SourceChanged(int64) { s.dir.zones.flush() }

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.Inflight < 1 {
		c.Inflight = DefaultInflight
	}
	c.Inflight = min(c.Inflight, 65535)
	if c.MaxPayload < 1 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.SessionExpiry <= 0 {
		c.SessionExpiry = DefaultSessionExpiry
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.ClientID == "" {
		host, _ := os.Hostname()
		c.ClientID = "gridmetrics-" + host
	}
	return c
}

// Validate checks the settings that can be wrong.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Host == "" {
		return fmt.Errorf("mqtt-url %q: want mqtt://host:port or mqtts://host:port", redact(c.URL))
	}
	if strings.ContainsAny(c.Prefix, "+#") || strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") {
		return fmt.Errorf("mqtt-prefix %q: topic levels without wildcards or leading and trailing slashes", c.Prefix)
	}
	if strings.ContainsAny(c.Group, "+#/") {
		return fmt.Errorf("mqtt-group %q: one topic level without wildcards", c.Group)
	}
	return nil
}

// redact drops the password of a URL, for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Filter is the subscription: every topic under the prefix, shared by the
// replicas of the group.
func (s *Subscriber) Filter() string { return "$share/" + s.cfg.Group + "/" + s.cfg.Prefix + "/#" }

// Start connects in the background and keeps reconnecting, with backoff,
// until Close.
func (s *Subscriber) Start() error {
	u, err := url.Parse(s.cfg.URL)
	if err != nil {
		return err
	}
	username, password := s.cfg.Username, s.cfg.Password
	if u.User != nil {
		// Credentials in the URL, when the settings give none.
		if username == "" {
			username = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && password == "" {
			password = p
		}
		u.User = nil
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return err
	}
	receiveMax, maxPacket := uint16(s.cfg.Inflight), uint32(s.cfg.MaxPayload+packetOverhead)
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        tlsCfg,
		KeepAlive:                     uint16(s.cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         uint32(s.cfg.SessionExpiry / time.Second),
		ReconnectBackoff:              autopaho.NewExponentialBackoff(200*time.Millisecond, max(s.cfg.ReconnectMax, time.Second), time.Second, 2),
		ConnectTimeout:                connectTimeout,
		AttemptConnection:             dialer(tlsCfg),
		ConnectUsername:               username,
		ConnectPassword:               []byte(password),
		ConnectPacketBuilder: func(c *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if c.Properties == nil {
				c.Properties = &paho.ConnectProperties{}
			}
			c.Properties.ReceiveMaximum = &receiveMax
			c.Properties.MaximumPacketSize = &maxPacket
			return c, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			s.metrics.connects.Inc()
			go s.subscribe(cm)
		},
		OnConnectionDown: func() bool {
			s.metrics.connected.Set(0)
			s.setState("disconnected", "connection lost; reconnecting")
			return true
		},
		OnConnectError: func(err error) {
			s.metrics.failures.Inc()
			s.setState("disconnected", connectProblem(err))
			s.log.Warn("mqtt connect failed", "broker", redact(s.cfg.URL), "err", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.cfg.ClientID,
			EnableManualAcknowledgment: true,
			// Acknowledgements wait for those of earlier messages and go
			// out on this tick (50 ms by default, which would cap one
			// connection at Inflight messages per 50 ms).
			SendAcksInterval:  5 * time.Millisecond,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){s.received},
			OnClientError: func(err error) {
				s.log.Warn("mqtt connection error", "err", err)
			},
		},
	}
	cm, err := autopaho.NewConnection(s.ctx, cfg)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	s.cm = cm
	return nil
}

func (s *Subscriber) tlsConfig() (*tls.Config, error) {
	if s.cfg.CAFile == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	pem, err := os.ReadFile(s.cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("mqtt-ca-file %s: no PEM certificate in it", s.cfg.CAFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// connectProblem says why a connection failed, without hosts or
// credentials.
func connectProblem(err error) string {
	var ce *autopaho.ConnackError
	if errors.As(err, &ce) {
		switch ce.ReasonCode {
		case 0x86, 0x87, 0x04, 0x05:
			return "the broker refused the credentials"
		case 0x85:
			return "the broker refused the client id"
		}
		return fmt.Sprintf("the broker refused the connection (reason 0x%02x)", ce.ReasonCode)
	}
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		return "the broker's TLS certificate is not trusted (see mqtt-ca-file)"
	}
	return "broker unreachable"
}

// subscribe (re)subscribes after a connection: a resumed session keeps
// the subscription, but a new one (expired, or a broker that lost it)
// does not.
func (s *Subscriber) subscribe(cm *autopaho.ConnectionManager) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	ack, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: s.Filter(), QoS: 1}}})
	if err == nil && (len(ack.Reasons) != 1 || ack.Reasons[0] > 1) {
		err = fmt.Errorf("subscription refused (reason %v)", ack.Reasons)
	}
	if err != nil {
		s.setState("disconnected", "the broker refused the subscription to "+s.Filter()+"; check its ACL")
		s.log.Error("mqtt subscribe failed", "filter", s.Filter(), "err", err)
		return
	}
	s.metrics.connected.Set(1)
	s.setState("connected", "")
	s.log.Info("mqtt subscribed", "broker", redact(s.cfg.URL), "filter", s.Filter(), "client_id", s.cfg.ClientID)
}

func (s *Subscriber) setState(status, problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Status == "closed" {
		return
	}
	if s.state.Status != status {
		s.state.Since = time.Now()
	}
	s.state.Status, s.state.Problem = status, problem
}

// State is the connection's state now.
func (s *Subscriber) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// received takes a message from the connection's reader. It waits for a
// free slot (the broker sends at most Inflight unacknowledged messages, so
// it rarely waits) and handles the message in its own goroutine: the
// reader goes on, and the writes of many messages share group commits.
// The acknowledgements still go out in the order the messages came, as
// MQTT wants: the client holds back an ack until those before it are sent.
func (s *Subscriber) received(pr paho.PublishReceived) (bool, error) {
	select {
	case s.slots <- struct{}{}:
	case <-s.closing:
		return true, nil // left unacknowledged: the broker sends it again
	}
	s.mu.Lock()
	if s.state.Status == "closed" {
		s.mu.Unlock()
		<-s.slots
		return true, nil
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.inflight.Inc()
	p, client, received := pr.Packet, pr.Client, time.Now()
	go func() {
		defer func() {
			s.metrics.inflight.Dec()
			<-s.slots
			s.wg.Done()
		}()
		var ack bool
		err := recovery.Call(s.log, "mqtt message", func() error {
			ack = s.handle(p.Topic, p.Payload, received)
			return nil
		}, "topic", p.Topic)
		if err != nil {
			// A panic: the message is poison. Acknowledged, or it would
			// come back for ever; the record keeps it.
			ack = s.reject(p.Topic, p.Payload, received, "the message could not be processed (internal error)")
		}
		if ack {
			if err := client.Ack(p); err != nil {
				s.log.Debug("mqtt ack", "err", err)
			}
		}
	}()
	return true, nil
}

// handle takes one message in and reports whether to acknowledge it: true
// once its rows are committed or it is in the dead-letter record; false
// when the service is closing first (the broker will send it again).
func (s *Subscriber) handle(name string, payload []byte, received time.Time) bool {
	topic, err := ParseTopic(s.cfg.Prefix, name)
	if err != nil {
		s.metrics.messages.WithLabelValues(outcomeInvalidTopic).Inc()
		s.log.Debug("mqtt message outside the topic layout", "topic", validText(name), "err", err)
		return true
	}
	tenantID, ok := s.tenantOf(topic.Tenant)
	if !ok {
		return false
	}
	if tenantID == 0 {
		s.metrics.messages.WithLabelValues(outcomeUnknownTenant).Inc()
		s.log.Debug("mqtt message for no tenant", "topic", validText(name))
		return true
	}
	rejectf := func(format string, args ...any) bool {
		return s.recordRejection(tenantID, name, payload, received, fmt.Sprintf(format, args...))
	}
	if len(payload) > s.cfg.MaxPayload {
		return rejectf("the payload of %d bytes exceeds the limit of %d bytes", len(payload), s.cfg.MaxPayload)
	}
	device, err := Device(topic)
	if err != nil {
		return rejectf("%v", err)
	}
	msg := Message{Topic: topic, Payload: payload, Received: received, Zone: time.UTC}
	if UsesLocalTime(topic.Preset) && !s.retry("look up time zone", func(ctx context.Context) (err error) {
		msg.Zone, err = s.dir.zone(ctx, tenantID, device, time.Now())
		return err
	}) {
		return false
	}
	dec, err := Decode(msg, s.ingest.MaxRows())
	if err != nil {
		return rejectf("%v", err)
	}
	if len(dec.Rows) == 0 && dec.Rejected.Total == 0 {
		s.metrics.messages.WithLabelValues(outcomeIgnored).Inc()
		return true
	}
	var res ingest.Result
	var tooLarge error
	if !s.retry("write readings", func(ctx context.Context) error {
		var err error
		res, err = s.ingest.IngestRejections(ctx, tenantID, dec.Rows, dec.Rejected, ingest.RegisterMeters)
		if e := (*api.Error)(nil); errors.As(err, &e) && e.Code == api.CodeTooLarge {
			tooLarge, err = err, nil
		}
		return err
	}) {
		return false
	}
	if tooLarge != nil {
		return rejectf("%v", tooLarge)
	}
	s.metrics.commitTime.Observe(time.Since(received).Seconds())
	if res.RejectedTotal > 0 {
		return rejectf("%s", rowsRefused(res))
	}
	s.metrics.messages.WithLabelValues(outcomeStored).Inc()
	return true
}

// rowsRefused says which rows of a message were refused: the first few,
// and how many in all.
func rowsRefused(res ingest.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d readings refused", res.RejectedTotal, res.RejectedTotal+res.Accepted)
	for i, e := range res.Rejected {
		if i == 10 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; [%d] %s: %s", e.Index, e.Code, e.Message)
	}
	return b.String()
}

// recordRejection keeps a message in the tenant's dead-letter record and
// reports whether to acknowledge it (false: closing before the record
// could be written).
func (s *Subscriber) recordRejection(tenantID int64, topic string, payload []byte, received time.Time, reason string) bool {
	s.metrics.messages.WithLabelValues(outcomeRejected).Inc()
	return s.retry("record rejected message", func(ctx context.Context) error {
		return s.rejections.Add(ctx, tenantID, topic, received, reason, payload)
	})
}

// reject records a message whose tenant is not known yet (after a panic);
// it resolves the tenant itself.
func (s *Subscriber) reject(topic string, payload []byte, received time.Time, reason string) bool {
	t, err := ParseTopic(s.cfg.Prefix, topic)
	if err != nil {
		return true
	}
	tenantID, ok := s.tenantOf(t.Tenant)
	if !ok {
		return false
	}
	if tenantID == 0 {
		return true
	}
	return s.recordRejection(tenantID, topic, payload, received, reason)
}

// tenantOf returns the id of the tenant with public id publicID (0: no
// such tenant), waiting out database failures; ok is false when the
// subscriber closes first.
func (s *Subscriber) tenantOf(publicID string) (id int64, ok bool) {
	ok = s.retry("look up tenant", func(ctx context.Context) (err error) {
		id, err = s.dir.tenant(ctx, publicID, time.Now())
		return err
	})
	return id, ok
}

// retry runs f until it succeeds, waiting longer after each failure (a
// full ingest queue, an unreachable database): the message stays
// unacknowledged meanwhile, which is the back-pressure the broker sees. It
// returns false when the subscriber closes first.
func (s *Subscriber) retry(what string, f func(ctx context.Context) error) bool {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f(s.ctx)
		if err == nil {
			return true
		}
		if s.ctx.Err() != nil {
			return false
		}
		s.metrics.retries.Inc()
		if attempt == 1 || attempt%20 == 0 {
			s.log.Warn("mqtt message waits", "step", what, "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return false
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Close stops taking messages, lets those in flight finish until ctx ends
// (their rows committed and acknowledged), and disconnects. Messages not
// finished by then stay unacknowledged: the broker keeps them for the
// session and sends them again.
func (s *Subscriber) Close(ctx context.Context) {
	s.mu.Lock()
	if s.state.Status == "closed" {
		s.mu.Unlock()
		return
	}
	s.state = State{Status: "closed", Since: time.Now()}
	close(s.closing)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel() // the writes still waiting give up, unacknowledged
		<-done
	}
	if s.cm != nil {
		// The client sends held-back acknowledgements every 50 ms.
		time.Sleep(150 * time.Millisecond)
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.cm.Disconnect(dctx)
	}
	s.cancel()
	s.metrics.connected.Set(0)
}
