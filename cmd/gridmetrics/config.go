package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ingestlog"
	"github.com/gridmetrics/gridmetrics/mqtt"
	"github.com/gridmetrics/gridmetrics/ocppj"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/sessions"
	"github.com/gridmetrics/gridmetrics/sources"
)

// DefaultDatabaseURL is the private cluster that scripts/pg.sh starts for
// `make run`.
const DefaultDatabaseURL = "postgres://gridmetrics@127.0.0.1:54329/gridmetrics?sslmode=disable"

// Config is every setting of the service. Each one is read from an
// environment variable GRIDMETRICS_<NAME> and can be overridden by the flag
// --<name> (see bind); README.md lists them with their defaults.
type Config struct {
	// DatabaseURL is the PostgreSQL connection URL; default
	// DefaultDatabaseURL.
	DatabaseURL string
	// DBMaxConns is the most database connections of all the server's
	// pools together, and of a one-shot command; default 20.
	DBMaxConns int
	// DBPools splits DBMaxConns by class of work (pools.go).
	DBPools DBPools
	// ReadDatabaseURL, when set, is a streaming standby of DatabaseURL:
	// queries, exports and the billing pull read it while it is at most
	// ReadMaxLag behind (default standby.DefaultMaxLag), and the primary
	// otherwise (standby.go). Empty, the default, reads the primary.
	ReadDatabaseURL string
	ReadMaxLag      time.Duration
	// Addr is the host:port the API listens on; default 127.0.0.1:8080.
	Addr string
	// LogLevel is debug, info (the default), warn or error.
	LogLevel string
	// LogFormat is text (the default) or json.
	LogFormat string
	// BodyLimit caps every route class's body limit, in bytes after
	// decompression; default 16 MiB.
	BodyLimit int
	// ShutdownTimeout is how long a graceful shutdown waits for requests
	// in flight; default 30s.
	ShutdownTimeout time.Duration
	// HTTP carries the body limits of the route classes, connection and
	// timeout limits (HTTPLimits.bind).
	HTTP HTTPLimits

	// RateLimit is the requests per second allowed per credential, 0
	// disabling the limit, and RateBurst how many may come at once above
	// it; defaults auth.DefaultRateLimit and auth.DefaultRateBurst.
	RateLimit float64
	RateBurst int
	// JWT configures bearer tokens; off unless a secret or a JWKS is set.
	JWT auth.JWTConfig

	// APIKeyCacheTTL is how long a verified API key is trusted without
	// the database (0 disables the cache), APIKeyCacheGrace how long past
	// it while the database is unreachable, and APIKeyCacheSize the most
	// keys cached; defaults from auth (DefaultKeyCacheTTL, …).
	APIKeyCacheTTL   time.Duration
	APIKeyCacheGrace time.Duration
	APIKeyCacheSize  int
	// AuthFailureLimit is the failed authentications one client address
	// may make per AuthFailureWin (0 disables the limit), counted for at
	// most AuthFailureAddrs addresses at once; defaults from auth.
	AuthFailureLimit int
	AuthFailureWin   time.Duration
	AuthFailureAddrs int
	// TrustedProxies are the reverse proxies (comma-separated CIDRs)
	// whose X-Forwarded-For names the client; empty trusts none.
	TrustedProxies string

	// MetricsAddr serves /metrics on its own address instead of Addr;
	// empty, the default, serves it on Addr.
	MetricsAddr string
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string

	// Timescale, ChunkInterval, CompressAfter and RawRetention are the
	// storage options of schema.Options, with its defaults (auto, 1 day,
	// 7 days, 90 days); a negative duration turns its policy off.
	Timescale     string
	ChunkInterval time.Duration
	CompressAfter time.Duration
	RawRetention  time.Duration

	// Ingest is the write pipeline, with ingest.PipelineConfig's defaults.
	Ingest ingest.PipelineConfig
	// IngestMaxSkew is how far ahead of the server clock a reading may be
	// (ingest.Limits.MaxSkew); default 10m.
	IngestMaxSkew time.Duration
	// IngestLog is the optional durable ingest log (bindIngestLog); off
	// without servers.
	IngestLog ingestlog.Config
	// MaxAutoConnectors bounds the connectors auto-registration creates
	// under one charge box (sources.Resolver.MaxAutoChildren).
	MaxAutoConnectors int

	// Query bounds the query routes, with query.Config's defaults.
	Query query.Config
	// Sessions configures the session service and its pricing worker,
	// with sessions.Config's defaults.
	Sessions sessions.Config
	// OCPPJ configures the chargers' WebSocket endpoint (bindOCPPJ).
	OCPPJ ocppj.Config
	// MQTT is the broker subscription (bindMQTT); off without a URL.
	MQTT mqtt.Config

	// Rollups schedules the rollup jobs, with rollups.Config's defaults;
	// its retention comes from RawRetention and Rollup15mRetention.
	Rollups rollups.Config
	// RunRollups runs the rollup jobs in this process; default true.
	RunRollups bool
	// Rollup15mRetention is how long 15-minute rollups are kept
	// (schema.Options); default two years, negative keeps them.
	Rollup15mRetention time.Duration
}

