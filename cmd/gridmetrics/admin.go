package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/schema"
)

// adminCommand parses a command's flags (the database settings plus its
// own), opens the pool and migrates, so every command works on a fresh
// database too.
func adminCommand(ctx context.Context, name string, args []string, stderr io.Writer, own func(*flag.FlagSet)) (*pgxpool.Pool, *flag.FlagSet, error) {
	var cfg Config
	fs, err := parseFlags(name, args, stderr, func(b *binder) {
		cfg.bindDatabase(b)
		if own != nil {
			own(b.fs)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := schema.Migrate(ctx, pool, cfg.schemaOptions()); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, fs, nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	if _, err := parseFlags("migrate", args, stderr, cfg.bindDatabase); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := schema.Migrate(ctx, pool, cfg.schemaOptions())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema at version %d on %s\n", res.Version, res.Backend)
	return nil
}

func runTenantCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name string
	var autoRegister bool
	pool, _, err := adminCommand(ctx, "tenant create", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "tenant name (required)")
		fs.BoolVar(&autoRegister, "auto-register", false, "register unknown sources as meters when readings name them")
	})
	if err != nil {
		return err
	}
	defer pool.Close()
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	t, err := auth.NewStore(pool).CreateTenant(ctx, name, autoRegister)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant %s created: %s\n", t.Name, t.PublicID)
	return nil
}

func runTenantList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	pool, _, err := adminCommand(ctx, "tenant list", args, stderr, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	tenants, err := auth.NewStore(pool).ListTenants(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tCREATED")
	for _, t := range tenants {
		fmt.Fprintf(w, "%s\t%s\t%s\n", t.PublicID, t.Name, t.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return w.Flush()
}

// tenantFlag adds --tenant, which names a tenant by id or name.
func tenantFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "tenant", "", "tenant id (ten_…) or name (required)")
}

func findTenant(ctx context.Context, st *auth.Store, ref string) (auth.Tenant, error) {
	if ref == "" {
		return auth.Tenant{}, fmt.Errorf("%w: --tenant is required", errUsage)
	}
	t, err := st.TenantByRef(ctx, ref)
	if errors.Is(err, auth.ErrNotFound) {
		return t, fmt.Errorf("no tenant %q", ref)
	}
	return t, err
}

func runKeyCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var tenant, name, scopeList string
	pool, _, err := adminCommand(ctx, "apikey create", args, stderr, func(fs *flag.FlagSet) {
		tenantFlag(fs, &tenant)
		fs.StringVar(&name, "name", "", "a name to recognise the key by")
		fs.StringVar(&scopeList, "scopes", "read", "comma-separated scopes: ingest, read, billing, admin")
	})
	if err != nil {
		return err
	}
	defer pool.Close()
	scopes, err := auth.ParseScopes(scopeList)
	if err != nil {
		return fmt.Errorf("%w: --scopes: %v", errUsage, err)
	}
	st := auth.NewStore(pool)
	t, err := findTenant(ctx, st, tenant)
	if err != nil {
		return err
	}
	k, key, err := st.CreateAPIKey(ctx, t.ID, name, scopes)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "API key %s for tenant %s with scopes %s; it is shown only now:\n", k.PublicID, t.PublicID, auth.JoinScopes(scopes))
	fmt.Fprintln(stdout, key)
	return nil
}

func runKeyList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var tenant string
	pool, _, err := adminCommand(ctx, "apikey list", args, stderr, func(fs *flag.FlagSet) { tenantFlag(fs, &tenant) })
	if err != nil {
		return err
	}
	defer pool.Close()
	st := auth.NewStore(pool)
	t, err := findTenant(ctx, st, tenant)
	if err != nil {
		return err
	}
	keys, err := st.ListAPIKeys(ctx, t.ID)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(w, "%s\tgm_%s\t%s\t%s\t%s\t%s\n", k.PublicID, k.Prefix, k.Name, auth.JoinScopes(k.Scopes),
			k.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), revoked)
	}
	return w.Flush()
}

func runKeyRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var tenant string
	pool, fs, err := adminCommand(ctx, "apikey revoke", args, stderr, func(fs *flag.FlagSet) { tenantFlag(fs, &tenant) })
	if err != nil {
		return err
	}
	defer pool.Close()
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: apikey revoke needs one key id (key_…) or prefix", errUsage)
	}
	st := auth.NewStore(pool)
	t, err := findTenant(ctx, st, tenant)
	if err != nil {
		return err
	}
	ref := strings.TrimPrefix(fs.Arg(0), "gm_")
	if err := st.RevokeAPIKey(ctx, t.ID, ref); errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("tenant %s has no key %q", t.PublicID, fs.Arg(0))
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s\n", fs.Arg(0))
	return nil
}

// demoTenant is the tenant `make run` prepares.
const demoTenant = "demo"

// runDemo makes sure the demo tenant exists with an API key holding every
// scope, and writes GRIDMETRICS_API_KEY, GRIDMETRICS_URL and
// GRIDMETRICS_TENANT_ID to the env file, and prints the OCPP-J URL of its
// chargers.
// A key already in the file is kept while it still works.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var envFile, url string
	pool, _, err := adminCommand(ctx, "demo", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&envFile, "env-file", ".data/demo.env", "file to write GRIDMETRICS_API_KEY, GRIDMETRICS_URL and GRIDMETRICS_TENANT_ID to")
		fs.StringVar(&url, "url", "http://127.0.0.1:8080", "URL the service will be reached at")
	})
	if err != nil {
		return err
	}
	defer pool.Close()
	st := auth.NewStore(pool)
	t, err := st.TenantByRef(ctx, demoTenant)
	if errors.Is(err, auth.ErrNotFound) {
		t, err = st.CreateTenant(ctx, demoTenant, false)
	}
	if err != nil {
		return err
	}
	loaded, err := loadDemo(ctx, pool, t.ID, time.Now(), slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return fmt.Errorf("load demo data: %w", err)
	}
	if loaded != nil {
		fmt.Fprint(stdout, demoSummary(loaded))
	}
	key := readEnvValue(envFile, "GRIDMETRICS_API_KEY")
	if key != "" {
		authn, err := auth.NewAuthenticator(ctx, st, auth.Config{})
		if err != nil {
			return err
		}
		if p, err := authn.Authenticate(ctx, "Bearer "+key); err != nil || p.TenantID != t.ID || len(p.Scopes) != len(auth.AllScopes) {
			key = ""
		}
	}
	if key == "" {
		if _, key, err = st.CreateAPIKey(ctx, t.ID, "demo", auth.AllScopes); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(envFile), 0o755); err != nil {
		return err
	}
	content := fmt.Sprintf("GRIDMETRICS_API_KEY=%s\nGRIDMETRICS_URL=%s\nGRIDMETRICS_TENANT_ID=%s\n", key, url, t.PublicID)
	if err := os.WriteFile(envFile, []byte(content), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Demo tenant %s (%s). API key with every scope:\n\n  %s\n\nSaved with the URL in %s; try:\n\n  . %s && curl -H \"Authorization: Bearer $GRIDMETRICS_API_KEY\" $GRIDMETRICS_URL/v1/sources\n\n",
		t.Name, t.PublicID, key, envFile, envFile)
	// A charger connects over OCPP-J to the same address, ws:// for http://.
	wsURL := "ws" + strings.TrimPrefix(url, "http")
	fmt.Fprintf(stdout, "Chargers connect over OCPP-J (ocpp1.6 or ocpp2.0.1) to\n\n  %s/ocpp/%s/<charge box id>\n\n"+
		"with HTTP Basic: the charge box id and its password, set with\n\n"+
		"  curl -X PUT -H \"Authorization: Bearer $GRIDMETRICS_API_KEY\" -H 'Content-Type: application/json' $GRIDMETRICS_URL/v1/sources/CB-0001/ocpp-password -d '{\"password\":\"<16 to 40 characters>\"}'\n\n",
		wsURL, t.PublicID)
	return nil
}

// readEnvValue returns NAME's value from a KEY=VALUE file, or "".
func readEnvValue(path, name string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"="); ok {
			return v
		}
	}
	return ""
}
