package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

const (
	hsSecret    = "gridmetrics-test-secret-0123456789abcdef"
	otherSecret = "another-secret-of-sufficient-length-0123456789"
	challenge   = `Bearer realm="gridmetrics"`
)

// newHTTPApp returns an app with the routes of a typical resource behind
// authn: each echoes the caller's tenant and credential.
func newHTTPApp(t *testing.T, authn *auth.Authenticator) *fiber.App {
	t.Helper()
	app := api.New(api.Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = app.Shutdown() })
	echo := func(c *fiber.Ctx) error {
		p := auth.PrincipalOf(c)
		return api.OK(c, map[string]string{"tenant": p.TenantPublicID, "credential": p.CredentialID})
	}
	v1 := app.Group("/v1", authn.Middleware())
	v1.Get("/readings", auth.Require(auth.ScopeRead), echo)
	v1.Get("/keys", auth.Require(auth.ScopeAdmin), echo)
	return app
}

// reply is a decoded response of the test app.
type reply struct {
	status int
	header http.Header
	raw    string
	body   struct {
		Data struct {
			Tenant     string `json:"tenant"`
			Credential string `json:"credential"`
		} `json:"data"`
		Error *struct {
			Code    api.Code `json:"code"`
			Message string   `json:"message"`
		} `json:"error"`
		Meta struct {
			RequestID string `json:"request_id"`
		} `json:"meta"`
	}
}

// call sends GET path with the Authorization header unless it is "-".
func call(t *testing.T, app *fiber.App, path, authorization string) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "-" {
		req.Header.Set(fiber.HeaderAuthorization, authorization)
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v\n%s", path, err, raw)
	}
	if r.body.Meta.RequestID == "" {
		t.Errorf("GET %s: no request id in %s", path, raw)
	}
	return r
}

