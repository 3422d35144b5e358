package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// clientProbe is how often a request in progress checks that its client
// is still connected.
const clientProbe = time.Second

const requestStateKey = "gridmetrics.request_state"

// statusClientClosed is logged for a request whose client left before its
// answer.
const statusClientClosed = 499

// requestState ties a request's work to its client: the contexts to cancel
// when the client goes away, and the probe that finds out.
type requestState struct {
	conn               net.Conn
	log                *slog.Logger
	streamWriteTimeout time.Duration

	mu        sync.Mutex
	cancels   []context.CancelFunc
	probe     *time.Timer
	finished  bool
	gone      bool // the client closed the connection
	streaming bool // Stream took over; the stream finishes the request
}

// add registers a cancel function; it runs at once if the client is gone
// or the request finished.
func (s *requestState) add(cancel context.CancelFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		cancel()
		return
	}
	s.cancels = append(s.cancels, cancel)
}

// finish stops the probe and cancels the request's contexts.
func (s *requestState) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	s.finished = true
	if s.probe != nil {
		s.probe.Stop()
	}
	for _, cancel := range s.cancels {
		cancel()
	}
	s.cancels = nil
}

// check runs on the probe's timer: a client that closed its connection
// ends the request's work; otherwise the probe runs again.
func (s *requestState) check() {
	if clientGone(s.conn) {
		s.log.Info("client went away; cancelling its request")
		s.mu.Lock()
		s.gone = true
		s.mu.Unlock()
		s.finish()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished {
		s.probe.Reset(clientProbe)
	}
}

// requestContext gives each request a context that carries its deadline
// and is cancelled when the client goes away (Fasthttp does not notice:
// a timer peeks at the connection). The context ends with the handler,
// or with the stream when the handler answers with one.
func requestContext(timeout, streamWriteTimeout time.Duration, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		st := &requestState{conn: c.Context().Conn(), streamWriteTimeout: streamWriteTimeout,
			log: log.With("request_id", RequestID(c)), cancels: []context.CancelFunc{cancel}}
		st.mu.Lock() // the timer may fire before the assignment is done
		st.probe = time.AfterFunc(clientProbe, st.check)
		st.mu.Unlock()
		c.Locals(requestStateKey, st)
		c.SetUserContext(ctx)
		err := c.Next()
		st.mu.Lock()
		streaming, gone := st.streaming, st.gone
		st.mu.Unlock()
		if !streaming {
			st.finish()
		}
		if gone && errors.Is(err, context.Canceled) {
			// Nobody to answer, and not a failure of the service: the
			// access log shows 499 (client closed request), as proxies do.
			c.Context().SetConnectionClose()
			c.Status(statusClientClosed)
			return nil
		}
		return err
	}
}
