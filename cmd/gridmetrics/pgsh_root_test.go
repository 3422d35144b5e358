package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// As root, scripts/pg.sh must start a cluster whose folder sits under a
// folder only root may search (a checkout under /root): the cluster's files
// go where their unprivileged owner can reach them, and the folder stays
// closed.
func TestPgShAsRootUnderClosedFolder(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root hands the cluster to another user")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &scratchCluster{t: t, script: filepath.Join(root, "scripts", "pg.sh"), dir: filepath.Join(closed, "pg")}
	t.Cleanup(func() {
		c.pgsh("crash", "scratch", c.dir)
		if real, err := filepath.EvalSymlinks(c.dir); err == nil && real != c.dir {
			if err := os.RemoveAll(real); err != nil {
				t.Errorf("remove cluster: %v", err)
			}
		}
	})
	var url string
	for attempt := 0; ; attempt++ {
		c.port = freeLoopbackPort(t)
		out, err := c.pgsh("scratch", c.dir, strconv.Itoa(c.port))
		if err == nil {
			url = strings.TrimSpace(out)
			break
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			t.Skip("PostgreSQL is not installed")
		}
		if attempt == 2 {
			t.Fatalf("start cluster: %v", err)
		}
		os.RemoveAll(c.dir)
	}

	real, err := filepath.EvalSymlinks(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(real, closed+string(filepath.Separator)) {
		t.Errorf("cluster files in %s, inside the closed folder %s", real, closed)
	}
	if fi, err := os.Stat(closed); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("closed folder's mode changed to %v", fi.Mode().Perm())
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d %v", one, err)
	}
}