// hsToken signs claims with HS256 and secret.
func hsToken(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tokenClaims returns valid claims for tenant changed by edit; a nil value
// deletes a claim.
func tokenClaims(tenant string, edit map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"tenant": tenant,
		"sub":    "user-7",
		"scope":  "read",
		"iat":    now.Unix(),
		"exp":    now.Add(5 * time.Minute).Unix(),
	}
	for k, v := range edit {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "Acme")
	volt := f.tenant(t, "Volt")
	readKey, readText := f.key(t, acme, keyOpts{Name: "reader"})
	adminKey, adminText := f.key(t, acme, keyOpts{Name: "admin", Scopes: []auth.Scope{auth.ScopeAdmin, auth.ScopeRead}})
	voltKey, voltText := f.key(t, volt, keyOpts{Name: "volt"})
	_, ingestText := f.key(t, acme, keyOpts{Name: "ingest", Scopes: []auth.Scope{auth.ScopeIngest}})
	_, revokedText := f.key(t, acme, keyOpts{Name: "revoked"})
	f.revoke(t, acme, keyPattern.FindStringSubmatch(revokedText)[1])

	withJWT := newHTTPApp(t, f.authenticator(t, auth.Config{JWT: auth.JWTConfig{HS256Secret: hsSecret}}))
	keysOnly := newHTTPApp(t, f.authenticator(t, auth.Config{}))

	m := keyPattern.FindStringSubmatch(readText)
	prefix, secret := m[1], m[2]
	wrongSecret := strings.Repeat("0", 40)
	if wrongSecret == secret {
		wrongSecret = strings.Repeat("1", 40)
	}

	validJWT := hsToken(t, hsSecret, tokenClaims(acme.PublicID, nil))
	noneJWT, err := jwt.NewWithClaims(jwt.SigningMethodNone, tokenClaims(acme.PublicID, nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		app           *fiber.App // default withJWT
		path          string     // default /v1/readings
		authorization string     // "-" sends none
		wantStatus    int
		wantCode      api.Code // "" on success
		wantInMsg     string
		wantTenant    string
		wantCred      string
	}{
		// API keys.
		{name: "key", authorization: "Bearer " + readText, wantStatus: 200, wantTenant: acme.PublicID, wantCred: readKey.PublicID},
		{name: "key, lowercase scheme", authorization: "bearer " + readText, wantStatus: 200, wantTenant: acme.PublicID, wantCred: readKey.PublicID},
		{name: "key with two scopes", authorization: "Bearer " + adminText, path: "/v1/keys", wantStatus: 200, wantTenant: acme.PublicID, wantCred: adminKey.PublicID},
		{name: "key of another tenant", authorization: "Bearer " + voltText, wantStatus: 200, wantTenant: volt.PublicID, wantCred: voltKey.PublicID},
		{name: "key without JWT configured", app: keysOnly, authorization: "Bearer " + readText, wantStatus: 200, wantTenant: acme.PublicID, wantCred: readKey.PublicID},
		{name: "no Authorization header", authorization: "-", wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "missing credentials"},
		{name: "empty Authorization header", authorization: "", wantStatus: 401, wantCode: api.CodeUnauthorized},
		{name: "basic scheme", authorization: "Basic dXNlcjpwYXNz", wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "malformed"},
		{name: "token scheme with a key", authorization: "Token " + readText, wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "malformed"},
		{name: "empty bearer", authorization: "Bearer ", wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "malformed"},
		{name: "bare scheme", authorization: "Bearer", wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "malformed"},
		{name: "malformed key", authorization: "Bearer gm_123_abc", wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "invalid API key"},
		{name: "garbage", authorization: "Bearer ¯\\_(ツ)_/¯", wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "invalid API key"},
		{name: "unknown key", authorization: "Bearer gm_" + strings.Repeat("a", 12) + "_" + strings.Repeat("b", 40), wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "invalid API key"},
		{name: "right prefix, wrong secret", authorization: "Bearer gm_" + prefix + "_" + wrongSecret, wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "invalid API key"},
		{name: "revoked key", authorization: "Bearer " + revokedText, wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "revoked"},
		{name: "missing scope", authorization: "Bearer " + readText, path: "/v1/keys", wantStatus: 403, wantCode: api.CodeForbidden, wantInMsg: `"admin"`},
		{name: "missing scope, ingest only", authorization: "Bearer " + ingestText, wantStatus: 403, wantCode: api.CodeForbidden, wantInMsg: `"read"`},
		{name: "unknown route behind auth", authorization: "Bearer " + readText, path: "/v1/nowhere", wantStatus: 404, wantCode: api.CodeNotFound},
		{name: "unknown route without credentials", authorization: "-", path: "/v1/nowhere", wantStatus: 401, wantCode: api.CodeUnauthorized},

		// JWTs.
		{name: "jwt", authorization: "Bearer " + validJWT, wantStatus: 200, wantTenant: acme.PublicID, wantCred: "jwt:" + acme.PublicID + ":user-7"},
		{name: "jwt, scopes array", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims(volt.PublicID, map[string]any{"scope": nil, "scopes": []string{"admin"}})),
			path: "/v1/keys", wantStatus: 200, wantTenant: volt.PublicID, wantCred: "jwt:" + volt.PublicID + ":user-7"},
		{name: "jwt, missing scope", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims(acme.PublicID, map[string]any{"scope": "ingest"})),
			wantStatus: 403, wantCode: api.CodeForbidden, wantInMsg: `"read"`},
		{name: "jwt, alg none", authorization: "Bearer " + noneJWT, wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "algorithm not allowed"},
		{name: "jwt, wrong signature", authorization: "Bearer " + hsToken(t, otherSecret, tokenClaims(acme.PublicID, nil)),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "bad signature"},
		{name: "jwt, expired", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims(acme.PublicID, map[string]any{
			"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()})),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "expired"},
		{name: "jwt, without exp", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims(acme.PublicID, map[string]any{"exp": nil})),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "missing exp"},
		{name: "jwt, unknown tenant", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims("ten_00000000000000000000", nil)),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "unknown tenant"},
		{name: "jwt, tenant by name", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims("Acme", nil)),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "unknown tenant"},
		{name: "jwt, no tenant", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims("", nil)),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "missing tenant"},
		{name: "jwt, unknown scope", authorization: "Bearer " + hsToken(t, hsSecret, tokenClaims(acme.PublicID, map[string]any{"scope": "read root"})),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "unknown scope"},
		{name: "jwt, tampered payload", authorization: "Bearer " + tamperPayload(t, validJWT, volt.PublicID),
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "bad signature"},
		{name: "jwt, not configured", app: keysOnly, authorization: "Bearer " + validJWT,
			wantStatus: 401, wantCode: api.CodeUnauthorized, wantInMsg: "not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.app
			if app == nil {
				app = withJWT
			}
			path := tt.path
			if path == "" {
				path = "/v1/readings"
			}
			r := call(t, app, path, tt.authorization)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.wantStatus, r.raw)
			}
			// Every 401 carries the Bearer challenge (RFC 6750 §3); a
			// request that authenticated does not. A 403 may or may not.
			wwwAuth := r.header.Get(fiber.HeaderWWWAuthenticate)
			switch {
			case tt.wantStatus == http.StatusUnauthorized && wwwAuth != challenge:
				t.Errorf("WWW-Authenticate = %q, want %q", wwwAuth, challenge)
			case tt.wantStatus != http.StatusUnauthorized && tt.wantStatus != http.StatusForbidden && wwwAuth != "":
				t.Errorf("WWW-Authenticate = %q on a %d", wwwAuth, r.status)
			}
			if tt.wantCode == "" {
				if r.body.Error != nil || r.body.Data.Tenant != tt.wantTenant || r.body.Data.Credential != tt.wantCred {
					t.Errorf("body %s, want tenant %s and credential %s", r.raw, tt.wantTenant, tt.wantCred)
				}
				return
			}
			if r.body.Error == nil || r.body.Error.Code != tt.wantCode {
				t.Fatalf("body %s, want code %s", r.raw, tt.wantCode)
			}
			if !strings.Contains(r.body.Error.Message, tt.wantInMsg) {
				t.Errorf("message %q lacks %q", r.body.Error.Message, tt.wantInMsg)
			}
			if strings.Contains(r.raw, `"tenant"`) {
				t.Errorf("error body reveals a tenant: %s", r.raw)
			}
		})
	}
}

