package ocppj

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"github.com/gridmetrics/gridmetrics/recovery"
)

// conn is one charger's connection. Its reader reads frames and queues the
// CALLs; its worker processes them one at a time, in order, and answers
// each once it is done (committed). Pings keep it alive; a connection
// silent for PingInterval+PongWait is closed.
type conn struct {
	s     *Server
	ws    *websocket.Conn
	box   chargeBox
	proto Protocol
	log   *slog.Logger

	writeMu sync.Mutex // one writer at a time (the library allows one)
	queue   chan call
	// queued is the payload bytes waiting in queue: at most MaxFrame (or
	// one frame of any size), so that beside the frame being read and the
	// one being processed a connection holds about one frame's worth more,
	// however many small frames MaxQueued lets wait.
	queued  atomic.Int64
	limiter *rate.Limiter

	closeOnce sync.Once
	ctx       context.Context // ends when the connection does
	cancel    context.CancelFunc

	// token names the connection in ConnectionsChannel, announcedAt is
	// when it was announced there (the database's clock, µs; 0: not yet),
	// and replaced is set when a newer connection of the box on another
	// replica took over.
	token       string
	announcedAt atomic.Int64
	replaced    atomic.Bool
}

// serve runs a connection until it ends; the library closes ws after.
func (s *Server) serve(ws *websocket.Conn, cb chargeBox, proto Protocol) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{s: s, ws: ws, box: cb, proto: proto, queue: make(chan call, s.cfg.MaxQueued),
		limiter: rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Burst), ctx: ctx, cancel: cancel, token: connToken(),
		log: s.cfg.Logger.With("charge_box", cb.ID, "tenant_id", cb.TenantID, "protocol", proto)}
	defer cancel()
	old, ok := s.hub.add(c)
	if !ok {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "the server is shutting down"),
			time.Now().Add(time.Second))
		return
	}
	if old != nil {
		old.close(websocket.ClosePolicyViolation, "replaced by a new connection of the same charge box")
		s.metrics.replaced.Inc()
	}
	s.metrics.open.Inc()
	defer s.metrics.open.Dec()
	c.log.Info("charger connected", "replaced", old != nil)
	c.announce()
	c.record("Online")

	worker := make(chan struct{})
	recovery.Go(s.cfg.Logger, "ocppj_worker", func() {
		defer close(worker)
		c.work()
	}, "charge_box", cb.ID)
	pinger := make(chan struct{})
	recovery.Go(s.cfg.Logger, "ocppj_pinger", func() {
		defer close(pinger)
		c.ping()
	}, "charge_box", cb.ID)

	err := recovery.Call(s.cfg.Logger, "ocppj_reader", c.read, "charge_box", cb.ID)
	c.log.Info("charger disconnected", "reason", err)
	close(c.queue) // the worker answers what is queued, then ends
	<-worker
	c.close(websocket.CloseNormalClosure, "")
	<-pinger
	// A connection another replica took over leaves the box Online there.
	if s.hub.remove(c) && !c.replaced.Load() {
		c.record("Offline")
	}
}

