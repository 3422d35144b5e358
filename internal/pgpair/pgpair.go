// Package pgpair starts a private PostgreSQL primary and a hot standby
// streaming from it, each on a free loopback port, for the tests and
// benchmarks of reads from a standby. Both are throwaway clusters made by
// scripts/pg.sh (profiles scratch and standby): the standby is a
// pg_basebackup -R copy of the primary. A Pair may be stopped, paused and
// crashed at will; it is never the shared test cluster.
package pgpair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/internal/localserver"
)

// ErrNoPostgres is returned by Start when PostgreSQL's binaries are not
// installed (scripts/pg.sh installs them for the test cluster).
var ErrNoPostgres = errors.New("PostgreSQL's binaries are not installed")

// Server is one cluster of a pair.
type Server struct {
	Dir  string
	Port int
	// URL is the connection URL of its database gridmetrics.
	URL string
}

// Database returns the URL of another database of the server.
func (s Server) Database(name string) string {
	return strings.Replace(s.URL, "/gridmetrics?", "/"+name+"?", 1)
}

// Pair is a primary and its streaming standby.
type Pair struct {
	Primary, Standby Server
	script           string
	dir              string
}

// Bounds of the harness's waits.
const (
	scriptTimeout  = 90 * time.Second // one pg.sh run: initdb, a base backup, a start
	streamTimeout  = 30 * time.Second // until the standby streams, or replays
	startAttempts  = 3                // free ports are chosen here; another process may take one first
	pollInterval   = 20 * time.Millisecond
	connectTimeout = 5 * time.Second
)