// tamperPayload replaces the tenant of a signed token, keeping its
// signature.
func tamperPayload(t *testing.T, token, tenant string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	c["tenant"] = tenant
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestHTTPRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "Acme")
	_, first := f.key(t, acme, keyOpts{Name: "first"})
	_, second := f.key(t, acme, keyOpts{Name: "second"})
	app := newHTTPApp(t, f.authenticator(t, auth.Config{
		RateLimit: 1, RateBurst: 2,
		JWT: auth.JWTConfig{HS256Secret: hsSecret},
	}))
	token := hsToken(t, hsSecret, tokenClaims(acme.PublicID, nil))

	tests := []struct {
		name          string
		authorization string
		wantStatus    int
	}{
		{name: "first key, 1st", authorization: "Bearer " + first, wantStatus: 200},
		{name: "first key, 2nd", authorization: "Bearer " + first, wantStatus: 200},
		{name: "first key, 3rd", authorization: "Bearer " + first, wantStatus: 429},
		{name: "first key, 4th", authorization: "Bearer " + first, wantStatus: 429},
		{name: "second key of the same tenant, 1st", authorization: "Bearer " + second, wantStatus: 200},
		{name: "second key of the same tenant, 2nd", authorization: "Bearer " + second, wantStatus: 200},
		{name: "JWT of the same tenant", authorization: "Bearer " + token, wantStatus: 200},
		{name: "bad credentials are refused, not limited", authorization: "Bearer " + first + "x", wantStatus: 401},
		{name: "second key, 3rd", authorization: "Bearer " + second, wantStatus: 429},
	}
	for _, tt := range tests {
		r := call(t, app, "/v1/readings", tt.authorization)
		if r.status != tt.wantStatus {
			t.Fatalf("%s: status = %d, want %d; body %s", tt.name, r.status, tt.wantStatus, r.raw)
		}
		if tt.wantStatus != http.StatusTooManyRequests {
			continue
		}
		if r.body.Error == nil || r.body.Error.Code != api.CodeRateLimited {
			t.Errorf("%s: body %s, want RATE_LIMITED", tt.name, r.raw)
		}
		secs, err := strconv.Atoi(r.header.Get(fiber.HeaderRetryAfter))
		if err != nil || secs < 1 || secs > 2 {
			t.Errorf("%s: Retry-After = %q, want 1 or 2 seconds", tt.name, r.header.Get(fiber.HeaderRetryAfter))
		}
	}
}

func TestHTTPFailureLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme := f.tenant(t, "Acme")
	_, good := f.key(t, acme, keyOpts{})
	app := newHTTPApp(t, f.authenticator(t, auth.Config{FailureLimit: 3, FailureWindow: time.Minute}))

	tests := []struct {
		name          string
		path          string // default /v1/readings
		authorization string
		wantStatus    int
	}{
		{name: "valid key", authorization: "Bearer " + good, wantStatus: 200},
		{name: "1st failure", authorization: "Bearer " + good + "x", wantStatus: 401},
		{name: "2nd failure", authorization: "-", wantStatus: 401},
		{name: "missing scope is no failure", path: "/v1/keys", authorization: "Bearer " + good, wantStatus: 403},
		{name: "3rd failure", authorization: "Bearer gm_000000000000_" + strings.Repeat("0", 40), wantStatus: 401},
		{name: "bad key after the limit", authorization: "Bearer " + good + "y", wantStatus: 429},
		{name: "valid key after the limit: refused before it is looked at", authorization: "Bearer " + good, wantStatus: 429},
	}
	for _, tt := range tests {
		if tt.path == "" {
			tt.path = "/v1/readings"
		}
		r := call(t, app, tt.path, tt.authorization)
		if r.status != tt.wantStatus {
			t.Fatalf("%s: status = %d, want %d; body %s", tt.name, r.status, tt.wantStatus, r.raw)
		}
		if tt.wantStatus != http.StatusTooManyRequests {
			continue
		}
		if r.body.Error == nil || r.body.Error.Code != api.CodeRateLimited || !strings.Contains(r.body.Error.Message, "failed authentications") {
			t.Errorf("%s: body %s, want RATE_LIMITED for failed authentications", tt.name, r.raw)
		}
		secs, err := strconv.Atoi(r.header.Get(fiber.HeaderRetryAfter))
		if err != nil || secs < 1 || secs > 60 {
			t.Errorf("%s: Retry-After = %q, want 1 to 60 seconds", tt.name, r.header.Get(fiber.HeaderRetryAfter))
		}
	}
}

func TestPrincipalOfOutsideMiddleware(t *testing.T) {
	t.Parallel()
	app := api.New(api.Config{Logger: slog.New(slog.DiscardHandler)})
	app.Get("/open", func(c *fiber.Ctx) error {
		return api.OK(c, auth.PrincipalOf(c).TenantPublicID)
	})
	res, err := app.Test(httptest.NewRequest(http.MethodGet, "/open", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// A wiring mistake must fail closed, never serve without a principal.
	if res.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", res.StatusCode)
	}
}

func TestPrincipalHas(t *testing.T) {
	t.Parallel()
	p := auth.Principal{Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeBilling}}
	tests := []struct {
		scope auth.Scope
		want  bool
	}{
		{auth.ScopeRead, true},
		{auth.ScopeBilling, true},
		{auth.ScopeIngest, false},
		{auth.ScopeAdmin, false},
		{auth.Scope(""), false},
	}
	for _, tt := range tests {
		if got := p.Has(tt.scope); got != tt.want {
			t.Errorf("Has(%q) = %v, want %v", tt.scope, got, tt.want)
		}
	}
	if (auth.Principal{}).Has(auth.ScopeRead) {
		t.Error("a principal without scopes has read")
	}
}
