package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// refusers bounds the goroutines that close refused connections after
// reading what their clients sent, for refuseDrain at most.
const (
	refusers    = 128
	refuseDrain = 100 * time.Millisecond
)

// LimitConns returns a listener that keeps at most max connections open
// at once. A connection past the limit is answered 503 OVERLOADED with
// Retry-After and closed, at once: it never reaches the server, and a
// crowd of idle connections cannot hold up the accept loop.
func LimitConns(ln net.Listener, max int) net.Listener {
	return &limitListener{Listener: ln, max: max, slots: make(chan struct{}, max), refusers: make(chan struct{}, refusers)}
}

type limitListener struct {
	net.Listener
	max      int
	slots    chan struct{}
	refusers chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			l.refuse(c)
		}
	}
}

// refuse answers 503 on c and closes it. The answer fits in the socket's
// buffer, so writing it does not hold up the accept loop. Before closing,
// a goroutine reads what the client sent for a moment, so that the close
// does not reset the connection before the client has read the answer;
// when all refusers are busy, c is closed at once.
func (l *limitListener) refuse(c net.Conn) {
	body, _ := json.Marshal(errorBody{
		Error: &Error{Code: CodeOverloaded, Message: fmt.Sprintf("the server has %d connections open, its limit; retry later", l.max),
			Details: map[string]any{"max_conns": l.max}},
		Meta: Meta{RequestID: newRequestID()},
	})
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if err != nil {
		_ = c.Close()
		return
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	select {
	case l.refusers <- struct{}{}:
		go func() {
			defer func() { <-l.refusers }()
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(refuseDrain))
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		}()
	default:
		_ = c.Close()
	}
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SyscallConn lets the client probe (clientGone) reach the socket.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// Fasthttp panics when setting a deadline fails, and setting one fails
// once the connection is closed. A stream that fails closes its connection
// from the stream writer's goroutine (Stream) while the server's goroutine
// may be about to set the next deadline: a closed connection's deadline no
// longer matters, so the error is dropped and the next read or write
// reports the close instead.

func (c *limitedConn) SetDeadline(t time.Time) error {
	return ignoreClosed(c.Conn.SetDeadline(t))
}

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	return ignoreClosed(c.Conn.SetReadDeadline(t))
}

func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	return ignoreClosed(c.Conn.SetWriteDeadline(t))
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
