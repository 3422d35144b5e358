package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/availability"
	"github.com/gridmetrics/gridmetrics/console"
	"github.com/gridmetrics/gridmetrics/costs"
	"github.com/gridmetrics/gridmetrics/idtags"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ingestlog"
	"github.com/gridmetrics/gridmetrics/mqtt"
	"github.com/gridmetrics/gridmetrics/ocppj"
	"github.com/gridmetrics/gridmetrics/openapi"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/recovery"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/sessions"
	"github.com/gridmetrics/gridmetrics/sites"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// Main is the running service: its pool, HTTP app and listener. Run starts
// it, Close stops it gracefully; tests drive it the same way as main does.
type Main struct {
	Config Config
	Log    *slog.Logger

	pools    *pools // one per class of work (pools.go)
	pipeline *ingest.Pipeline

	// ingestLog, when ingest-log is set, takes the front ends' submissions
	// and feeds the pipeline (ingestlog.go).
	ingestLog *ingestlog.Log

	rollups  *rollups.Runner
	sessions *sessions.Service
	ocppj    *ocppj.Server     // the chargers' OCPP-J endpoint
	mqtt     *mqtt.Subscriber  // the broker subscription, when one is set
	pricing  *sessions.Service // the sessions' pricing worker, on the jobs pool
	app      *fiber.App
	ln       net.Listener
	done     chan struct{} // closed when the server stops serving
	serveErr error
	stopBg   context.CancelFunc
	backend  schema.Backend

	// metricsApp serves /metrics on metrics-addr when that is set.
	metricsApp  *fiber.App
	metricsLn   net.Listener
	metricsDone chan struct{}

	// reads routes queries, exports and the billing pull to a streaming
	// standby when read-database-url is set (standby.go).
	reads standbyReads
}

