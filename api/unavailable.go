package api

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// When the database cannot be reached, or does not answer in time, the
// request did nothing wrong and may succeed later: clients get 503
// UNAVAILABLE with Retry-After, never 500 INTERNAL, and retry. This file is
// the one place that decides which errors mean that; the error handler
// consults it for every route.

// Retry-After of the answers, in seconds: the database restarts in a few
// seconds; a pool waits its acquire timeout once it is exhausted.
const (
	retryUnreachable = 2
	retryTimedOut    = 1
)

// Unavailable returns the UNAVAILABLE error that err amounts to, or nil
// when err does not say the database is unreachable or too slow. The
// message names no host or driver detail; the caller logs err.
func Unavailable(err error) *Error {
	switch {
	case err == nil:
		return nil
	case databaseTimedOut(err):
		return &Error{Code: CodeUnavailable, RetryAfter: retryTimedOut,
			Message: "the database did not answer in time; retry after the delay"}
	case databaseUnreachable(err):
		return &Error{Code: CodeUnavailable, RetryAfter: retryUnreachable,
			Message: "the database is unreachable; retry after the delay"}
	}
	return nil
}

// databaseTimedOut: a connection was not free within the pool's acquire
// timeout, a statement ran into statement_timeout, or a deadline passed
// while the database worked.
func databaseTimedOut(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57014" // query_canceled: statement_timeout
	}
	// A pool acquire that times out returns the bare context error.
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}

// databaseUnreachable: the connection could not be made, or was lost.
func databaseUnreachable(err error) bool {
	// A connection that could not be made, whatever the server said (it
	// may refuse with an error of its own: a database that does not accept
	// connections, 55000).
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown: stopped, or the backend was terminated
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: starting up or shutting down
			"53300", // too_many_connections
			"25006": // read_only_sql_transaction: a standby, during a failover
			return true
		}
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" // connection_exception
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr):
		return true
	// The driver reports a connection closed under it as EOF.
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	return false
}
