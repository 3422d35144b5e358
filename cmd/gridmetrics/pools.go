package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The server splits its database connections into classes, each with a
// pool of its own, so that one kind of work cannot take the connections
// another needs: slow exports and queries cannot starve the ingest writers
// or authentication, and a backlog of jobs cannot hold up requests. Each
// class bounds how long a caller waits for a connection (the acquire
// timeout, answered 503 UNAVAILABLE) and how long one statement may run
// (PostgreSQL's statement_timeout).

// DBClass configures the pool of one class of database work.
type DBClass struct {
	// Conns is the pool's size: the connections the class may hold at once.
	Conns int
	// AcquireTimeout bounds the wait for a free connection; a caller with
	// an earlier deadline gives up earlier.
	AcquireTimeout time.Duration
	// StatementTimeout is the statement_timeout of the class's
	// connections; 0 leaves the server's setting.
	StatementTimeout time.Duration
}

// DBPools configures the four classes. The change listeners (source and
// API key invalidation) each hold one more connection, outside the pools.
type DBPools struct {
	// Writer: the ingest pipeline's batch writers. Conns 0 means one per
	// ingest writer.
	Writer DBClass
	// Auth: API key lookups and the source resolver on the ingest path,
	// short and frequent; also the readiness check.
	Auth DBClass
	// Read: the requests' own work (queries, exports, sources, tariffs,
	// sessions). Conns 0 means what db-max-conns leaves to it.
	Read DBClass
	// Job: rollups, the session pricing worker, the source change listener.
	Job DBClass
}

// dbClassDefaults are the documented defaults of each class.
var dbClassDefaults = []struct {
	name  string
	class func(*DBPools) *DBClass
	def   DBClass
	usage string
}{
	{"writer", func(p *DBPools) *DBClass { return &p.Writer }, DBClass{0, 5 * time.Second, 30 * time.Second},
		"the ingest writers (0: one per ingest writer)"},
	{"auth", func(p *DBPools) *DBClass { return &p.Auth }, DBClass{3, 2 * time.Second, 5 * time.Second},
		"authentication and source lookups on the ingest path"},
	{"read", func(p *DBPools) *DBClass { return &p.Read }, DBClass{0, 5 * time.Second, 5 * time.Minute},
		"queries, exports and the other requests (0: what db-max-conns leaves)"},
	{"job", func(p *DBPools) *DBClass { return &p.Job }, DBClass{4, 30 * time.Second, 15 * time.Minute},
		"rollups and the session pricing worker"},
}

// bind registers db-<class>-conns, db-<class>-acquire-timeout and
// db-<class>-statement-timeout for every class.
func (p *DBPools) bind(b *binder) {
	for _, d := range dbClassDefaults {
		c := d.class(p)
		b.int(&c.Conns, "db-"+d.name+"-conns", d.def.Conns, "database connections of "+d.usage)
		b.duration(&c.AcquireTimeout, "db-"+d.name+"-acquire-timeout", d.def.AcquireTimeout,
			"how long "+d.name+" work waits for a free database connection before it fails (503)")
		b.duration(&c.StatementTimeout, "db-"+d.name+"-statement-timeout", d.def.StatementTimeout,
			"statement_timeout of the "+d.name+" connections; 0 keeps the server's")
	}
}

// resolve fills in the derived sizes: writers from ingest-writers, reads
// from what db-max-conns leaves.
func (p DBPools) resolve(maxConns, ingestWriters int) DBPools {
	if p.Writer.Conns == 0 {
		p.Writer.Conns = ingestWriters
	}
	if p.Read.Conns == 0 {
		p.Read.Conns = maxConns - p.Writer.Conns - p.Auth.Conns - p.Job.Conns
	}
	return p
}

