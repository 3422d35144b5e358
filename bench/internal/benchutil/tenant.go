package benchutil

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// FreshDatabase creates an empty database for one run of benchmark bench
// on the server of serverURL and returns its URL; drop removes it, unless
// keep (to look at it afterwards). The service migrates it when it starts.
func FreshDatabase(ctx context.Context, serverURL, bench string, keep bool) (dbURL string, drop func(), err error) {
	name := fmt.Sprintf("bench_%s_%s_%d", bench, time.Now().Format("20060102_150405"), os.Getpid())
	if err := AdminExec(ctx, serverURL, "CREATE DATABASE "+name); err != nil {
		return "", func() {}, fmt.Errorf("create database %s: %w", name, err)
	}
	drop = func() {
		if keep {
			return
		}
		if err := AdminExec(context.Background(), serverURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "bench-%s: drop %s: %v\n", bench, name, err)
		}
	}
	return WithDatabase(serverURL, name), drop, nil
}

// Tenant creates a tenant that registers sources on first sight, and an
// API key of it with scopes (comma-separated), through the built binary's
// command line, as an operator would.
func Tenant(ctx context.Context, bin, dbURL, scopes string) (tenant, key string, err error) {
	out, err := CLI(ctx, bin, "tenant", "create", "--name", "bench", "--auto-register", "--database-url", dbURL)
	if err != nil {
		return "", "", err
	}
	i := strings.LastIndex(out, "ten_")
	if i < 0 {
		return "", "", fmt.Errorf("tenant create printed no tenant id: %q", out)
	}
	tenant = strings.TrimSpace(out[i:])
	key, err = CLI(ctx, bin, "apikey", "create", "--tenant", tenant, "--scopes", scopes, "--database-url", dbURL)
	return tenant, strings.TrimSpace(key), err
}
