// Package benchutil holds what the benchmark programs under bench/ share:
// finding the repository and the test cluster, creating databases,
// building and running the real server, running its command line, reading
// CPU times from /proc, and latency percentiles.
package benchutil

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RepoRoot is the folder holding go.mod, found from the working directory
// upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository: go.mod not found")
		}
		dir = parent
	}
}

// TestClusterURL starts (or reuses) the private test cluster with
// scripts/pg.sh test and returns its URL.
func TestClusterURL(ctx context.Context, root string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(root, "scripts", "pg.sh"), "test").Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pg.sh test: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// OpenPool opens a pool of at most conns connections.
func OpenPool(ctx context.Context, dbURL string, conns int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(conns)
	return pgxpool.NewWithConfig(ctx, pc)
}

// AdminExec runs a statement on the server's postgres database (CREATE
// DATABASE and the like).
func AdminExec(ctx context.Context, serverURL, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, WithDatabase(serverURL, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// WithDatabase returns the URL with its database replaced by name.
func WithDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + name
	return u.String()
}

// CLI runs a command of the built binary and returns its stdout; a
// failure carries its stderr.
func CLI(ctx context.Context, bin string, args ...string) (string, error) {
	var out, errOut strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gridmetrics %s: %w\n%s", strings.Join(args[:min(2, len(args))], " "), err, errOut.String())
	}
	return out.String(), nil
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 1) of sorted
// durations; 0 when there are none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Ms is a duration in milliseconds, to the microsecond.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Setup is what every benchmark starts from: the repository root, the
// database server to use, and a freshly built server binary.
type Setup struct {
	Root        string
	DatabaseURL string
	Binary      string
	// Dir is a temporary folder for the binary and logs; cleanup removes it.
	Dir string
}

// Prepare finds the repository, uses databaseURL or else the private test
// cluster, creates profileDir when set, and builds the server (with the
// profiling hook when profileDir is set) into a temporary folder that
// cleanup removes.
func Prepare(ctx context.Context, name, databaseURL, profileDir string) (s Setup, cleanup func(), err error) {
	cleanup = func() {}
	if s.Root, err = RepoRoot(); err != nil {
		return s, cleanup, err
	}
	s.DatabaseURL = databaseURL
	if s.DatabaseURL == "" {
		if s.DatabaseURL, err = TestClusterURL(ctx, s.Root); err != nil {
			return s, cleanup, err
		}
	}
	if s.Dir, err = os.MkdirTemp("", "bench-"+name+"-"); err != nil {
		return s, cleanup, err
	}
	cleanup = func() { os.RemoveAll(s.Dir) }
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			return s, cleanup, err
		}
	}
	s.Binary, err = BuildServer(ctx, s.Root, s.Dir, profileDir != "")
	return s, cleanup, err
}

// Median is the middle of xs (the mean of the two middle values for an
// even count), 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Sorted(slices.Values(xs))
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}