// validate checks the resolved pools against db-max-conns and the ingest
// writers.
func (p DBPools) validate(maxConns, ingestWriters int) error {
	var errs []error
	for _, d := range dbClassDefaults {
		c := d.class(&p)
		if c.AcquireTimeout <= 0 || c.StatementTimeout < 0 {
			errs = append(errs, fmt.Errorf("db-%s-acquire-timeout must be positive and db-%[1]s-statement-timeout not negative", d.name))
		}
		if c.Conns < 1 && d.name != "read" {
			errs = append(errs, fmt.Errorf("db-%s-conns: must be at least 1", d.name))
		}
	}
	if p.Writer.Conns < ingestWriters {
		errs = append(errs, fmt.Errorf("db-writer-conns (%d) must be at least ingest-writers (%d): each writer holds a connection while it writes",
			p.Writer.Conns, ingestWriters))
	}
	total := p.Writer.Conns + p.Auth.Conns + p.Read.Conns + p.Job.Conns
	switch {
	case p.Read.Conns < 1:
		errs = append(errs, fmt.Errorf("db-max-conns (%d) leaves no connection for requests after writers (%d), auth (%d) and jobs (%d); raise it or set db-read-conns",
			maxConns, p.Writer.Conns, p.Auth.Conns, p.Job.Conns))
	case total > maxConns:
		errs = append(errs, fmt.Errorf("the pools need %d connections (writer %d, auth %d, read %d, job %d), more than db-max-conns (%d)",
			total, p.Writer.Conns, p.Auth.Conns, p.Read.Conns, p.Job.Conns, maxConns))
	}
	return errors.Join(errs...)
}

// pools are the open pools of the server.
type pools struct {
	writer, auth, read, job *pgxpool.Pool
}

// openPools opens one pool per class. Pools connect lazily, so a database
// that is down when the server starts is found by the caller's ping.
func openPools(cfg Config) (*pools, error) {
	p := cfg.DBPools.resolve(cfg.DBMaxConns, cfg.Ingest.Writers)
	var ps pools
	var err error
	for _, c := range []struct {
		name string
		dst  **pgxpool.Pool
		cfg  DBClass
	}{{"writer", &ps.writer, p.Writer}, {"auth", &ps.auth, p.Auth}, {"read", &ps.read, p.Read}, {"job", &ps.job, p.Job}} {
		if *c.dst, err = openClassPool(cfg.DatabaseURL, c.name, c.cfg); err != nil {
			ps.close()
			return nil, err
		}
	}
	return &ps, nil
}

// defaultConnectTimeout bounds one connection attempt when database-url
// sets no connect_timeout: an unreachable host fails fast instead of after
// the operating system's TCP timeout.
const defaultConnectTimeout = 5 * time.Second

func openClassPool(url, name string, c DBClass) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database-url: %w", err)
	}
	pc.MaxConns = int32(c.Conns)
	cc := pc.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = defaultConnectTimeout
	}
	if c.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(c.StatementTimeout.Milliseconds(), 10)
	}
	// pg_stat_activity shows which class a backend serves.
	app := cc.RuntimeParams["application_name"]
	if app == "" {
		app = "gridmetrics"
	}
	cc.RuntimeParams["application_name"] = app + "/" + name
	cc.Tracer = acquireTimeout(c.AcquireTimeout)
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("open %s pool: %w", name, err)
	}
	return pool, nil
}

func (ps *pools) close() {
	for _, p := range []*pgxpool.Pool{ps.writer, ps.auth, ps.read, ps.job} {
		if p != nil {
			p.Close()
		}
	}
}

// acquireTimeout bounds every Acquire of a pool, including the implicit
// ones of pool.Query and pool.Exec, whose callers may pass a context
// without a deadline (the ingest writers, the jobs). pgxpool gives an
// AcquireTracer the acquire's context to shape; a timed-out acquire fails
// with context.DeadlineExceeded, which the API answers with 503. pgx takes
// the tracer as a QueryTracer, whose methods do nothing here.
type acquireTimeout time.Duration

type acquireCancelKey struct{}

func (d acquireTimeout) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d))
	return context.WithValue(ctx, acquireCancelKey{}, cancel)
}

func (acquireTimeout) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if cancel, ok := ctx.Value(acquireCancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

func (acquireTimeout) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (acquireTimeout) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
