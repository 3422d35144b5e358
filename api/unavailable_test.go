package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// refusedConnectError is what the driver returns when nothing listens on
// the database's port: a real *pgconn.ConnectError.
func refusedConnectError(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pgconn.Connect(ctx, "postgres://nobody@"+addr+"/nothing?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	return err
}

// refusingServerConnectError is what the driver returns when the server
// answers the connection with an error of its own, as PostgreSQL does for a
// database that does not accept connections (55000): a *pgconn.ConnectError
// around a *pgconn.PgError.
func refusingServerConnectError(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		be := pgproto3.NewBackend(conn, conn)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "55000", Message: `database "x" is not currently accepting connections`})
		_ = be.Flush()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pgconn.Connect(ctx, "postgres://nobody@"+ln.Addr().String()+"/x?sslmode=disable&connect_timeout=2")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55000" {
		t.Fatalf("connect to the refusing server: %v", err)
	}
	return err
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int // Retry-After; 0: not an outage
	}{
		{"connection refused", refusedConnectError(t), retryUnreachable},
		{"database refuses connections", refusingServerConnectError(t), retryUnreachable},
		{"connection lost mid-answer", fmt.Errorf("look up api key: %w", io.ErrUnexpectedEOF), retryUnreachable},
		{"connection closed", fmt.Errorf("resolve sources: %w", io.EOF), retryUnreachable},
		{"driver closed the connection", fmt.Errorf("write readings: %w", pgconn.ErrConnClosed), retryUnreachable},
		{"reset by peer", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, retryUnreachable},
		{"administrator shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, retryUnreachable},
		{"crash shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P02"}, retryUnreachable},
		{"starting up", &pgconn.PgError{Severity: "FATAL", Code: "57P03"}, retryUnreachable},
		{"too many connections", &pgconn.PgError{Severity: "FATAL", Code: "53300"}, retryUnreachable},
		{"connection exception class", &pgconn.PgError{Severity: "FATAL", Code: "08006"}, retryUnreachable},
		{"statement timeout", fmt.Errorf("list tariffs: %w", &pgconn.PgError{Code: "57014"}), retryTimedOut},
		{"acquire timeout", fmt.Errorf("get source: %w", context.DeadlineExceeded), retryTimedOut},
		{"unique violation", &pgconn.PgError{Code: "23505"}, 0},
		{"syntax error", &pgconn.PgError{Code: "42601"}, 0},
		{"client went away", context.Canceled, 0},
		{"a bug", errors.New("index out of range"), 0},
		{"nil", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Unavailable(tt.err)
			switch {
			case tt.want == 0 && got != nil:
				t.Fatalf("Unavailable(%v) = %v, want nil", tt.err, got)
			case tt.want != 0 && got == nil:
				t.Fatalf("Unavailable(%v) = nil, want UNAVAILABLE", tt.err)
			case got != nil && (got.Code != CodeUnavailable || got.RetryAfter != tt.want || got.Status() != http.StatusServiceUnavailable):
				t.Fatalf("Unavailable(%v) = %+v, want UNAVAILABLE with Retry-After %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestErrorHandlerAnswersOutagesWith503 goes through the app's error
// handler: a store error that says the database is gone is a 503 with
// Retry-After on any route, not a 500.
func TestErrorHandlerAnswersOutagesWith503(t *testing.T) {
	t.Parallel()
	app := New(Config{Logger: nil})
	app.Get("/lookup", func(*fiber.Ctx) error { return fmt.Errorf("look up api key: %w", io.ErrUnexpectedEOF) })
	app.Get("/bug", func(*fiber.Ctx) error { return errors.New("a bug") })

	for _, tc := range []struct {
		path       string
		status     int
		code       Code
		retryAfter string
	}{
		{"/lookup", http.StatusServiceUnavailable, CodeUnavailable, "2"},
		{"/bug", http.StatusInternalServerError, CodeInternal, ""},
	} {
		res, err := app.Test(httptest.NewRequest(http.MethodGet, tc.path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct {
				Code    Code   `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status || body.Error.Code != tc.code || res.Header.Get("Retry-After") != tc.retryAfter {
			t.Errorf("%s: %d %s Retry-After %q, want %d %s Retry-After %q", tc.path, res.StatusCode, body.Error.Code,
				res.Header.Get("Retry-After"), tc.status, tc.code, tc.retryAfter)
		}
	}
}