// Run connects, migrates, and starts serving in the background. It returns
// once the listener is open, so Addr is known.
func (m *Main) Run(ctx context.Context) (err error) {
	bg, stop := context.WithCancel(context.Background())
	m.stopBg = stop
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	res, err := m.migrate(ctx)
	if err != nil {
		return err
	}
	if m.pools, err = openPools(m.Config); err != nil {
		return err
	}
	m.backend = res.Backend
	m.Log.Info("database ready", "backend", res.Backend, "schema_version", res.Version)

	authStore := auth.NewStore(m.pools.auth)
	authn, err := auth.NewAuthenticator(bg, authStore, m.Config.authConfig())
	if err != nil {
		return err
	}
	// Like the source change listener, on a connection of the jobs pool.
	go authn.Listen(bg, m.pools.job, m.Log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Recovered panics of every background goroutine and handler, by where.
	reg.MustRegister(recovery.Panics)
	if m.backend == schema.BackendTimescaleDB {
		// TimescaleDB runs its policies itself: their failures show here.
		reg.MustRegister(rollups.NewJobsCollector(func(ctx context.Context) ([]schema.Job, error) {
			return schema.ReadJobs(ctx, m.pools.read)
		}, m.Log))
	}

	if err := m.openStandby(bg, reg); err != nil {
		return err
	}

	sourceStore := sources.NewStore(m.pools.read)
	// The catalogue is read once, at start-up, on the jobs pool: its long
	// acquire timeout lets a busy database delay the start, where the read
	// pool's (sized for requests, possibly a fraction of a second) would
	// end it.
	metrics, err := sources.NewStore(m.pools.job).Metrics(ctx)
	if err != nil {
		return err
	}
	// Ingest resolves sources on every request: on the auth pool, beside
	// the API key lookups, never behind slow reads.
	resolver := sources.NewResolver(sources.NewStore(m.pools.auth))
	resolver.MaxAutoChildren = m.Config.MaxAutoConnectors
	// Renames and deletes go through the API's store: the resolver must
	// hear of them at once, not only by notification.
	sourceStore.OnChange(resolver.Forget)
	go resolver.Listen(bg, m.pools.job, m.Log)
	ingestMetrics := ingest.NewMetrics(reg)
	m.pipeline = ingest.NewPipeline(m.pools.writer, m.Config.Ingest, m.Log, ingestMetrics, reg)
	submitter, err := m.openIngestLog(ctx, reg)
	if err != nil {
		return err
	}
	ingestService := &ingest.Service{
		Pipeline: submitter,
		Resolver: resolver,
		Catalog:  ingest.NewCatalog(metrics),
		Limits:   m.Config.ingestLimits(),
		Metrics:  ingestMetrics,
	}

	if m.Config.RunRollups {
		cfg := m.Config.Rollups
		cfg.Retention = map[string]time.Duration{"readings": m.Config.RawRetention, "rollup_15m": m.Config.Rollup15mRetention}
		m.rollups = rollups.NewRunner(m.pools.job, cfg, m.Log, rollups.NewMetrics(reg))
		// TimescaleDB drops old chunks through its own policies.
		if err := m.rollups.Start(m.backend == schema.BackendPostgreSQL); err != nil {
			return err
		}
	}

	m.app = api.New(m.Config.apiConfig(m.Log))
	api.MountHealth(m.app, m.ready)
	// The console and the API reference: static pages, without auth; they
	// call the API under /v1 with the key the user signs in with.
	console.Mount(m.app, console.Built())
	if err := m.serveMetrics(reg); err != nil {
		return err
	}
	// The contract, without auth: before the /v1 group's middleware.
	openapi.Mount(m.app)
	v1 := m.app.Group("/v1", authn.Middleware())
	if m.reads.router != nil {
		v1.Use(servedHeader)
	}
	sources.Mount(v1, sourceStore)
	sites.Mount(v1, sites.NewStore(m.pools.read))
	ingest.Mount(v1, ingestService)
	rollups.Mount(v1, m.pools.read)
	queryService := query.NewService(m.queryDB(), sourceStore, metrics, m.queryConfig())
	query.Mount(v1, queryService)
	tariffStore := tariffs.NewStore(m.pools.read)
	tariffs.Mount(v1, tariffStore)
	costs.Mount(v1, &costs.Service{Tariffs: tariffStore, Sources: sourceStore, Meters: costs.QueryMeters{Query: queryService}})
	tariffCache := tariffs.NewCache(0) // shared by requests and the pricing worker
	m.sessions = sessions.NewService(m.pools.read, resolver, ingestService, assignedTariffs{tariffStore, tariffCache}, m.sessionsConfig(reg))
	m.useStandby(m.sessions)
	ingestService.Signed = m.sessions // MeterValues' signed values go to their session
	m.pricing = m.sessions.OnPool(m.pools.job, assignedTariffs{tariffs.NewStore(m.pools.job), tariffCache})
	m.pricing.StartWorker()
	sessions.Mount(v1, m.sessions, m.Log)
	// Recording a state is one short insert on the ingest path, beside the
	// source lookups on the auth pool: never behind slow reads, and not on
	// the writer pool, whose connections the batch writers hold.
	availabilityService := &availability.Service{
		Recorder: availability.NewStore(m.pools.auth),
		Reader:   availability.NewStore(m.pools.read),
		Sources:  sourceStore,
		Resolver: resolver,
	}
	availability.Mount(v1, availabilityService)
	// The id-tag policy answers Authorize (OCPP-J) and the idTagInfo of the
	// transaction messages (both ways in) alike; its check is one short
	// read, on the auth pool beside the other lookups of the OCPP path.
	idTagService := idtags.NewService(idtags.NewStore(m.pools.auth), idtags.Config{})
	idtags.Mount(v1, idTagService)
	m.sessions.UseIDTags(idTagService)
	m.mountOCPPJ(m.app, v1, authn, ingestService, m.sessions, availabilityService.Endpoint(), reg)
	m.ocppj.IDTags = idTagService
	go m.ocppj.ListenPasswordChanges(bg, m.pools.job, m.Log)
	go m.ocppj.ListenConnections(bg, m.pools.job, m.Log)
	if err := m.mountMQTT(v1, ingestService, reg); err != nil {
		return err
	}

	if m.ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.done = make(chan struct{})
	go func() {
		m.serveErr = m.app.Listener(api.LimitConns(m.ln, m.Config.HTTP.MaxConns))
		close(m.done)
	}()
	m.Log.Info("serving", "addr", m.Addr())
	return nil
}

// Addr is the address the server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Done is closed when the server stops serving, by Close or by a failure.
func (m *Main) Done() <-chan struct{} { return m.done }

// Close stops accepting connections, waits up to the shutdown timeout for
// requests in flight (ingest requests wait for their commit), drains the
// ingest queue, then closes the database pool.
func (m *Main) Close() error {
	var err error
	deadline := time.Now().Add(m.Config.ShutdownTimeout)
	if m.app != nil && m.ln != nil {
		m.Log.Info("shutting down", "timeout", m.Config.ShutdownTimeout)
		err = m.app.ShutdownWithTimeout(m.Config.ShutdownTimeout)
		<-m.done
		// Upgraded connections are no longer the HTTP server's: closed here.
		ocppCtx, cancel := context.WithDeadline(context.Background(), deadline)
		m.closeOCPPJ(ocppCtx)
		cancel()
		if m.serveErr != nil && !errors.Is(m.serveErr, net.ErrClosed) {
			err = errors.Join(err, m.serveErr)
		}
	}
	// Before the pipeline closes: MQTT messages in flight commit and are
	// acknowledged, or stay with the broker, which sends them again.
	mqttCtx, cancelMQTT := context.WithDeadline(context.Background(), deadline)
	m.closeMQTT(mqttCtx)
	cancelMQTT()
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Second))
	defer cancel()
	err = errors.Join(err, m.closeMetrics())
	// The log before the pipeline: its consumer writes through it.
	err = errors.Join(err, m.closeIngestLog(ctx))
	if m.pipeline != nil {
		err = errors.Join(err, m.pipeline.Close(ctx))
	}
	if m.rollups != nil {
		m.rollups.Stop(ctx)
	}
	if m.pricing != nil {
		m.pricing.StopWorker(ctx)
	}
	if m.stopBg != nil {
		m.stopBg()
	}
	m.closeStandby()
	if m.pools != nil {
		m.pools.close()
	}
	return err
}

