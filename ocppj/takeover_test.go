package ocppj

import (
	"fmt"
	"strings"
	"testing"
)

// TestTakeOverIgnoresWhatIsNotANewerConnection: only an announcement of a
// newer connection of the same box closes this replica's connection;
// anything else read from the channel, hostile or malformed, is ignored.
// The connection here has no socket: closing it would panic.
func TestTakeOverIgnoresWhatIsNotANewerConnection(t *testing.T) {
	s := NewServer(nil, Config{}, nil)
	c := &conn{s: s, box: chargeBox{TenantID: 7, ID: "CB-1"}, token: "mine"}
	c.announcedAt.Store(1_000_000)
	if _, ok := s.hub.add(c); !ok {
		t.Fatal("hub closed")
	}
	announce := func(tenant int64, box, token string, at int64) string {
		return fmt.Sprintf(`{"tenant_id":%d,"box":%q,"token":%q,"at_us":%d}`, tenant, box, token, at)
	}
	for _, tc := range []struct{ name, payload string }{
		{"empty", ""},
		{"not JSON", "CB-1"},
		{"JSON of another shape", `[1,2,3]`},
		{"no token", `{"tenant_id":7,"box":"CB-1","at_us":2000000}`},
		{"a number too large", `{"tenant_id":1e400,"box":"CB-1","token":"x","at_us":2000000}`},
		{"the connection itself", announce(7, "CB-1", "mine", 2_000_000)},
		{"an older connection", announce(7, "CB-1", "other", 999_999)},
		{"as old", announce(7, "CB-1", "other", 1_000_000)},
		{"another tenant's box", announce(8, "CB-1", "other", 2_000_000)},
		{"another box", announce(7, "CB-2", "other", 2_000_000)},
		{"over the size limit", announce(7, "CB-1", "other"+strings.Repeat("x", maxAnnouncement), 2_000_000)},
	} {
		s.takeOver(tc.payload)
		if c.replaced.Load() {
			t.Fatalf("%s: the connection was taken over", tc.name)
		}
	}
	// Not announced yet: which connection is newer is unknown.
	c.announcedAt.Store(0)
	s.takeOver(announce(7, "CB-1", "other", 2_000_000))
	if c.replaced.Load() {
		t.Fatal("a connection not announced yet was taken over")
	}
}
