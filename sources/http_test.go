package sources_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/sources"
)

// server is the sources API mounted behind real authentication.
type server struct {
	fixture
	app   *fiber.App
	authS *auth.Store
}

func newServer(t *testing.T) server {
	t.Helper()
	f := newFixture(t)
	authStore := auth.NewStore(f.pool)
	authn, err := auth.NewAuthenticator(f.ctx, authStore, auth.Config{})
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	app := api.New(api.Config{Logger: slog.New(slog.DiscardHandler)})
	v1 := app.Group("/v1", authn.Middleware())
	sources.Mount(v1, f.st)
	t.Cleanup(func() { _ = app.Shutdown() })
	return server{fixture: f, app: app, authS: authStore}
}

// key makes an API key for a tenant with scopes.
func (s server) key(t *testing.T, tenantID int64, scopes ...auth.Scope) string {
	t.Helper()
	_, key, err := s.authS.CreateAPIKey(s.ctx, tenantID, "test", scopes)
	if err != nil {
		t.Fatalf("create api key: %v", err)
	}
	return key
}

// response is a decoded API response.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   struct {
		Data       json.RawMessage `json:"data"`
		Meta       api.Meta        `json:"meta"`
		Pagination *struct {
			Page       int   `json:"page"`
			Limit      int   `json:"limit"`
			Total      int64 `json:"total"`
			TotalPages int64 `json:"total_pages"`
		} `json:"pagination"`
		Error *struct {
			Code    api.Code          `json:"code"`
			Message string            `json:"message"`
			Details map[string]string `json:"details"`
		} `json:"error"`
	}
}

func (s server) do(t *testing.T, method, path, key, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := s.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := response{Status: resp.StatusCode, Header: resp.Header}
	if out.Raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if len(out.Raw) > 0 {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, out.Raw, err)
		}
	}
	return out
}

// want checks the status and, for errors, the envelope's code.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	if status >= 400 {
		if r.Body.Error == nil || r.Body.Meta.RequestID == "" {
			t.Fatalf("error without the envelope: %s", r.Raw)
		}
	}
	return r
}

func (r response) wantError(t *testing.T, status int, code api.Code) response {
	t.Helper()
	r.want(t, status)
	if r.Body.Error.Code != code {
		t.Fatalf("code %s, want %s; body %s", r.Body.Error.Code, code, r.Raw)
	}
	return r
}

func (r response) source(t *testing.T) sources.Source {
	t.Helper()
	var s sources.Source
	if err := json.Unmarshal(r.Body.Data, &s); err != nil {
		t.Fatalf("decode source from %s: %v", r.Raw, err)
	}
	return s
}

func (r response) sources(t *testing.T) []sources.Source {
	t.Helper()
	var list []sources.Source
	if err := json.Unmarshal(r.Body.Data, &list); err != nil {
		t.Fatalf("decode sources from %s: %v", r.Raw, err)
	}
	return list
}

