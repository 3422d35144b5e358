package standby

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Database names the database that served a read.
type Database string

// The two databases a read may be served by.
const (
	Primary Database = "primary"
	Standby Database = "standby"
)

// Router sends each read to the standby while the monitor finds it usable,
// and to the primary otherwise; a read that cannot begin on the standby
// (it went down since the last check) is sent to the primary at once. It
// has the methods of a pool that the read paths use, so a store takes it
// in place of one.
type Router struct {
	primary, standby *pgxpool.Pool
	mon              *Monitor
	reads            *prometheus.CounterVec
}

// NewRouter returns a router between primary and standby, measured by mon.
// Its reads are counted on reg (gridmetrics_standby_reads_total) when reg
// is not nil.
func NewRouter(primary, standby *pgxpool.Pool, mon *Monitor, reg prometheus.Registerer) *Router {
	r := &Router{primary: primary, standby: standby, mon: mon,
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridmetrics_standby_reads_total",
			Help: "Reads routed by the standby router (queries, exports, the billing pull), by the database that served them.",
		}, []string{"database"})}
	if reg != nil {
		reg.MustRegister(r.reads)
	}
	return r
}

// Monitor returns the router's monitor.
func (r *Router) Monitor() *Monitor { return r.mon }

// Usable reports whether a read may go to the standby now.
func (r *Router) Usable() bool { return r.mon.Usable() }

// Standby returns the standby's pool, for a read path that decides itself
// (with Usable) and reports what it chose (Served).
func (r *Router) Standby() *pgxpool.Pool { return r.standby }

func (r *Router) choose() (*pgxpool.Pool, Database) {
	if r.mon.Usable() {
		return r.standby, Standby
	}
	return r.primary, Primary
}

// BeginTx begins a transaction on the standby when it is usable, else on
// the primary.
func (r *Router) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	db, which := r.choose()
	tx, err := db.BeginTx(ctx, opts)
	if err != nil && which == Standby && ctx.Err() == nil {
		r.mon.MarkDown(err)
		which = Primary
		tx, err = r.primary.BeginTx(ctx, opts)
	}
	r.Served(ctx, which)
	return tx, err
}

// Query runs a statement on the standby when it is usable, else on the
// primary.
func (r *Router) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	db, which := r.choose()
	rows, err := db.Query(ctx, sql, args...)
	if err != nil && which == Standby && ctx.Err() == nil {
		r.mon.MarkDown(err)
		which = Primary
		rows, err = r.primary.Query(ctx, sql, args...)
	}
	r.Served(ctx, which)
	return rows, err
}

// Served counts a read served by db and records it for ctx's request.
func (r *Router) Served(ctx context.Context, db Database) {
	r.reads.WithLabelValues(string(db)).Inc()
	Record(ctx, db)
}

// Served collects which databases served one request's reads.
type Served struct {
	mu               sync.Mutex
	primary, standby bool
}

type servedKey struct{}

// WithServed returns a context whose reads are recorded in the returned
// Served.
func WithServed(ctx context.Context) (context.Context, *Served) {
	s := &Served{}
	return context.WithValue(ctx, servedKey{}, s), s
}

// Record notes that db served a read of ctx's request, if ctx collects
// them (WithServed).
func Record(ctx context.Context, db Database) {
	s, _ := ctx.Value(servedKey{}).(*Served)
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch db {
	case Primary:
		s.primary = true
	case Standby:
		s.standby = true
	}
}

// Database is what served the request: Standby only when every read went
// there, Primary when any went to the primary, "" when nothing was read.
func (s *Served) Database() Database {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.primary:
		return Primary
	case s.standby:
		return Standby
	}
	return ""
}
