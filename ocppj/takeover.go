package ocppj

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema"
)

// A charge box has one connection: a new one replaces the old (hub.add).
// Behind a load balancer the new connection may land on another replica,
// while the old one — half-dead, the charger gone — lingers on the first
// until its pings time out, and then records the box Offline although it
// is connected elsewhere. So each connection is announced on
// ConnectionsChannel, and a replica holding an older connection of the box
// closes it as replaced, recording nothing.

// ConnectionsChannel is the PostgreSQL channel a replica announces each
// new charge box connection on.
const ConnectionsChannel = "gridmetrics_ocpp_connections"

// maxAnnouncement bounds the payloads read from ConnectionsChannel; an
// announcement is a tenant id, a charge box id and a token, far less.
const maxAnnouncement = 1024

// announcement is the payload of ConnectionsChannel. At orders the
// connections of a box across replicas by the database's clock, the one
// they share: an announcement closes only connections announced before it.
type announcement struct {
	TenantID int64  `json:"tenant_id"`
	Box      string `json:"box"`
	Token    string `json:"token"` // the new connection's connToken
	At       int64  `json:"at_us"` // the database's clock when announced, µs since 1970
}

// connToken names one connection across replicas.
func connToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// announce tells the other replicas that c is now its box's connection; a
// failure is logged: the old connection then ends by its own timeout.
func (c *conn) announce() {
	if c.s.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(recordTimeout, c.s.cfg.CallTimeout))
	defer cancel()
	at, err := c.s.Store.notifyConnection(ctx, c.box.TenantID, c.box.ID, c.token)
	if err != nil {
		c.log.Warn("announce connection to the other replicas", "err", err)
		return
	}
	c.announcedAt.Store(at)
}

// ListenConnections follows ConnectionsChannel until ctx ends, closing
// this replica's connection of a box that connected to another replica.
func (s *Server) ListenConnections(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	schema.Listen(ctx, pool, log, ConnectionsChannel, func() {}, s.takeOver)
}

// takeOver closes the connection of the announced box when it was
// announced before the announced one. One not announced yet (or whose
// announcement failed) is left to its own timeout: which is newer is not
// known. A payload that is not an announcement is ignored.
func (s *Server) takeOver(payload string) {
	if len(payload) > maxAnnouncement {
		return
	}
	var a announcement
	if err := json.Unmarshal([]byte(payload), &a); err != nil || a.Token == "" {
		return
	}
	c := s.hub.get(a.TenantID, a.Box)
	if c == nil || c.token == a.Token {
		return
	}
	if at := c.announcedAt.Load(); at == 0 || at >= a.At {
		return
	}
	c.replaced.Store(true)
	c.close(websocket.ClosePolicyViolation, "replaced by a new connection of the same charge box")
	s.metrics.replaced.Inc()
}
