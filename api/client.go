package api

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The client address is the TCP peer's, unless the peer is a trusted
// reverse proxy: then it is read from X-Forwarded-For, the one header every
// common proxy appends to (Forwarded and X-Real-IP are ignored). Each proxy
// appends the address it received the request from, so the list is read
// from the right and the first address that is not itself a trusted proxy
// is the client; whatever lies left of it was written by the client and is
// never believed. A peer outside the trusted ranges cannot choose its
// address at all: its headers are not read.

// maxForwardedHops bounds the X-Forwarded-For entries read from the right:
// more trusted proxies than this in a row is a misconfiguration, and the
// nearest of them stands for the client.
const maxForwardedHops = 32

const clientAddrKey = "gridmetrics.client_addr"

// ParseTrustedProxies parses a comma-separated list of CIDR ranges or
// single addresses (a /32 or /128); an empty string trusts no proxy.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is neither a CIDR range nor an address", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientAddr is the address of the client that sent the request, as
// resolved from the peer and the trusted proxies' X-Forwarded-For by the
// app's middleware; the peer address on an app without it.
func ClientAddr(c *fiber.Ctx) string {
	if a, ok := c.Locals(clientAddrKey).(netip.Addr); ok {
		return a.String()
	}
	return c.IP()
}

// clientAddress resolves the client address once per request, for the
// access log and the limits keyed by address.
func clientAddress(trusted []netip.Prefix) fiber.Handler {
	return func(c *fiber.Ctx) error {
		peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
		if ok {
			var xff [][]byte
			if isTrusted(trusted, peer.Unmap()) {
				xff = c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
			}
			c.Locals(clientAddrKey, resolveClient(peer, xff, trusted))
		}
		return c.Next()
	}
}

// resolveClient picks the client address from the peer and the values of
// its X-Forwarded-For headers, in the order received. An entry that does
// not parse (an empty one included) ends the walk, as does the end of the
// list: the last trusted hop reached stands for the client.
func resolveClient(peer netip.Addr, xff [][]byte, trusted []netip.Prefix) netip.Addr {
	client := peer.Unmap()
	if !isTrusted(trusted, client) {
		return client
	}
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		rest := xff[i]
		for len(rest) > 0 {
			var entry []byte
			if j := bytes.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, nil
			}
			entry = bytes.TrimSpace(entry)
			if hops++; hops > maxForwardedHops {
				return client
			}
			a, ok := parseForwarded(entry)
			if !ok {
				return client
			}
			if !isTrusted(trusted, a) {
				return a
			}
			client = a
		}
	}
	return client
}

// parseForwarded parses one X-Forwarded-For entry: an address, possibly
// with a port ("203.0.113.7:4711", "[2001:db8::1]:4711"), as some proxies
// write it. A zone is dropped; an IPv4-mapped IPv6 address counts as IPv4.
func parseForwarded(b []byte) (netip.Addr, bool) {
	s := string(b)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), true
}

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