// binder registers flags whose defaults come from the environment and
// remembers environment values that did not parse.
type binder struct {
	fs   *flag.FlagSet
	errs []error
}

func envName(flagName string) string {
	return "GRIDMETRICS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (b *binder) env(name string) (string, bool) {
	return os.LookupEnv(envName(name))
}

func (b *binder) str(p *string, name, def, usage string) {
	if v, ok := b.env(name); ok {
		def = v
	}
	b.fs.StringVar(p, name, def, usage+" ("+envName(name)+")")
}

func (b *binder) bool(p *bool, name string, def bool, usage string) {
	if v, ok := b.env(name); ok {
		x, err := strconv.ParseBool(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q: not true or false", envName(name), v))
		}
		def = x
	}
	b.fs.BoolVar(p, name, def, usage+" ("+envName(name)+")")
}

// strMap binds one key of a string map.
func (b *binder) strMap(m map[string]string, key, name, def, usage string) {
	if v, ok := b.env(name); ok {
		def = v
	}
	m[key] = def
	b.fs.Func(name, fmt.Sprintf("%s (%s; default %q)", usage, envName(name), def), func(s string) error {
		m[key] = s
		return nil
	})
}

func (b *binder) int(p *int, name string, def int, usage string) {
	if v, ok := b.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q: not an integer", envName(name), v))
		}
		def = n
	}
	b.fs.IntVar(p, name, def, usage+" ("+envName(name)+")")
}

func (b *binder) float(p *float64, name string, def float64, usage string) {
	if v, ok := b.env(name); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q: not a number", envName(name), v))
		}
		def = f
	}
	b.fs.Float64Var(p, name, def, usage+" ("+envName(name)+")")
}

func (b *binder) duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v, ok := b.env(name); ok {
		d, err := parseDuration(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q: %v", envName(name), v, err))
		}
		def = d
	}
	b.fs.Func(name, fmt.Sprintf("%s (%s; default %s)", usage, envName(name), formatDuration(def)), func(s string) error {
		d, err := parseDuration(s)
		*p = d
		return err
	})
	*p = def
}

// parseDuration accepts Go durations plus whole days ("90d"), the natural
// unit of retention settings.
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 90d or 36h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90d or 36h", s)
	}
	return d, nil
}

func formatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// bindDatabase registers the settings every subcommand needs. Settings of
// a component take their defaults from its WithDefaults.
func (c *Config) bindDatabase(b *binder) {
	storage := schema.Options{}.WithDefaults()
	c.Rollups = rollups.Config{}.WithDefaults()
	b.str(&c.DatabaseURL, "database-url", DefaultDatabaseURL, "PostgreSQL connection URL")
	b.int(&c.DBMaxConns, "db-max-conns", 20, "largest number of database connections, all pools of the server together")
	b.str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	b.str(&c.LogFormat, "log-format", "text", "log format: text or json")
	b.str(&c.Timescale, "timescaledb", string(storage.Timescale), "use TimescaleDB: auto (when installed), on (required) or off")
	b.duration(&c.ChunkInterval, "chunk-interval", storage.ChunkInterval, "time span of one readings chunk on TimescaleDB")
	b.duration(&c.CompressAfter, "compress-after", storage.CompressAfter, "compress readings older than this on TimescaleDB; negative disables")
	b.duration(&c.RawRetention, "raw-retention", storage.RawRetention, "drop raw readings older than this; negative keeps them forever")
	b.duration(&c.Rollup15mRetention, "rollup-15m-retention", storage.Rollup15mRetention, "drop 15-minute rollups older than this; negative keeps them forever")
	b.duration(&c.Rollups.Lateness, "rollup-lateness", c.Rollups.Lateness, "how far behind now the rollup tiers are refreshed; above ingest-invalidation-horizon")
}

