package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ocppj"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema"
	"github.com/gridmetrics/gridmetrics/sessions"
)

// serveFlags parses the serve command's flags from args alone: the
// GRIDMETRICS_ variables of the flags are unset for the test.
func serveFlags(t *testing.T, args ...string) (Config, *flag.FlagSet) {
	t.Helper()
	var cfg Config
	bind := func(b *binder) { cfg.bindDatabase(b); cfg.bindServer(b) }
	fs, err := parseFlags("serve", nil, io.Discard, bind)
	if err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := os.LookupEnv(envName(f.Name)); ok {
			t.Setenv(envName(f.Name), "") // restored after the test
			os.Unsetenv(envName(f.Name))
		}
	})
	cfg = Config{}
	fs, err = parseFlags("serve", args, io.Discard, bind)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, fs
}

// TestFlagDefaultsAreTheComponents checks that each setting's default is
// its component's (WithDefaults, or the exported default of a setting whose
// zero turns something off), so that no default is written twice. It
// cannot run in parallel: it unsets variables.
func TestFlagDefaultsAreTheComponents(t *testing.T) {
	cfg, _ := serveFlags(t)
	wantOCPPJ := ocppj.Config{}.WithDefaults()
	wantOCPPJ.PasswordCacheTTL = ocppj.DefaultPasswordCacheTTL
	wantAuth := auth.Config{RateLimit: auth.DefaultRateLimit, RateBurst: auth.DefaultRateBurst,
		KeyCacheTTL: auth.DefaultKeyCacheTTL, KeyCacheGrace: auth.DefaultKeyCacheGrace,
		FailureLimit: auth.DefaultFailureLimit, JWT: auth.JWTConfig{Leeway: auth.DefaultJWTLeeway}}.WithDefaults()
	app := api.Config{}.WithDefaults()
	storage := schema.Options{}.WithDefaults()
	wantRollups := rollups.Config{}.WithDefaults()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"ingest", cfg.Ingest, ingest.PipelineConfig{}.WithDefaults()},
		{"ingest limits", cfg.ingestLimits().MaxSkew, ingest.Limits{}.WithDefaults().MaxSkew},
		{"query", cfg.Query, query.Config{}.WithDefaults()},
		{"sessions", cfg.Sessions, sessions.Config{}.WithDefaults()},
		{"ocppj", cfg.OCPPJ, wantOCPPJ},
		{"auth", cfg.authConfig(), wantAuth},
		{"storage", cfg.schemaOptions(), storage},
		{"rollup lateness", cfg.Rollups.Lateness, wantRollups.Lateness},
		{"rollup specs", cfg.Rollups.Specs, wantRollups.Specs},
		{"rollup invalidation spec", cfg.Rollups.InvalidationSpec, wantRollups.InvalidationSpec},
		{"rollup retention spec", cfg.Rollups.RetentionSpec, wantRollups.RetentionSpec},
		{"rollup retention", map[string]time.Duration{"readings": cfg.RawRetention, "rollup_15m": cfg.Rollup15mRetention}, wantRollups.Retention},
		{"http", [...]any{cfg.HTTP.MaxConns, cfg.HTTP.ReadHeaderTimeout, cfg.HTTP.ReadTimeout, cfg.HTTP.WriteTimeout,
			cfg.HTTP.StreamWriteTimeout, cfg.HTTP.RequestTimeout, cfg.HTTP.IdleTimeout},
			[...]any{app.MaxConns, app.ReadHeaderTimeout, app.ReadTimeout, app.WriteTimeout,
				app.StreamWriteTimeout, app.RequestTimeout, app.IdleTimeout}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: flag defaults %+v, component defaults %+v", c.name, c.got, c.want)
		}
	}
	if err := cfg.validateServer(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

// TestConfigRefusesNonsense starts the server with settings that cannot
// work: it stops before touching the database, naming the setting. It
// cannot run in parallel: it unsets variables.
func TestConfigRefusesNonsense(t *testing.T) {
	serveFlags(t) // unsets the variables
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--ingest-batch-rows", "-3"}, "ingest.BatchRows is -3: must be positive"},
		{[]string{"--ingest-linger", "0s"}, "ingest.Linger is 0s: must be positive"},
		{[]string{"--ingest-write-timeout", "-1m"}, "ingest.WriteTimeout is -1m0s: must be positive"},
		{[]string{"--ingest-max-skew", "-1s"}, "ingest.MaxSkew is -1s: must not be negative"},
		{[]string{"--query-max-points", "-1"}, "query.MaxPoints is -1: must be positive"},
		{[]string{"--query-timeout", "0s"}, "query.Timeout is 0s: must be positive"},
		{[]string{"--session-max-skew", "0s"}, "sessions.MaxSkew is 0s: must be positive"},
		{[]string{"--session-poll-interval", "-5s"}, "sessions.PollInterval is -5s: must be positive"},
		{[]string{"--session-parking-threshold", "-1"}, "sessions.ParkingThreshold is -1: must be positive"},
		{[]string{"--session-max-pricing-attempts", "0"}, "sessions.MaxPricingAttempts is 0: must be positive"},
		{[]string{"--session-pricing-batch", "0"}, "sessions.Batch is 0: must be positive"},
		{[]string{"--session-pricing-batch", "10001"}, "sessions.Batch is 10001: must be at most 10000"},
		{[]string{"--session-pricing-concurrency", "-1"}, "sessions.Concurrency is -1: must be positive"},
		{[]string{"--session-pricing-concurrency", "17"}, "sessions.Concurrency is 17: must be at most 16"},
		{[]string{"--ocpp-rate", "0"}, "ocppj.Rate is 0: must be positive"},
		{[]string{"--ocpp-ping-interval", "0s"}, "ocppj.PingInterval is 0s: must be positive"},
		{[]string{"--ocpp-password-cache-ttl", "-1s"}, "ocppj.PasswordCacheTTL is -1s: must not be negative"},
		{[]string{"--rate-limit", "-1"}, "auth.RateLimit is -1: must not be negative"},
		{[]string{"--api-key-cache-size", "0"}, "auth.KeyCacheSize is 0: must be positive"},
		{[]string{"--auth-failure-window", "0s"}, "auth.FailureWindow is 0s: must be positive"},
		{[]string{"--rollup-invalidation-spec", ""}, "rollups.InvalidationSpec is empty"},
		{[]string{"--ingest-writers", "-9223372036854775808"}, "ingest.Writers is -9223372036854775808: must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "="), func(t *testing.T) {
			err := run(context.Background(), append([]string{"serve", "--database-url", "postgres://127.0.0.1:1/x"}, tt.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
			}
		})
	}
	// Every nonsense value is reported at once, not the first alone.
	err := run(context.Background(), []string{"serve", "--ingest-batch-rows", "0", "--query-max-points", "0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ingest.BatchRows") || !strings.Contains(err.Error(), "query.MaxPoints") {
		t.Fatalf("two bad settings: %v", err)
	}
}

// TestSessionMaxSkewSetting checks that session-max-skew reaches the
// sessions: a start five minutes ahead of the clock is refused under a
// one-minute skew (the default, ten minutes, would let it in).
func TestSessionMaxSkewSetting(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t, "--session-max-skew", "1m")
	e.charger("CB-SKEW")
	start := func(connector int, at time.Time) response {
		return e.ingester.do("POST", "/v1/ocpp/CB-SKEW/start-transaction",
			fmt.Sprintf(`{"connectorId":%d,"idTag":"04A1B2C3","meterStart":0,"timestamp":%q}`, connector, rfc(at)))
	}
	r := start(1, time.Now().Add(5*time.Minute))
	expect(t, "start 5m ahead", r, 400, "VALIDATION_ERROR")
	if !strings.Contains(fmt.Sprint(r.Body), "in the future") {
		t.Fatalf("start 5m ahead: %v", r.Body)
	}
	expect(t, "start 20s ahead", start(2, time.Now().Add(20*time.Second)), 200, "")
}
