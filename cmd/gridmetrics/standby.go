package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/sessions"
	"github.com/gridmetrics/gridmetrics/standby"
)

// Reads from a streaming standby (read-database-url): queries, session
// exports and the billing pull go to the standby while package standby
// finds it within read-max-lag of the primary, and to the primary
// otherwise. Everything else — writes, authentication, sources, tariffs,
// the jobs — stays on the primary.

// HeaderDatabase says which database served a request's reads, on the
// routes that may read the standby: "standby", or "primary" when any of
// them went to the primary. It is set only when a standby is configured.
const HeaderDatabase = "X-Gridmetrics-Database"

// minReadMaxLag is the smallest read-max-lag: the lag is measured every
// tenth of it, and no more often than every 50 ms.
const minReadMaxLag = 100 * time.Millisecond

// standbyReads is the standby's side of the server.
type standbyReads struct {
	router      *standby.Router // nil without read-database-url
	pool        *pgxpool.Pool   // the standby's reads
	monitorPool *pgxpool.Pool   // the monitor's connection to it
	done        chan struct{}   // closed when the monitor has stopped
}

func (c *Config) bindStandby(b *binder) {
	b.str(&c.ReadDatabaseURL, "read-database-url", "",
		"PostgreSQL connection URL of one streaming standby of database-url (not a balancer over several) for queries, exports and the billing pull; empty reads the primary")
	b.duration(&c.ReadMaxLag, "read-max-lag", standby.DefaultMaxLag,
		"how far behind the primary the standby may be and still serve reads; past it the primary serves them")
}

func (c Config) validateStandby() error {
	var errs []error
	if c.ReadMaxLag < minReadMaxLag {
		errs = append(errs, fmt.Errorf("read-max-lag is %s: must be at least %s", c.ReadMaxLag, minReadMaxLag))
	}
	if c.ReadDatabaseURL != "" {
		if _, err := pgxpool.ParseConfig(c.ReadDatabaseURL); err != nil {
			errs = append(errs, fmt.Errorf("read-database-url: %w", err))
		} else if c.ReadDatabaseURL == c.DatabaseURL {
			errs = append(errs, errors.New("read-database-url is database-url: name a streaming standby of it, or leave it empty to read the primary"))
		}
	}
	return errors.Join(errs...)
}

func (c Config) standbyConfig() standby.Config {
	return standby.Config{MaxLag: c.ReadMaxLag}.WithDefaults()
}

// openStandby opens the standby's pools when read-database-url is set: one
// sized and bounded as the read class (it serves that class's reads, on
// another server), and one connection for the monitor, which measures the
// lag against the primary on the auth pool (short statements, never behind
// slow reads). The first measurement is made here, so that a standby that
// is up serves from the first request; one that is down leaves the reads
// on the primary until a check finds it.
func (m *Main) openStandby(ctx context.Context, reg prometheus.Registerer) error {
	if m.Config.ReadDatabaseURL == "" {
		return nil
	}
	read := m.Config.DBPools.resolve(m.Config.DBMaxConns, m.Config.Ingest.Writers).Read
	cfg := m.Config.standbyConfig()
	var err error
	if m.reads.pool, err = openClassPool(m.Config.ReadDatabaseURL, "standby", read); err != nil {
		return fmt.Errorf("read-database-url: %w", err)
	}
	monitorClass := DBClass{Conns: 1, AcquireTimeout: cfg.CheckTimeout, StatementTimeout: cfg.CheckTimeout}
	if m.reads.monitorPool, err = openClassPool(m.Config.ReadDatabaseURL, "standby-monitor", monitorClass); err != nil {
		return fmt.Errorf("read-database-url: %w", err)
	}
	cfg.Logger = m.Log
	mon := standby.NewMonitor(m.pools.auth, m.reads.monitorPool, cfg)
	mon.Register(reg)
	m.reads.router = standby.NewRouter(m.pools.read, m.reads.pool, mon, reg)
	if err := mon.Check(ctx); err != nil {
		m.Log.Warn("the standby does not serve reads yet; the primary answers them", "err", err)
	}
	m.reads.done = make(chan struct{})
	go func() {
		defer close(m.reads.done)
		mon.Run(ctx)
	}()
	return nil
}

// queryDB is what queries read: the router when a standby is set.
func (m *Main) queryDB() query.DB {
	if m.reads.router != nil {
		return m.reads.router
	}
	return m.pools.read
}

// useStandby points the billing pull and the session export at the
// standby.
func (m *Main) useStandby(svc *sessions.Service) {
	if m.reads.router == nil {
		return
	}
	svc.ReadFromStandby(sessions.Standby{
		Store:  sessions.NewStore(m.reads.pool),
		Usable: m.reads.router.Usable,
		Served: func(ctx context.Context, onStandby bool) {
			db := standby.Primary
			if onStandby {
				db = standby.Standby
			}
			m.reads.router.Served(ctx, db)
		},
	})
}

// servedHeader collects which databases serve a request's reads and says
// so in HeaderDatabase. The header goes out after the handler returns,
// before a streamed body, and every read path chooses its database before
// that.
func servedHeader(c *fiber.Ctx) error {
	ctx, served := standby.WithServed(c.UserContext())
	c.SetUserContext(ctx)
	err := c.Next()
	if db := served.Database(); db != "" {
		c.Set(HeaderDatabase, string(db))
	}
	return err
}

// standbyFact is the standby's state for /readyz: it never makes the
// service unready, since the primary answers in its place.
func (m *Main) standbyFact() map[string]any {
	s := m.reads.router.Monitor().State()
	fact := map[string]any{"serving": m.reads.router.Usable(), "up": s.Up}
	if s.Up {
		fact["lag_seconds"] = s.Lag(time.Now()).Seconds()
	} else {
		fact["reason"] = s.Reason
	}
	return fact
}

// closeStandby closes the standby's pools once the monitor, stopped with
// the other background work, has returned.
func (m *Main) closeStandby() {
	if m.reads.done != nil {
		<-m.reads.done
	}
	for _, p := range []*pgxpool.Pool{m.reads.pool, m.reads.monitorPool} {
		if p != nil {
			p.Close()
		}
	}
}
