package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

func TestDBPoolsSizes(t *testing.T) {
	t.Parallel()
	defaults := DBPools{
		Writer: DBClass{0, time.Second, time.Second},
		Auth:   DBClass{3, time.Second, time.Second},
		Read:   DBClass{0, time.Second, time.Second},
		Job:    DBClass{4, time.Second, time.Second},
	}
	with := func(f func(*DBPools)) DBPools { p := defaults; f(&p); return p }
	tests := []struct {
		name          string
		pools         DBPools
		maxConns      int
		writers       int
		wantWriter    int
		wantRead      int
		wantErrSubstr string
	}{
		{name: "defaults", pools: defaults, maxConns: 20, writers: 2, wantWriter: 2, wantRead: 11},
		{name: "reads take what is left", pools: defaults, maxConns: 10, writers: 2, wantWriter: 2, wantRead: 1},
		{name: "nothing left for reads", pools: defaults, maxConns: 9, writers: 2, wantWriter: 2, wantRead: 0,
			wantErrSubstr: "leaves no connection for requests"},
		{name: "writers follow ingest-writers", pools: defaults, maxConns: 20, writers: 4, wantWriter: 4, wantRead: 9},
		{name: "too few writer connections", pools: with(func(p *DBPools) { p.Writer.Conns = 1 }), maxConns: 20, writers: 2,
			wantWriter: 1, wantRead: 12, wantErrSubstr: "db-writer-conns (1) must be at least ingest-writers (2)"},
		{name: "explicit reads beyond the total", pools: with(func(p *DBPools) { p.Read.Conns = 15 }), maxConns: 20, writers: 2,
			wantWriter: 2, wantRead: 15, wantErrSubstr: "more than db-max-conns (20)"},
		{name: "no acquire timeout", pools: with(func(p *DBPools) { p.Auth.AcquireTimeout = 0 }), maxConns: 20, writers: 2,
			wantWriter: 2, wantRead: 11, wantErrSubstr: "db-auth-acquire-timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.pools.resolve(tt.maxConns, tt.writers)
			if got.Writer.Conns != tt.wantWriter || got.Read.Conns != tt.wantRead {
				t.Errorf("resolved writer %d read %d, want %d and %d", got.Writer.Conns, got.Read.Conns, tt.wantWriter, tt.wantRead)
			}
			err := got.validate(tt.maxConns, tt.writers)
			switch {
			case tt.wantErrSubstr == "" && err != nil:
				t.Errorf("validate: %v", err)
			case tt.wantErrSubstr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr)):
				t.Errorf("validate: %v, want an error with %q", err, tt.wantErrSubstr)
			}
		})
	}
}

// TestClassPoolLimits checks a class's pool against PostgreSQL: its
// backends are named after the class, an acquire gives up after the
// acquire timeout even when the caller set no deadline, a statement ends at
// the statement_timeout, and the API answers both with 503.
func TestClassPoolLimits(t *testing.T) {
	t.Parallel()
	pool, err := openClassPool(dbtest.NewURL(t), "read", DBClass{Conns: 1, AcquireTimeout: 200 * time.Millisecond, StatementTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()

	var app string
	if err := pool.QueryRow(ctx, "SHOW application_name").Scan(&app); err != nil || app != "gridmetrics/read" {
		t.Fatalf("application_name %q (%v), want gridmetrics/read", app, err)
	}

	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Released after 3s at the latest, so that a pool without the acquire
	// timeout fails this test instead of hanging it.
	var once sync.Once
	release := func() { once.Do(held.Release) }
	defer time.AfterFunc(3*time.Second, release).Stop()
	began := time.Now()
	_, err = pool.Exec(ctx, "SELECT 1") // waits for the held connection
	waited := time.Since(began)
	release()
	if !errors.Is(err, context.DeadlineExceeded) || waited < 150*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("acquire on an exhausted pool: %v after %s, want a deadline after about 200ms", err, waited)
	}
	if e := api.Unavailable(err); e == nil || e.Status() != 503 || e.RetryAfter == 0 {
		t.Errorf("acquire timeout answered %v, want 503 with Retry-After", e)
	}

	_, err = pool.Exec(ctx, "SELECT pg_sleep(5)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("a statement past statement_timeout: %v, want SQLSTATE 57014", err)
	}
	if e := api.Unavailable(err); e == nil || e.Status() != 503 || e.RetryAfter == 0 {
		t.Errorf("statement timeout answered %v, want 503 with Retry-After", e)
	}
	// The pool is usable after both.
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}
