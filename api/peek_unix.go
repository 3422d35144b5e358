//go:build unix

package api

import (
	"errors"
	"net"
	"syscall"
)

// clientGone reports whether the peer closed the connection: a
// non-blocking peek finds the end of the stream or an error. Bytes waiting
// to be read (a pipelined request, an unread body) mean the client is
// there.
func clientGone(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true // closed already
	}
	gone := false
	var b [1]byte
	// Control, not Read: the peek does not wait, so it needs neither the
	// read lock nor the poller, and Read would fail once the connection's
	// read deadline has passed, which says nothing of the client (a long
	// request or stream outlives the read timeout).
	err = rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		default:
			gone = true // reset
		}
	})
	return gone || err != nil
}