// read reads frames until the connection fails or closes.
func (c *conn) read() error {
	cfg := c.s.cfg
	c.ws.SetReadLimit(int64(cfg.MaxFrame))
	alive := func() { _ = c.ws.SetReadDeadline(time.Now().Add(cfg.PingInterval + cfg.PongWait)) }
	alive()
	c.ws.SetPongHandler(func(string) error { alive(); return nil })
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.s.metrics.refused.WithLabelValues("frame_too_large").Inc()
				c.close(websocket.CloseMessageTooBig, "a frame is at most the server's limit")
			}
			return err
		}
		alive()
		if kind != websocket.TextMessage {
			c.s.metrics.refused.WithLabelValues("binary").Inc()
			c.close(websocket.CloseUnsupportedData, "OCPP-J frames are text")
			return errors.New("binary frame")
		}
		call, isCall, rerr := parseFrame(data)
		switch {
		case rerr != nil:
			c.s.metrics.refused.WithLabelValues("malformed").Inc()
			c.writeError(rerr)
			continue
		case !isCall:
			continue // an answer to a CALL of ours; we send none yet
		}
		if !c.limiter.Allow() {
			c.s.metrics.refused.WithLabelValues("rate").Inc()
			c.writeError(&rpcError{ID: call.ID, Code: GenericError,
				Description: "too many messages: this connection may send " + formatRate(cfg.Rate, cfg.Burst) + "; not processed, send it again later",
				Details:     map[string]any{"rate_per_second": cfg.Rate, "burst": cfg.Burst}})
			continue
		}
		size := int64(len(call.Payload))
		if n := c.queued.Load(); n > 0 && n+size > int64(cfg.MaxFrame) {
			c.s.metrics.refused.WithLabelValues("in_flight").Inc()
			c.writeError(&rpcError{ID: call.ID, Code: GenericError,
				Description: "too many bytes of CALLs in flight: OCPP allows one CALL at a time; not processed, wait for the answers",
				Details:     map[string]any{"max_queued": cfg.MaxQueued, "max_queued_bytes": cfg.MaxFrame}})
			continue
		}
		c.queued.Add(size)
		select {
		case c.queue <- call:
		default:
			c.queued.Add(-size)
			c.s.metrics.refused.WithLabelValues("in_flight").Inc()
			c.writeError(&rpcError{ID: call.ID, Code: GenericError,
				Description: "too many CALLs in flight: OCPP allows one at a time; not processed, wait for the answers",
				Details:     map[string]any{"max_queued": cfg.MaxQueued}})
		}
	}
}

// work processes the queued CALLs in order.
func (c *conn) work() {
	for call := range c.queue {
		c.queued.Add(-int64(len(call.Payload)))
		c.answer(call)
	}
}

// answer processes one CALL and sends its CALLRESULT or CALLERROR.
func (c *conn) answer(cl call) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.CallTimeout)
	defer cancel()
	var result any
	err := recovery.Call(c.s.cfg.Logger, "ocppj_call", func() error {
		var err error
		result, err = c.s.dispatch(ctx, c, cl)
		return err
	}, "charge_box", c.box.ID, "action", cl.Action)
	c.s.metrics.calls.WithLabelValues(string(c.proto), metricAction(cl.Action), outcome(err)).Inc()
	c.s.metrics.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		c.writeError(c.s.rpcErrorOf(c, cl, err))
		return
	}
	b, err := encodeResult(cl.ID, result)
	if err != nil {
		c.writeError(&rpcError{ID: cl.ID, Code: InternalError, Description: "internal error; try again"})
		return
	}
	c.write(b)
}

func (c *conn) writeError(e *rpcError) { c.write(encodeError(c.proto, e)) }

// write sends a text frame; a failed write closes the connection (the
// reader then ends).
func (c *conn) write(b []byte) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.log.Debug("write failed", "err", err)
		_ = c.ws.NetConn().Close()
	}
}

// ping sends a ping every PingInterval until the connection ends.
func (c *conn) ping() {
	t := time.NewTicker(c.s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
				_ = c.ws.NetConn().Close()
				return
			}
		}
	}
}

// close sends a close frame (once) and closes the network connection: the
// reader ends, the worker finishes what it holds, serve cleans up.
func (c *conn) close(code int, reason string) {
	c.closeOnce.Do(func() {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = c.ws.NetConn().Close()
		c.cancel()
	})
}

// recordTimeout bounds recording a connection state: a charger whose
// database is slow is not kept waiting long for its first answer.
const recordTimeout = 5 * time.Second

// record stores a connection state; a failure is logged, not fatal: the
// charger's messages matter more than its online marker.
func (c *conn) record(state string) {
	if c.s.Status == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(recordTimeout, c.s.cfg.CallTimeout))
	defer cancel()
	if err := c.s.Status.Record(ctx, c.box.TenantID, c.box.SourceID, state, time.Now().UTC().Truncate(time.Microsecond)); err != nil {
		c.log.Warn("record connection state", "state", state, "err", err)
	}
}
