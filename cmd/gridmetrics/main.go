// Command gridmetrics is the Gridmetrics service and its administration
// tool: serve, migrate, tenant, apikey and demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `gridmetrics — metrics backbone of an EV-charging and energy platform

Usage:
  gridmetrics serve                     run the HTTP API (migrates first)
  gridmetrics migrate                   bring the database schema up to date
  gridmetrics tenant create --name N    add a tenant
  gridmetrics tenant list
  gridmetrics apikey create --tenant T [--scopes S] [--name N]
  gridmetrics apikey list --tenant T
  gridmetrics apikey revoke --tenant T KEY
  gridmetrics rollup backfill --from T --to T   rebuild the rollup tiers over a range (resumable)
  gridmetrics tariff validate FILE      list every problem of an OCPI tariff (exit 1 if any)
  gridmetrics tariff price --cdr FILE [--tariff FILE] [--tz ZONE]   price an OCPI CDR; prints it with total_* computed
  gridmetrics demo [--env-file F]       prepare the demo tenant and key for make run

Every setting is an environment variable GRIDMETRICS_<NAME> and a flag
--<name>; run "gridmetrics <command> -h" for a command's settings.
`

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "gridmetrics:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "gridmetrics:", err)
		os.Exit(1)
	}
}

// run dispatches a command line; stdout gets results, stderr logs.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	switch {
	case cmd == "serve":
		return runServe(ctx, rest, stderr)
	case cmd == "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case cmd == "tenant" && sub == "create":
		return runTenantCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "tenant" && sub == "list":
		return runTenantList(ctx, rest[1:], stdout, stderr)
	case cmd == "apikey" && sub == "create":
		return runKeyCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "apikey" && sub == "list":
		return runKeyList(ctx, rest[1:], stdout, stderr)
	case cmd == "apikey" && sub == "revoke":
		return runKeyRevoke(ctx, rest[1:], stdout, stderr)
	case cmd == "rollup" && sub == "backfill":
		return runRollupBackfill(ctx, rest[1:], stdout, stderr)
	case cmd == "tariff" && sub == "validate":
		return runTariffValidate(rest[1:], stdout, stderr)
	case cmd == "tariff" && sub == "price":
		return runTariffPrice(rest[1:], stdout, stderr)
	case cmd == "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}

// parseFlags parses a command's flags; b holds the config bindings.
func parseFlags(name string, args []string, stderr io.Writer, bind func(*binder)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("gridmetrics "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := &binder{fs: fs}
	bind(b)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return fs, nil
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg Config
	if _, err := parseFlags("serve", args, stderr, func(b *binder) { cfg.bindDatabase(b); cfg.bindServer(b) }); err != nil {
		return err
	}
	if err := cfg.validateServer(); err != nil {
		return err
	}
	m := &Main{Config: cfg, Log: cfg.logger(stderr)}
	if err := m.Run(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		m.Log.Info("signal received")
	case <-m.Done():
	}
	return m.Close()
}
