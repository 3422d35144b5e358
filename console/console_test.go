package console_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/console"
)

func serve(t *testing.T, site fstest.MapFS, target string) (status int, header map[string]string, body string) {
	t.Helper()
	app := fiber.New()
	console.Mount(app, site)
	resp, err := app.Test(httptest.NewRequest("GET", target, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	header = map[string]string{}
	for k := range resp.Header {
		header[k] = resp.Header.Get(k)
	}
	return resp.StatusCode, header, string(b)
}

var builtSite = fstest.MapFS{
	"index.html":               {Data: []byte(`<!doctype html><title>console</title><script type="module" src="/assets/main-3f2a.js"></script>`)},
	"docs/index.html":          {Data: []byte(`<!doctype html><title>reference</title>`)},
	"assets/main-3f2a.js":      {Data: []byte(`console.log(1)`)},
	"assets/style-9b1c.css":    {Data: []byte(`body{}`)},
	"assets/font-77aa.woff2":   {Data: []byte("wOF2")},
	".placeholder":             {Data: []byte("placeholder")},
	"assets/nested/deep-1.svg": {Data: []byte("<svg/>")},
}

func TestPages(t *testing.T) {
	tests := []struct {
		name, target, wantBody string
	}{
		{"console", "/", "<title>console</title>"},
		{"reference", "/docs", "<title>reference</title>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := serve(t, builtSite, tt.target)
			if status != 200 || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s: %d %q", tt.target, status, body)
			}
			if !strings.HasPrefix(h["Content-Type"], "text/html") || h["Cache-Control"] != "no-cache" {
				t.Fatalf("headers %v", h)
			}
			csp := h["Content-Security-Policy"]
			for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'", "style-src 'self';"} {
				if !strings.Contains(csp, want) {
					t.Fatalf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") {
				t.Fatalf("Content-Security-Policy %q allows inline code, eval or another origin", csp)
			}
			if h["X-Content-Type-Options"] != "nosniff" || h["Referrer-Policy"] != "no-referrer" || h["X-Frame-Options"] != "DENY" {
				t.Fatalf("security headers %v", h)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	tests := []struct {
		target, wantType string
	}{
		{"/assets/main-3f2a.js", "javascript"},
		{"/assets/style-9b1c.css", "text/css"},
		{"/assets/font-77aa.woff2", "font/woff2"},
		{"/assets/nested/deep-1.svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		status, h, _ := serve(t, builtSite, tt.target)
		if status != 200 || !strings.Contains(h["Content-Type"], tt.wantType) {
			t.Fatalf("GET %s: %d, Content-Type %q", tt.target, status, h["Content-Type"])
		}
		if h["Cache-Control"] != "public, max-age=31536000, immutable" || h["X-Content-Type-Options"] != "nosniff" {
			t.Fatalf("GET %s: headers %v", tt.target, h)
		}
	}
	for _, target := range []string{"/assets/missing-1.js", "/assets/", "/assets/../index.html", "/assets/%2e%2e/index.html", "/.placeholder", "/index.html"} {
		if status, _, body := serve(t, builtSite, target); status != 404 {
			t.Fatalf("GET %s: %d %q, want 404", target, status, body)
		}
	}
}

// A binary built by go build alone, without the npm build, says so.
func TestNotBuilt(t *testing.T) {
	clean := fstest.MapFS{".placeholder": {Data: []byte("placeholder")}}
	for _, target := range []string{"/", "/docs"} {
		status, h, body := serve(t, clean, target)
		if status != 503 || !strings.Contains(body, "The console is not built") || !strings.Contains(body, "make build") {
			t.Fatalf("GET %s: %d %q", target, status, body)
		}
		if h["Content-Security-Policy"] != "default-src 'none'" {
			t.Fatalf("GET %s: headers %v", target, h)
		}
	}
}

// The embedded folder exists in every checkout, built or not.
func TestBuiltEmbedsTheFolder(t *testing.T) {
	f, err := console.Built().Open(".placeholder")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
