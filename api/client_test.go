package api_test

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
)

// TestClientAddrServed: through a real listener, X-Forwarded-For names the
// client only when the peer (loopback here) is a trusted proxy, and the
// access log shows the address the limits use.
func TestClientAddrServed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{name: "peer not trusted", want: "127.0.0.1"},
		{name: "peer trusted", trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, want: "203.0.113.9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app, logs := newApp(t, api.Config{TrustedProxies: tt.trusted})
			app.Get("/who", func(c *fiber.Ctx) error { return c.SendString(api.ClientAddr(c)) })
			base := serve(t, app)
			req, err := http.NewRequest(http.MethodGet, base+"/who", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Forwarded-For", "10.0.0.1, 203.0.113.9")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != tt.want {
				t.Errorf("client %q, want %q", body, tt.want)
			}
			if !strings.Contains(logs.String(), "client="+tt.want) {
				t.Errorf("access log without client=%s:\n%s", tt.want, logs.String())
			}
		})
	}
}

// TestLongRequestKeepsItsClient: a request that outlives the connection's
// read deadline (its body was read long ago) and the client probe's first
// run is still answered; the probe must not take the passed deadline for a
// client that went away.
func TestLongRequestKeepsItsClient(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, api.Config{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	app.Get("/slow", func(c *fiber.Ctx) error {
		select {
		case <-time.After(2500 * time.Millisecond):
			return c.SendString("done")
		case <-c.UserContext().Done():
			return c.UserContext().Err()
		}
	})
	base := serve(t, app)
	res, err := http.Get(base + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "done" {
		t.Fatalf("a request longer than the read timeout: %d %q, want 200 done", res.StatusCode, body)
	}
}