func TestHTTPSourceLifecycle(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ten := s.tenant(t, "acme")
	admin := s.key(t, ten.ID, auth.ScopeRead, auth.ScopeAdmin)

	box := s.do(t, "POST", "/v1/sources", admin, `{"external_id":"CB-0042","kind":"charger","name":"Box 42","site_id":"berlin-1"}`).
		want(t, http.StatusCreated).source(t)
	created := s.do(t, "POST", "/v1/sources", admin,
		`{"external_id":"CB-0042/1","kind":"connector","timezone":"Europe/Berlin","parent":"CB-0042","metadata":{"plug":"type2"}}`).
		want(t, http.StatusCreated)
	if loc := created.Header.Get("Location"); loc != "/v1/sources/"+created.source(t).PublicID {
		t.Errorf("Location = %q", loc)
	}
	if created.Body.Meta.RequestID == "" || created.Body.Pagination != nil {
		t.Errorf("envelope: %s", created.Raw)
	}
	// The wire format hides internal ids and shows nulls explicitly.
	var wire map[string]any
	if err := json.Unmarshal(created.Body.Data, &wire); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "external_id", "kind", "name", "site_id", "timezone", "parent", "metadata", "created_at", "updated_at"} {
		if _, ok := wire[k]; !ok {
			t.Errorf("response lacks %q: %s", k, created.Body.Data)
		}
	}
	for _, k := range []string{"ID", "TenantID", "ParentID", "tenant_id", "parent_id"} {
		if _, ok := wire[k]; ok {
			t.Errorf("response leaks %q: %s", k, created.Body.Data)
		}
	}
	if wire["site_id"] != nil {
		t.Errorf("site_id = %v, want null", wire["site_id"])
	}
	conn := created.source(t)
	if str(conn.Parent) != box.PublicID || conn.Timezone != "Europe/Berlin" || conn.Kind != sources.KindConnector {
		t.Errorf("created %+v", conn)
	}
	jsonEqual(t, conn.Metadata, `{"plug":"type2"}`)

	list := s.do(t, "GET", "/v1/sources?limit=1&page=2", admin, "").want(t, http.StatusOK)
	if p := list.Body.Pagination; p == nil || p.Page != 2 || p.Limit != 1 || p.Total != 2 || p.TotalPages != 2 {
		t.Errorf("pagination: %s", list.Raw)
	}
	if got := publicIDs(list.sources(t)); !slices.Equal(got, []string{conn.PublicID}) {
		t.Errorf("page 2 = %v, want the connector", got)
	}
	list = s.do(t, "GET", "/v1/sources?kind=charger&sort=-external_id", admin, "").want(t, http.StatusOK)
	if got := publicIDs(list.sources(t)); !slices.Equal(got, []string{box.PublicID}) || list.Body.Pagination.Total != 1 {
		t.Errorf("kind=charger: %s", list.Raw)
	}
	empty := s.do(t, "GET", "/v1/sources?page=9", admin, "").want(t, http.StatusOK)
	if string(empty.Body.Data) != "[]" || empty.Body.Pagination.Total != 2 {
		t.Errorf("page beyond the end: %s", empty.Raw)
	}

	got := s.do(t, "GET", "/v1/sources/"+conn.PublicID, admin, "").want(t, http.StatusOK).source(t)
	if got.PublicID != conn.PublicID || got.ExternalID != "CB-0042/1" || str(got.Parent) != box.PublicID {
		t.Errorf("get %+v", got)
	}

	patched := s.do(t, "PATCH", "/v1/sources/"+conn.PublicID, admin, `{"name":"Left","site_id":"berlin-2","parent":null}`).
		want(t, http.StatusOK).source(t)
	if patched.Name != "Left" || str(patched.SiteID) != "berlin-2" || patched.Parent != nil || patched.Timezone != "Europe/Berlin" {
		t.Errorf("patched %+v", patched)
	}

	s.do(t, "POST", "/v1/sources", admin, `{"external_id":"CB-0042","kind":"meter"}`).wantError(t, http.StatusConflict, api.CodeConflict)
	s.do(t, "PATCH", "/v1/sources/"+conn.PublicID, admin, `{"external_id":"CB-0042"}`).wantError(t, http.StatusConflict, api.CodeConflict)
	s.do(t, "PATCH", "/v1/sources/"+box.PublicID, admin, `{"parent":"`+box.PublicID+`"}`).wantError(t, http.StatusBadRequest, api.CodeValidation)

	del := s.do(t, "DELETE", "/v1/sources/"+conn.PublicID, admin, "").want(t, http.StatusNoContent)
	if len(del.Raw) != 0 {
		t.Errorf("204 with a body: %s", del.Raw)
	}
	s.do(t, "GET", "/v1/sources/"+conn.PublicID, admin, "").wantError(t, http.StatusNotFound, api.CodeNotFound)
	s.do(t, "DELETE", "/v1/sources/"+conn.PublicID, admin, "").wantError(t, http.StatusNotFound, api.CodeNotFound)
	if list := s.do(t, "GET", "/v1/sources", admin, "").want(t, http.StatusOK); list.Body.Pagination.Total != 1 {
		t.Errorf("after delete: %s", list.Raw)
	}
}

