package api_test

import (
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
)

// queryRun answers GET /?rawQuery with f's result: the value as text, or
// the error's message.
func queryRun(t *testing.T, rawQuery string, f func(c *fiber.Ctx) (string, error)) (string, *api.Error) {
	t.Helper()
	app := fiber.New(fiber.Config{ReadBufferSize: 2 << 20}) // room for the huge values
	var got string
	var gotErr error
	app.Get("/", func(c *fiber.Ctx) error {
		got, gotErr = f(c)
		return nil
	})
	resp, err := app.Test(httptest.NewRequest("GET", "/?"+rawQuery, nil), -1) // no deadline: the machine may be busy
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if gotErr != nil {
		e := api.AsError(gotErr)
		if e == nil || e.Code != api.CodeValidation {
			t.Fatalf("%s: error %v is not a validation error", rawQuery, gotErr)
		}
		return "", e
	}
	return got, nil
}

func TestQueryTime(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("9", 1<<16)
	tests := []struct {
		name, query string
		want        string // RFC 3339 in UTC; "" for the zero time
		wantErr     string
	}{
		{"absent", "", "", ""},
		{"empty", "from=", "", ""},
		{"utc", "from=2025-01-31T00:00:00Z", "2025-01-31T00:00:00Z", ""},
		{"offset escaped", "from=" + url.QueryEscape("2025-01-31T01:00:00+01:00"), "2025-01-31T00:00:00Z", ""},
		{"offset's plus as a space", "from=2025-01-31T01:00:00+01:00", "2025-01-31T00:00:00Z", ""},
		{"fraction", "from=2025-01-31T00:00:00.123456789Z", "2025-01-31T00:00:00.123456789Z", ""},
		{"date only", "from=2025-01-31", "", `from: "2025-01-31" is not an RFC 3339 time such as 2025-01-31T00:00:00Z`},
		{"no zone", "from=2025-01-31T00:00:00", "", "is not an RFC 3339 time"},
		{"month 13", "from=2025-13-01T00:00:00Z", "", "is not an RFC 3339 time"},
		{"unix seconds", "from=1738281600", "", "is not an RFC 3339 time"},
		{"huge", "from=" + huge, "", `from: "` + strings.Repeat("9", 64) + `"… is not an RFC 3339 time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := queryRun(t, tt.query, func(c *fiber.Ctx) (string, error) {
				at, err := api.QueryTime(c, "from")
				if at.IsZero() {
					return "", err
				}
				return at.UTC().Format(time.RFC3339Nano), err
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Message, tt.wantErr) || len(err.Message) > 200 {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestQueryBool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query   string
		want    string
		wantErr bool
	}{
		{"", "false", false},
		{"strict=", "false", false},
		{"strict=true", "true", false},
		{"strict=1", "true", false},
		{"strict=false", "false", false},
		{"strict=0", "false", false},
		{"strict=TRUE", "", true},
		{"strict=True", "", true},
		{"strict=yes", "", true},
		{"strict=on", "", true},
		{"strict=2", "", true},
		{"strict=" + strings.Repeat("t", 1<<16), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 20)], func(t *testing.T) {
			t.Parallel()
			got, err := queryRun(t, tt.query, func(c *fiber.Ctx) (string, error) {
				b, err := api.QueryBool(c, "strict")
				if err != nil {
					return "", err
				}
				if b {
					return "true", nil
				}
				return "false", nil
			})
			if tt.wantErr {
				if err == nil || !strings.HasPrefix(err.Message, "strict: ") || !strings.Contains(err.Message, "is not true or false") || len(err.Message) > 200 {
					t.Fatalf("got %q, %v; want a validation error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestRejectUnknownParams(t *testing.T) {
	t.Parallel()
	allowed := []string{"from", "to", "breakdown"}
	tests := []struct {
		name, query string
		wantErr     string
	}{
		{"none", "", ""},
		{"allowed", "from=x&to=y&breakdown=true", ""},
		{"client's own", "_=12345&from=x", ""},
		{"unknown", "from=x&form=y", "form: unknown parameter (this route takes from, to, breakdown)"},
		{"case counts", "FROM=x", "FROM: unknown parameter"},
		{"huge name", strings.Repeat("z", 1<<16) + "=1", `: unknown parameter`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := queryRun(t, tt.query, func(c *fiber.Ctx) (string, error) {
				return "", api.RejectUnknownParams(c, allowed)
			})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Message, tt.wantErr) || len(err.Message) > 200 {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
