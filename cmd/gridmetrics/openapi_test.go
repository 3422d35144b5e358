package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/openapi"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// fiberParam is a route parameter in Fiber's syntax (:name, or * for the
// rest of the path).
var fiberParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)|\*`)

// openAPIPath writes a Fiber route path as an OpenAPI path template: the
// wildcard of /assets/* is the parameter {path}.
func openAPIPath(route string) string {
	return fiberParam.ReplaceAllStringFunc(route, func(p string) string {
		if p == "*" {
			return "{path}"
		}
		return "{" + p[1:] + "}"
	})
}

// TestOpenAPIDocumentsEveryRoute checks that the document is served without
// credentials, and that the routes the server mounts and the operations
// the document describes are the same set.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	m := startServer(t, dbtest.NewURL(t))

	served := client{t: t, base: "http://" + m.Addr()}.do("GET", openapi.Path, "")
	expect(t, "openapi.json without credentials", served, 200, "")
	if served.Body["openapi"] != "3.1.0" {
		t.Fatalf("served document: openapi %v", served.Body["openapi"])
	}
	res, err := http.Get("http://" + m.Addr() + openapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(raw, openapi.Document()) || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("served document differs from the embedded one (%d bytes, %q)", len(raw), res.Header.Get("Content-Type"))
	}

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	mounted := map[string]bool{}
	for _, r := range m.app.GetRoutes(true) {
		if r.Method == http.MethodHead { // Fiber adds HEAD beside every GET
			continue
		}
		mounted[r.Method+" "+openAPIPath(r.Path)] = true
	}
	var undocumented, unmounted []string
	for op := range mounted {
		if !documented[op] {
			undocumented = append(undocumented, op)
		}
	}
	for op := range documented {
		if !mounted[op] {
			unmounted = append(unmounted, op)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unmounted)
	if len(undocumented) > 0 {
		t.Errorf("routes the document does not describe:\n  %s", strings.Join(undocumented, "\n  "))
	}
	if len(unmounted) > 0 {
		t.Errorf("operations of the document the server does not mount:\n  %s", strings.Join(unmounted, "\n  "))
	}
	if len(mounted) < 50 {
		t.Fatalf("only %d routes mounted: the route list is not what the server serves", len(mounted))
	}
}