func TestHTTPTenantIsolation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a, b := s.tenant(t, "a"), s.tenant(t, "b")
	keyA := s.key(t, a.ID, auth.ScopeRead, auth.ScopeAdmin)
	keyB := s.key(t, b.ID, auth.ScopeRead, auth.ScopeAdmin)
	src := s.do(t, "POST", "/v1/sources", keyA, `{"external_id":"m1","kind":"meter"}`).want(t, http.StatusCreated).source(t)
	path := "/v1/sources/" + src.PublicID

	s.do(t, "GET", path, keyB, "").wantError(t, http.StatusNotFound, api.CodeNotFound)
	s.do(t, "PATCH", path, keyB, `{"name":"stolen"}`).wantError(t, http.StatusNotFound, api.CodeNotFound)
	s.do(t, "DELETE", path, keyB, "").wantError(t, http.StatusNotFound, api.CodeNotFound)
	if list := s.do(t, "GET", "/v1/sources", keyB, "").want(t, http.StatusOK); list.Body.Pagination.Total != 0 || string(list.Body.Data) != "[]" {
		t.Errorf("tenant b sees %s", list.Raw)
	}
	// Tenant b may reuse the external id, and cannot point at a's source.
	s.do(t, "POST", "/v1/sources", keyB, `{"external_id":"m1","kind":"meter"}`).want(t, http.StatusCreated)
	s.do(t, "POST", "/v1/sources", keyB, `{"external_id":"m2","kind":"meter","parent":"`+src.PublicID+`"}`).
		wantError(t, http.StatusBadRequest, api.CodeValidation)

	got := s.do(t, "GET", path, keyA, "").want(t, http.StatusOK).source(t)
	if got.Name != "" {
		t.Errorf("name = %q after another tenant's patch", got.Name)
	}
}

func TestHTTPScopes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ten := s.tenant(t, "acme")
	admin := s.key(t, ten.ID, auth.ScopeRead, auth.ScopeAdmin)
	reader := s.key(t, ten.ID, auth.ScopeRead)
	ingest := s.key(t, ten.ID, auth.ScopeIngest)
	src := s.do(t, "POST", "/v1/sources", admin, `{"external_id":"m1","kind":"meter"}`).want(t, http.StatusCreated).source(t)
	path := "/v1/sources/" + src.PublicID

	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   string
		status int
	}{
		{"reader lists", "GET", "/v1/sources", reader, "", http.StatusOK},
		{"reader gets", "GET", path, reader, "", http.StatusOK},
		{"reader reads the catalogue", "GET", "/v1/metrics", reader, "", http.StatusOK},
		{"reader cannot create", "POST", "/v1/sources", reader, `{"external_id":"m2","kind":"meter"}`, http.StatusForbidden},
		{"reader cannot patch", "PATCH", path, reader, `{"name":"x"}`, http.StatusForbidden},
		{"reader cannot delete", "DELETE", path, reader, "", http.StatusForbidden},
		{"ingest cannot list", "GET", "/v1/sources", ingest, "", http.StatusForbidden},
		{"ingest cannot get", "GET", path, ingest, "", http.StatusForbidden},
		{"no key", "GET", "/v1/sources", "", "", http.StatusUnauthorized},
		{"bad key", "GET", "/v1/sources", "gm_nope", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.key, tt.body)
			switch tt.status {
			case http.StatusForbidden:
				r.wantError(t, tt.status, api.CodeForbidden)
			case http.StatusUnauthorized:
				r.wantError(t, tt.status, api.CodeUnauthorized)
			default:
				r.want(t, tt.status)
			}
		})
	}

	// The forbidden writes changed nothing.
	got := s.do(t, "GET", path, reader, "").want(t, http.StatusOK).source(t)
	if got.Name != "" || !got.UpdatedAt.Equal(src.UpdatedAt) {
		t.Errorf("source changed by a read-only key: %+v", got)
	}
	if list := s.do(t, "GET", "/v1/sources", reader, "").want(t, http.StatusOK); list.Body.Pagination.Total != 1 {
		t.Errorf("read-only key created a source: %s", list.Raw)
	}
}

func TestHTTPValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ten := s.tenant(t, "acme")
	admin := s.key(t, ten.ID, auth.ScopeRead, auth.ScopeAdmin)
	src := s.do(t, "POST", "/v1/sources", admin, `{"external_id":"m1","kind":"meter"}`).want(t, http.StatusCreated).source(t)
	path := "/v1/sources/" + src.PublicID

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		field  string // the field the error must name; "" for body-level errors
	}{
		{"unknown field on create", "POST", "/v1/sources", `{"external_id":"m2","kind":"meter","colour":"red"}`, "colour"},
		{"unknown field on patch", "PATCH", path, `{"colour":"red"}`, "colour"},
		{"wrong type", "POST", "/v1/sources", `{"external_id":7,"kind":"meter"}`, "external_id"},
		{"wrong type of a nullable", "PATCH", path, `{"site_id":7}`, "site_id"},
		{"missing kind", "POST", "/v1/sources", `{"external_id":"m2"}`, "kind"},
		{"unknown kind", "POST", "/v1/sources", `{"external_id":"m2","kind":"toaster"}`, "kind"},
		{"missing external id", "POST", "/v1/sources", `{"kind":"meter"}`, "external_id"},
		{"bad timezone", "POST", "/v1/sources", `{"external_id":"m2","kind":"meter","timezone":"CET"}`, "timezone"},
		{"bad timezone on patch", "PATCH", path, `{"timezone":"Mars/Olympus"}`, "timezone"},
		{"null name on patch", "PATCH", path, `{"name":null}`, "name"},
		{"null kind on patch", "PATCH", path, `{"kind":null}`, "kind"},
		{"null timezone on patch", "PATCH", path, `{"timezone":null}`, "timezone"},
		{"metadata not an object", "POST", "/v1/sources", `{"external_id":"m2","kind":"meter","metadata":[1]}`, "metadata"},
		{"unknown parent", "POST", "/v1/sources", `{"external_id":"m2","kind":"meter","parent":"nope"}`, "parent"},
		{"empty body", "POST", "/v1/sources", ` `, ""},
		{"malformed", "POST", "/v1/sources", `{"external_id":`, ""},
		{"trailing data", "PATCH", path, `{"name":"a"} {}`, ""},
		{"kind filter", "GET", "/v1/sources?kind=bogus", "", "kind"},
		{"sort", "GET", "/v1/sources?sort=password", "", "sort"},
		{"limit", "GET", "/v1/sources?limit=0", "", "limit"},
		{"page", "GET", "/v1/sources?page=-1", "", "page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, admin, tt.body).wantError(t, http.StatusBadRequest, api.CodeValidation)
			if tt.field == "" {
				return
			}
			if !strings.Contains(r.Body.Error.Message, tt.field) || r.Body.Error.Details["field"] != tt.field {
				t.Errorf("error does not name %q: %s", tt.field, r.Raw)
			}
		})
	}

	if list := s.do(t, "GET", "/v1/sources", admin, "").want(t, http.StatusOK); list.Body.Pagination.Total != 1 {
		t.Errorf("a rejected request created a source: %s", list.Raw)
	}
	got := s.do(t, "GET", path, admin, "").want(t, http.StatusOK).source(t)
	if got.Timezone != "UTC" || got.SiteID != nil || !got.UpdatedAt.Equal(src.UpdatedAt) {
		t.Errorf("a rejected patch changed the source: %+v", got)
	}
}

func TestHTTPMetrics(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ten := s.tenant(t, "acme")
	r := s.do(t, "GET", "/v1/metrics", s.key(t, ten.ID, auth.ScopeRead), "").want(t, http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal(r.Body.Data, &list); err != nil {
		t.Fatalf("decode %s: %v", r.Raw, err)
	}
	byName := map[string]map[string]any{}
	for _, m := range list {
		if _, ok := m["ID"]; ok {
			t.Errorf("metric leaks its internal id: %v", m)
		}
		byName[m["name"].(string)] = m
	}
	for name, want := range map[string][2]string{
		"energy_import": {"Wh", "counter"},
		"power_import":  {"W", "gauge"},
		"price":         {"currency/kWh", "gauge"},
	} {
		m := byName[name]
		if m == nil || m["unit"] != want[0] || m["kind"] != want[1] || m["description"] == "" {
			t.Errorf("%s = %v, want unit %s kind %s", name, m, want[0], want[1])
		}
	}
	if len(list) < 11 {
		t.Errorf("catalogue has %d metrics, want at least 11", len(list))
	}
}

func TestHTTPRequestID(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ten := s.tenant(t, "acme")
	key := s.key(t, ten.ID, auth.ScopeRead)
	req := httptest.NewRequest("GET", "/v1/sources/src_missing", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set(api.HeaderRequestID, "trace-123")
	resp, err := s.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get(api.HeaderRequestID) != "trace-123" ||
		!strings.Contains(string(body), `"request_id":"trace-123"`) {
		t.Errorf("status %d, header %q, body %s", resp.StatusCode, resp.Header.Get(api.HeaderRequestID), body)
	}
}
