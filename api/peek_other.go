//go:build !unix

package api

import "net"

// clientGone cannot tell without a peek; requests run to their deadline.
func clientGone(net.Conn) bool { return false }