// bindServer registers the settings of the HTTP server. Settings of a
// component take their defaults from its WithDefaults, or from its
// exported defaults where a zero turns something off.
func (c *Config) bindServer(b *binder) {
	c.Ingest = ingest.PipelineConfig{}.WithDefaults()
	c.Query = query.Config{}.WithDefaults()
	c.Sessions = sessions.Config{}.WithDefaults()
	authDefaults := auth.Config{}.WithDefaults()
	b.str(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	c.DBPools.bind(b)
	c.bindStandby(b)
	c.HTTP.bind(b, &c.BodyLimit)
	c.bindOCPPJ(b)
	c.bindMQTT(b)
	c.bindIngestLog(b)
	b.duration(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for requests in flight")
	b.float(&c.RateLimit, "rate-limit", auth.DefaultRateLimit, "requests per second allowed per credential; 0 disables")
	b.int(&c.RateBurst, "rate-burst", auth.DefaultRateBurst, "requests allowed at once above the rate")
	b.duration(&c.APIKeyCacheTTL, "api-key-cache-ttl", auth.DefaultKeyCacheTTL, "how long a verified API key is trusted without asking the database (revocations apply at once); 0 disables the cache")
	b.duration(&c.APIKeyCacheGrace, "api-key-cache-grace", auth.DefaultKeyCacheGrace, "how long past api-key-cache-ttl a cached key still works while the database is unreachable")
	b.int(&c.APIKeyCacheSize, "api-key-cache-size", authDefaults.KeyCacheSize, "most API keys cached")
	b.int(&c.AuthFailureLimit, "auth-failure-limit", auth.DefaultFailureLimit, "failed authentications one client address may make per auth-failure-window before it gets 429; 0 disables")
	b.duration(&c.AuthFailureWin, "auth-failure-window", authDefaults.FailureWindow, "window of auth-failure-limit")
	b.int(&c.AuthFailureAddrs, "auth-failure-addresses", authDefaults.FailureAddresses, "most client addresses whose failed authentications are counted at once")
	b.str(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDR ranges of reverse proxies whose X-Forwarded-For names the client (its right-most address outside these ranges); empty trusts none, and every client is its TCP peer")
	b.str(&c.MetricsAddr, "metrics-addr", "", "serve /metrics on this address instead of the public one (e.g. 127.0.0.1:9090); empty serves it on addr")
	b.str(&c.MetricsToken, "metrics-token", "", "require Authorization: Bearer <token> on /metrics; empty requires none")
	b.str(&c.JWT.HS256Secret, "jwt-hs256-secret", "", "shared secret for HS256 bearer tokens (at least 32 bytes); empty disables")
	b.str(&c.JWT.JWKS, "jwt-jwks", "", "JWKS file or URL with RS256/ES256 keys for bearer tokens; empty disables")
	b.str(&c.JWT.Issuer, "jwt-issuer", "", "required iss claim of bearer tokens; empty accepts any (required with jwt-jwks)")
	b.str(&c.JWT.Audience, "jwt-audience", "", "required aud claim of bearer tokens; empty accepts any (required with jwt-jwks)")
	b.duration(&c.JWT.Leeway, "jwt-leeway", auth.DefaultJWTLeeway, "clock skew allowed when checking exp and nbf")
	b.int(&c.Ingest.QueueRows, "ingest-queue-rows", c.Ingest.QueueRows, "rows accepted and not yet committed before ingest answers 503; also the most valid rows one request may carry (more: 413)")
	b.int(&c.Ingest.BatchRows, "ingest-batch-rows", c.Ingest.BatchRows, "rows at which an ingest batch is cut")
	b.duration(&c.Ingest.Linger, "ingest-linger", c.Ingest.Linger, "how long an ingest batch waits for more rows")
	b.int(&c.Ingest.Writers, "ingest-writers", c.Ingest.Writers, "batches written at once, each on its own connection")
	b.duration(&c.Ingest.InvalidationHorizon, "ingest-invalidation-horizon", c.Ingest.InvalidationHorizon, "readings older than this are recorded for the rollups to re-aggregate")
	b.duration(&c.Ingest.WriteTimeout, "ingest-write-timeout", c.Ingest.WriteTimeout, "how long one attempt at writing a batch may take before it is retried or its requests get 503")
	b.duration(&c.IngestMaxSkew, "ingest-max-skew", ingest.Limits{}.WithDefaults().MaxSkew, "how far ahead of the server clock a reading may be")
	b.int(&c.MaxAutoConnectors, "ocpp-max-connectors", sources.DefaultMaxAutoChildren, "connectors auto-registration creates per charge box at most; past it their rows are rejected (TOO_MANY_CONNECTORS)")
	b.int(&c.Query.MaxPoints, "query-max-points", c.Query.MaxPoints, "points (rows or buckets) one query response may hold")
	b.duration(&c.Query.Timeout, "query-timeout", c.Query.Timeout, "how long one query may run, streaming included")
	b.float(&c.Sessions.ParkingThreshold, "session-parking-threshold", c.Sessions.ParkingThreshold, "power in W below which a session without OCPP charging states counts as parked")
	b.duration(&c.Sessions.PollInterval, "session-poll-interval", c.Sessions.PollInterval, "how often the pricing worker looks for completed sessions it was not woken for")
	b.duration(&c.Sessions.MaxSkew, "session-max-skew", c.Sessions.MaxSkew, "how far ahead of the server clock a session's start, stop or state change may be")
	b.int(&c.Sessions.MaxPricingAttempts, "session-max-pricing-attempts", c.Sessions.MaxPricingAttempts, "failed or panicking pricing attempts after which a session is quarantined as failed (a reprice revives it)")
	b.int(&c.Sessions.Batch, "session-pricing-batch", c.Sessions.Batch, "completed sessions the pricing worker claims, reads and stores at once")
	b.int(&c.Sessions.Concurrency, "session-pricing-concurrency", c.Sessions.Concurrency, "batches the pricing worker prices at once, each on a connection of the jobs pool")
	b.bool(&c.RunRollups, "rollup-jobs", true, "run the rollup cron jobs in this process (replicas share them through an advisory lock)")
	rollupDefaults := rollups.Config{}.WithDefaults()
	c.Rollups.Specs = map[string]string{}
	for _, tier := range []string{"15m", "1h", "1d"} {
		b.strMap(c.Rollups.Specs, tier, "rollup-spec-"+tier, rollupDefaults.Specs[tier], "cron schedule of the "+tier+" rollup refresh")
	}
	b.str(&c.Rollups.InvalidationSpec, "rollup-invalidation-spec", rollupDefaults.InvalidationSpec, "cron schedule of the re-aggregation of late data")
	b.str(&c.Rollups.RetentionSpec, "rollup-retention-spec", rollupDefaults.RetentionSpec, "cron schedule of retention deletes on plain PostgreSQL")
}

func (c Config) validate() error {
	var errs []error
	if c.DBMaxConns < 1 {
		errs = append(errs, errors.New("db-max-conns: must be at least 1"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: want text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// validateServer checks the settings bound by bindServer.
func (c Config) validateServer() error {
	var errs []error
	// Each component judges its own settings, naming the field; the
	// flag is its name in lower case with dashes (ingest.BatchRows is
	// ingest-batch-rows).
	errs = append(errs, c.Ingest.Validate(), c.ingestLimits().Validate(), c.Query.Validate(), c.Sessions.Validate(),
		c.Rollups.Validate(), c.authConfig().Validate(), c.OCPPJ.Validate(), c.validateIngestLog())
	if c.MaxAutoConnectors < 1 {
		errs = append(errs, errors.New("ocpp-max-connectors: must be positive"))
	}
	if err := c.DBPools.resolve(c.DBMaxConns, c.Ingest.Writers).validate(c.DBMaxConns, c.Ingest.Writers); err != nil {
		errs = append(errs, err)
	}
	if c.JWT.JWKS != "" && (c.JWT.Issuer == "" || c.JWT.Audience == "") {
		errs = append(errs, errors.New("jwt-jwks is set, so jwt-issuer and jwt-audience are required: tokens signed by an identity provider's keys are accepted only when iss and aud name this service"))
	}
	if _, err := api.ParseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted-proxies: %w", err))
	}
	if c.Rollups.Lateness <= c.Ingest.InvalidationHorizon {
		errs = append(errs, fmt.Errorf("rollup-lateness (%s) must exceed ingest-invalidation-horizon (%s): late rows would slip between them",
			c.Rollups.Lateness, c.Ingest.InvalidationHorizon))
	}
	errs = append(errs, c.HTTP.validate(c.BodyLimit)...)
	errs = append(errs, c.validateStandby())
	if err := c.validateMQTT(); err != nil {
		return err
	}
	return errors.Join(c.validate(), errors.Join(errs...))
}

// ingestLimits are the bounds of readings' times.
func (c Config) ingestLimits() ingest.Limits {
	return ingest.Limits{MaxSkew: c.IngestMaxSkew, RawRetention: c.RawRetention}
}

func (c Config) schemaOptions() schema.Options {
	return schema.Options{
		Timescale:     schema.TimescaleMode(c.Timescale),
		ChunkInterval: c.ChunkInterval,
		CompressAfter: c.CompressAfter,
		RawRetention:  c.RawRetention,

		Rollup15mRetention: c.Rollup15mRetention,
	}
}

func (c Config) apiConfig(log *slog.Logger) api.Config {
	cfg := c.HTTP.apiConfig(c.BodyLimit, log)
	// Checked by validateServer.
	cfg.TrustedProxies, _ = api.ParseTrustedProxies(c.TrustedProxies)
	return cfg
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func (c Config) logger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (c Config) authConfig() auth.Config {
	return auth.Config{
		JWT: c.JWT, RateLimit: c.RateLimit, RateBurst: c.RateBurst,
		KeyCacheTTL: c.APIKeyCacheTTL, KeyCacheGrace: c.APIKeyCacheGrace, KeyCacheSize: c.APIKeyCacheSize,
		FailureLimit: c.AuthFailureLimit, FailureWindow: c.AuthFailureWin, FailureAddresses: c.AuthFailureAddrs,
	}
}
