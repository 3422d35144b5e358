package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// scrape GETs a /metrics URL with an optional bearer token and reports the
// status and whether the body is the Prometheus exposition.
func scrape(t *testing.T, url, token string) (status int, exposition bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.Contains(string(body), "go_goroutines")
}

func TestMetricsExposure(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	const token = "scrape-token-0123456789"
	tests := []struct {
		name string
		args []string
		// status of GET /metrics on the public address, by token sent
		wantPublic map[string]int
		// the same on the metrics address, nil when there is none
		wantAdmin map[string]int
	}{
		{
			name:       "default: public, no token",
			wantPublic: map[string]int{"": 200},
		},
		{
			name:       "token on the public address",
			args:       []string{"--metrics-token", token},
			wantPublic: map[string]int{"": 401, "wrong": 401, token: 200},
		},
		{
			name:       "own address: gone from the public one",
			args:       []string{"--metrics-addr", "127.0.0.1:0"},
			wantPublic: map[string]int{"": 404, token: 404},
			wantAdmin:  map[string]int{"": 200},
		},
		{
			name:       "own address and token",
			args:       []string{"--metrics-addr", "127.0.0.1:0", "--metrics-token", token},
			wantPublic: map[string]int{"": 404, token: 404},
			wantAdmin:  map[string]int{"": 401, "wrong": 401, token + "x": 401, token: 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startServer(t, dbURL, append([]string{"--rollup-jobs=false"}, tt.args...)...)
			check := func(where, base string, want map[string]int) {
				for tok, wantStatus := range want {
					status, exposition := scrape(t, base+"/metrics", tok)
					if status != wantStatus || exposition != (wantStatus == 200) {
						t.Errorf("%s /metrics with token %q: status %d (metrics shown: %v), want %d", where, tok, status, exposition, wantStatus)
					}
				}
			}
			check("public", "http://"+m.Addr(), tt.wantPublic)
			if tt.wantAdmin == nil {
				if m.MetricsAddr() != "" {
					t.Errorf("metrics address %q without metrics-addr", m.MetricsAddr())
				}
				return
			}
			check("admin", "http://"+m.MetricsAddr(), tt.wantAdmin)
		})
	}
}

func TestServeRefusesJWKSWithoutIssuerAndAudience(t *testing.T) {
	t.Parallel()
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"--jwt-issuer", "https://idp.example"}, {"--jwt-audience", "gridmetrics"}} {
		// Refused before connecting: the database URL leads nowhere.
		args := append([]string{"serve", "--jwt-jwks", jwks, "--database-url", "postgres://nobody@127.0.0.1:1/none"}, extra...)
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "jwt-jwks is set, so jwt-issuer and jwt-audience are required") {
			t.Errorf("serve %v: err = %v, want the missing issuer/audience named", extra, err)
		}
	}
}

// TestAuthFailuresAndRevocation drives the authentication limits through the
// real server: an address that keeps failing is refused before its key is
// looked at, and a key revoked by another process (the command line) stops
// working although the server cached it.
func TestAuthFailuresAndRevocation(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read"))
	m := startServer(t, dbURL, "--rollup-jobs=false", "--auth-failure-limit", "3", "--auth-failure-window", "1m", "--api-key-cache-ttl", "1h")
	base := "http://" + m.Addr()

	good := client{t, base, key}
	expect(t, "valid key", good.do("GET", "/v1/sources", ""), 200, "")

	t.Run("revocation by another process reaches the cache", func(t *testing.T) {
		cli(t, dbURL, "apikey", "revoke", strings.Split(key, "_")[1], "--tenant", acme)
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := good.do("GET", "/v1/sources", "")
			if r.Status == 401 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("revoked key still answered %d 5 s after the revocation", r.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("failures per address", func(t *testing.T) {
		fresh := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read"))
		expect(t, "fresh key", client{t, base, fresh}.do("GET", "/v1/sources", ""), 200, "")
		// The revoked key's 401 above counted once.
		for i := range 2 {
			expect(t, "bad key "+strconv.Itoa(i), client{t, base, fresh + "x"}.do("GET", "/v1/sources", ""), 401, "UNAUTHORIZED")
		}
		r := client{t, base, fresh}.do("GET", "/v1/sources", "")
		expect(t, "valid key from a failing address", r, 429, "RATE_LIMITED")
		if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After = %q, want 1 to 60 seconds", r.Header.Get("Retry-After"))
		}
	})
}

// TestAuthFailuresBehindProxy: behind a trusted reverse proxy (loopback
// here) the failures count per client named by X-Forwarded-For, so one
// failing client does not lock out the others; a client cannot leave its
// count by adding addresses to the header, and a server that trusts no
// proxy ignores the header altogether.
func TestAuthFailuresBehindProxy(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read"))
	from := func(base, key, xff string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/v1/sources", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out := response{Status: res.StatusCode, Header: res.Header}
		raw, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("body is not JSON: %s", raw)
		}
		return out
	}
	limits := []string{"--rollup-jobs=false", "--auth-failure-limit", "3", "--auth-failure-window", "1m"}

	t.Run("trusted proxy", func(t *testing.T) {
		t.Parallel()
		base := "http://" + startServer(t, dbURL, append(limits, "--trusted-proxies", "127.0.0.0/8, ::1")...).Addr()
		const mallory, alice = "203.0.113.66", "203.0.113.7"
		for i := range 3 {
			expect(t, "bad key "+strconv.Itoa(i), from(base, key+"x", mallory), 401, "UNAUTHORIZED")
		}
		expect(t, "the failing client", from(base, key, mallory), 429, "RATE_LIMITED")
		// What the client wrote is left of what the proxy appended.
		expect(t, "the failing client with a made-up hop", from(base, key, "198.51.100.1, "+mallory), 429, "RATE_LIMITED")
		expect(t, "the failing client claiming a trusted hop", from(base, key, "127.0.0.1, "+mallory), 429, "RATE_LIMITED")
		expect(t, "the failing client in IPv4-mapped form", from(base, key, "::ffff:"+mallory), 429, "RATE_LIMITED")
		expect(t, "another client behind the same proxy", from(base, key, alice), 200, "")
		expect(t, "another client through two proxies", from(base, key, alice+", 127.0.0.9"), 200, "")
		// Requests naming no client are the proxy's own, which has not failed.
		expect(t, "the proxy itself", from(base, key, ""), 200, "")
		expect(t, "a malformed header counts as the proxy", from(base, key, "not an address"), 200, "")
	})

	t.Run("no trusted proxy", func(t *testing.T) {
		t.Parallel()
		base := "http://" + startServer(t, dbURL, limits...).Addr()
		for i := range 3 {
			expect(t, "bad key "+strconv.Itoa(i), from(base, key+"x", "203.0.113."+strconv.Itoa(i)), 401, "UNAUTHORIZED")
		}
		expect(t, "a spoofed header does not leave the peer's count", from(base, key, "203.0.113.99"), 429, "RATE_LIMITED")
	})
}

// TestServeRefusesMalformedTrustedProxies: a typo in trusted-proxies stops
// the server at start rather than trusting less, or more, than meant.
func TestServeRefusesMalformedTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.0/33", "proxy.internal", "10.0.0.0/8;192.0.2.0/24"} {
		// Refused before connecting: the database URL leads nowhere.
		err := run(context.Background(), []string{"serve", "--trusted-proxies", bad, "--database-url", "postgres://nobody@127.0.0.1:1/none"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "trusted-proxies") {
			t.Errorf("trusted-proxies %q: err = %v, want the setting named", bad, err)
		}
	}
}