// ready reports the backend and schema version; it fails when the database
// is unreachable or the schema is behind.
func (m *Main) ready(ctx context.Context) (map[string]any, error) {
	facts := map[string]any{"backend": m.backend, "mqtt": m.mqttFact()}
	if m.reads.router != nil {
		facts["standby"] = m.standbyFact()
	}
	// The auth pool: what every request needs first, and never held long.
	st, err := schema.ReadStatus(ctx, m.pools.auth)
	switch {
	case errors.Is(err, schema.ErrNotMigrated):
		facts["schema_version"], facts["schema_latest"] = st.Version, st.Latest
		return facts, api.NotReady(fmt.Sprintf("schema is at version %d, this binary needs %d; run gridmetrics migrate", st.Version, st.Latest))
	case err != nil:
		m.Log.Warn("readiness check failed", "err", err)
		return facts, api.NotReady("database unreachable")
	}
	facts["backend"] = st.Backend
	facts["schema_version"] = st.Version
	if st.Backend == schema.BackendTimescaleDB {
		// A failing policy shows as "degraded" but leaves the service
		// ready: reads and writes work, only compression or retention lag.
		jobs, err := schema.ReadJobs(ctx, m.pools.auth)
		if err != nil {
			m.Log.Warn("read timescaledb jobs", "err", err)
		}
		facts["timescaledb_jobs"] = rollups.JobsFact(jobs, err)
	}
	return facts, nil
}

// migrate brings the schema up to date on a connection of its own, free of
// the pools' statement timeouts, and closes it.
func (m *Main) migrate(ctx context.Context) (schema.Result, error) {
	pool, err := openPool(ctx, m.Config)
	if err != nil {
		return schema.Result{}, err
	}
	defer pool.Close()
	return schema.Migrate(ctx, pool, m.Config.schemaOptions())
}

func openPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database-url: %w", err)
	}
	pc.MaxConns = int32(cfg.DBMaxConns)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	return pool, nil
}

func (m *Main) queryConfig() query.Config {
	cfg := m.Config.Query
	cfg.Logger = m.Log
	return cfg
}

func (m *Main) sessionsConfig(reg prometheus.Registerer) sessions.Config {
	cfg := m.Config.Sessions
	cfg.Logger, cfg.Metrics = m.Log, sessions.NewMetrics(reg)
	return cfg
}
