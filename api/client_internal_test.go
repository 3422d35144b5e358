package api

import (
	"net/netip"
	"strings"
	"testing"
)

func TestResolveClient(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:aaaa::/48, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.TrimSuffix(strings.Repeat("10.0.0.9, ", maxForwardedHops+5), ", ")
	tests := []struct {
		name string
		peer string
		xff  []string // X-Forwarded-For headers, in the order received
		want string
	}{
		{name: "untrusted peer without header", peer: "198.51.100.7", want: "198.51.100.7"},
		{name: "spoof from an untrusted peer is ignored", peer: "198.51.100.7", xff: []string{"203.0.113.1"}, want: "198.51.100.7"},
		{name: "untrusted peer claiming to be a proxy", peer: "198.51.100.7", xff: []string{"10.0.0.1"}, want: "198.51.100.7"},
		{name: "trusted proxy, no header", peer: "10.1.2.3", want: "10.1.2.3"},
		{name: "trusted proxy, empty header", peer: "10.1.2.3", xff: []string{""}, want: "10.1.2.3"},
		{name: "trusted proxy, one client", peer: "10.1.2.3", xff: []string{"203.0.113.1"}, want: "203.0.113.1"},
		{name: "client's own entry left of the real one is ignored", peer: "10.1.2.3", xff: []string{"1.1.1.1, 203.0.113.1"}, want: "203.0.113.1"},
		{name: "client claims a trusted address left of the real one", peer: "10.1.2.3", xff: []string{"10.9.9.9, 203.0.113.1"}, want: "203.0.113.1"},
		{name: "chain of trusted proxies", peer: "10.1.2.3", xff: []string{"1.1.1.1, 203.0.113.1, 10.0.0.5, 192.0.2.1"}, want: "203.0.113.1"},
		{name: "chain over several headers", peer: "10.1.2.3", xff: []string{"1.1.1.1, 203.0.113.1", "10.0.0.5"}, want: "203.0.113.1"},
		{name: "only trusted hops: the farthest reached", peer: "10.1.2.3", xff: []string{"10.0.0.7, 10.0.0.5"}, want: "10.0.0.7"},
		{name: "more trusted hops than are read", peer: "10.1.2.3", xff: []string{"203.0.113.1, " + long}, want: "10.0.0.9"},
		{name: "malformed right-most entry: the proxy", peer: "10.1.2.3", xff: []string{"not-an-address"}, want: "10.1.2.3"},
		{name: "malformed entry behind trusted hops", peer: "10.1.2.3", xff: []string{"203.0.113.1, bogus, 10.0.0.5"}, want: "10.0.0.5"},
		{name: "malformed left of the client is never read", peer: "10.1.2.3", xff: []string{"bogus,, 203.0.113.1"}, want: "203.0.113.1"},
		{name: "empty entry: the proxy", peer: "10.1.2.3", xff: []string{"203.0.113.1, "}, want: "10.1.2.3"},
		{name: "unknown (RFC 7239 style) is malformed", peer: "10.1.2.3", xff: []string{"unknown"}, want: "10.1.2.3"},
		{name: "entry with a port", peer: "10.1.2.3", xff: []string{"203.0.113.1:4711"}, want: "203.0.113.1"},
		{name: "IPv6 client", peer: "10.1.2.3", xff: []string{"2001:db8:1::7"}, want: "2001:db8:1::7"},
		{name: "IPv6 client with port and zone", peer: "10.1.2.3", xff: []string{"[fe80::1%eth0]:80"}, want: "fe80::1"},
		{name: "IPv6 trusted proxy", peer: "2001:db8:aaaa::1", xff: []string{"203.0.113.1, 2001:db8:aaaa::2"}, want: "203.0.113.1"},
		{name: "IPv6 peer outside the trusted range", peer: "2001:db8:bbbb::1", xff: []string{"203.0.113.1"}, want: "2001:db8:bbbb::1"},
		{name: "IPv4-mapped peer is trusted as IPv4", peer: "::ffff:10.1.2.3", xff: []string{"::ffff:203.0.113.1"}, want: "203.0.113.1"},
		{name: "single trusted address, neighbour not trusted", peer: "192.0.2.2", xff: []string{"203.0.113.1"}, want: "192.0.2.2"},
		{name: "header of control bytes", peer: "10.1.2.3", xff: []string{"\x00\x01"}, want: "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var xff [][]byte
			for _, h := range tt.xff {
				xff = append(xff, []byte(h))
			}
			got := resolveClient(netip.MustParseAddr(tt.peer), xff, trusted)
			if got.String() != tt.want {
				t.Errorf("client %s, want %s", got, tt.want)
			}
		})
	}
	// No trusted proxies: the header is never read.
	if got := resolveClient(netip.MustParseAddr("10.1.2.3"), [][]byte{[]byte("203.0.113.1")}, nil); got.String() != "10.1.2.3" {
		t.Errorf("without trusted proxies: %s", got)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "", want: "[]"},
		{in: " , ", want: "[]"},
		{in: "127.0.0.0/8", want: "[127.0.0.0/8]"},
		{in: "10.1.2.3/8, ::1, 192.0.2.1", want: "[10.0.0.0/8 ::1/128 192.0.2.1/32]"},
		{in: "fd00::/8", want: "[fd00::/8]"},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "proxy.internal", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
		{in: "10.0.0.0/8;192.0.2.0/24", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if s := fmtPrefixes(got); !tt.wantErr && s != tt.want {
			t.Errorf("%q: %s, want %s", tt.in, s, tt.want)
		}
	}
}

func fmtPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}
