package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
)

// connectTimeout bounds opening a connection to the broker (TCP and TLS).
const connectTimeout = 10 * time.Second

// dialer opens broker connections, mqtt:// over TCP and mqtts:// over TLS,
// with buffered reads: the client reads each packet's fixed header a byte
// at a time, a system call each on a bare socket, which cost a fifth of
// the service's CPU on one-reading messages.
func dialer(tlsCfg *tls.Config) func(context.Context, autopaho.ClientConfig, *url.URL) (net.Conn, error) {
	return func(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		var conn net.Conn
		var err error
		if u.Scheme == "mqtts" {
			conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp", hostPort(u, "8883"))
		} else {
			conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", hostPort(u, "1883"))
		}
		if err != nil {
			return nil, err
		}
		return packets.NewThreadSafeConn(bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}), nil
	}
}

// hostPort is the URL's host and port, the scheme's default port when it
// names none.
func hostPort(u *url.URL, defaultPort string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), defaultPort)
}

// bufferedConn is a connection whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