// Start creates a primary in .data/scratch/NAME-PID/primary of the
// repository, copies it into …/standby, starts both and returns once the
// standby streams. Close stops both and removes them.
func Start(ctx context.Context, name string) (*Pair, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	p := &Pair{script: filepath.Join(root, "scripts", "pg.sh"),
		dir: filepath.Join(root, ".data", "scratch", fmt.Sprintf("%s-%d", name, os.Getpid()))}
	if err := os.RemoveAll(p.dir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	if p.Primary, err = p.start(ctx, "scratch", filepath.Join(p.dir, "primary")); err != nil {
		return nil, fmt.Errorf("start the primary: %w", err)
	}
	if p.Standby, err = p.start(ctx, "standby", filepath.Join(p.dir, "standby"), strconv.Itoa(p.Primary.Port)); err != nil {
		return nil, fmt.Errorf("start the standby: %w", err)
	}
	if err := p.waitStreaming(ctx); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// StartForTest starts a pair for a test (or a test's subtests, which
// share it), skipping the test when PostgreSQL is not installed, and
// closes it when the test ends.
func StartForTest(t testing.TB) *Pair {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	p, err := Start(context.Background(), name)
	if errors.Is(err, ErrNoPostgres) {
		t.Skip("needs PostgreSQL's binaries for a primary and standby of its own")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func (p *Pair) start(ctx context.Context, profile, dir string, extra ...string) (Server, error) {
	for attempt := 1; ; attempt++ {
		port, err := localserver.FreePort()
		if err != nil {
			return Server{}, err
		}
		out, err := p.pgsh(ctx, append([]string{profile, dir, strconv.Itoa(port)}, extra...)...)
		var exit *exec.ExitError
		switch {
		case err == nil:
			return Server{Dir: dir, Port: port, URL: strings.TrimSpace(out)}, nil
		case errors.As(err, &exit) && exit.ExitCode() == 3:
			return Server{}, ErrNoPostgres
		case attempt == startAttempts || ctx.Err() != nil:
			return Server{}, err
		}
		// A port is fixed when the cluster is created: start afresh.
		if _, err := p.pgsh(ctx, "crash", profile, dir); err != nil {
			return Server{}, err
		}
		if err := removeCluster(dir); err != nil {
			return Server{}, err
		}
	}
}

func (p *Pair) pgsh(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.script, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pg.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// waitStreaming waits until the standby's WAL receiver streams.
func (p *Pair) waitStreaming(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	var status string
	err := poll(ctx, func() (bool, error) {
		err := p.queryRow(ctx, p.Standby.URL, `SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')`, &status)
		return err == nil && status == "streaming", nil
	})
	if err != nil {
		return fmt.Errorf("the standby does not stream (receiver %q): %w", status, err)
	}
	return nil
}

// WaitReplayed waits until the standby has replayed everything the
// primary had written when it was called.
func (p *Pair) WaitReplayed(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	var target string
	if err := p.queryRow(ctx, p.Primary.URL, `SELECT pg_current_wal_lsn()::text`, &target); err != nil {
		return fmt.Errorf("read the primary's WAL position: %w", err)
	}
	err := poll(ctx, func() (bool, error) {
		var done bool
		err := p.queryRow(ctx, p.Standby.URL, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, &done, target)
		return err == nil && done, nil
	})
	if err != nil {
		return fmt.Errorf("the standby has not replayed up to %s: %w", target, err)
	}
	return nil
}

// CreateDatabase creates a database on the primary, from template if that
// is not empty, and waits until the standby has it.
func (p *Pair) CreateDatabase(ctx context.Context, name, template string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if err := p.exec(ctx, p.Primary.URL, sql); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return p.WaitReplayed(ctx)
}

// PauseReplay stops the standby applying WAL (it keeps receiving it):
// reads there see the data as of the pause until ResumeReplay.
func (p *Pair) PauseReplay(ctx context.Context) error {
	return p.exec(ctx, p.Standby.URL, `SELECT pg_wal_replay_pause()`)
}

// ResumeReplay undoes PauseReplay.
func (p *Pair) ResumeReplay(ctx context.Context) error {
	return p.exec(ctx, p.Standby.URL, `SELECT pg_wal_replay_resume()`)
}

// CrashStandby stops the standby at once, as a power cut would.
func (p *Pair) CrashStandby(ctx context.Context) error {
	_, err := p.pgsh(ctx, "crash", "standby", p.Standby.Dir)
	return err
}

// StartStandby starts the standby again on its port and waits until it
// streams.
func (p *Pair) StartStandby(ctx context.Context) error {
	if _, err := p.pgsh(ctx, "standby", p.Standby.Dir, strconv.Itoa(p.Standby.Port), strconv.Itoa(p.Primary.Port)); err != nil {
		return err
	}
	return p.waitStreaming(ctx)
}

// Close stops both clusters at once (they are throwaway) and removes them.
func (p *Pair) Close() error {
	ctx := context.Background()
	var errs []error
	for _, c := range []struct{ profile, dir string }{{"standby", filepath.Join(p.dir, "standby")}, {"scratch", filepath.Join(p.dir, "primary")}} {
		if _, err := p.pgsh(ctx, "crash", c.profile, c.dir); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, removeCluster(c.dir))
	}
	errs = append(errs, os.RemoveAll(p.dir))
	return errors.Join(errs...)
}

// removeCluster removes a cluster's folder and, as root, the folder
// elsewhere it may be a link to (scripts/pg.sh relocate).
func removeCluster(dir string) error {
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		if err := os.RemoveAll(real); err != nil {
			return err
		}
	}
	return os.RemoveAll(dir)
}

func (p *Pair) exec(ctx context.Context, url, sql string, args ...any) error {
	conn, err := connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func (p *Pair) queryRow(ctx context.Context, url, sql string, dest any, args ...any) error {
	conn, err := connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql, args...).Scan(dest)
}

func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = connectTimeout
	return pgx.ConnectConfig(ctx, cfg)
}

// poll calls done until it reports true, it fails, or ctx ends.
func poll(ctx context.Context, done func() (bool, error)) error {
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// repoRoot is the nearest folder above the working directory holding
// scripts/pg.sh: a package's folder when testing, the root for go run.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "pg.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/pg.sh not found above the working directory")
		}
		dir = parent
	}
}
