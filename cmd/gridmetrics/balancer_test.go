//go:build linux

package main

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/internal/localserver"
)

// balancer is a private HAProxy in front of the service replicas: round
// robin over them, each checked on /readyz, on free loopback ports. It is
// the load balancer of docs/replicas.md, configured as there.
type balancer struct {
	t      *testing.T
	base   string // http://127.0.0.1:port
	stats  string // the statistics page, CSV
	cmd    *exec.Cmd
	logs   *logTail
	exited chan struct{}
}

// balancerConfig is HAProxy's configuration: the frontend on port, a
// statistics page on statsPort, and one server per backend address
// ("host:port"), named r1, r2, …
//
// HTTP and the chargers' WebSocket both go through mode http: after the
// upgrade, timeout tunnel bounds an idle WebSocket instead of timeout
// client/server, so it must exceed the chargers' heartbeat interval. The
// health check marks a replica down after two failed checks a quarter of
// a second apart (a killed one's fail at once: its connection is refused;
// a busy one's /readyz has a second to answer, not the quarter of a second
// HAProxy would allow without timeout check, or under load the live
// replicas went down together and HAProxy answered 503 with none left),
// and a request whose connection to a replica is refused
// is sent to another (retries, redispatch). option forwardfor appends
// the client's address to X-Forwarded-For, which the replicas read since
// they trust the balancer's address (trusted-proxies).
func balancerConfig(port, statsPort int, backends []string) string {
	var servers strings.Builder
	for i, addr := range backends {
		fmt.Fprintf(&servers, "    server r%d %s\n", i+1, addr)
	}
	return fmt.Sprintf(`global
    maxconn 4096

defaults
    mode http
    option forwardfor
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout tunnel 1h
    timeout check 1s

frontend gridmetrics
    bind 127.0.0.1:%d
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 250ms fall 2 rise 1
%s
listen stats
    bind 127.0.0.1:%d
    stats enable
    stats uri /stats
`, port, servers.String(), statsPort)
}

// startBalancer starts HAProxy in front of backends and waits until it
// accepts connections and sees every backend up. It is stopped when the
// test ends, and killed with the test binary (Pdeathsig). Without HAProxy
// the test is skipped, or fails when CI is set: make test installs it
// (scripts/haproxy.sh).
func startBalancer(t *testing.T, backends []string) *balancer {
	t.Helper()
	bin := localserver.Binary("haproxy")
	if bin == "" {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" {
			t.Fatal("haproxy is not installed (scripts/haproxy.sh install installs it)")
		}
		t.Skip("haproxy is not installed; make test installs it (scripts/haproxy.sh)")
	}
	dir := t.TempDir()
	// The ports are found by binding and releasing them: another process
	// may take one in between, so a balancer that cannot bind gets others.
	for attempt := 1; ; attempt++ {
		port, statsPort := freeLoopbackPort(t), freeLoopbackPort(t)
		conf := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(conf, []byte(balancerConfig(port, statsPort, backends)), 0o644); err != nil {
			t.Fatal(err)
		}
		b := &balancer{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port),
			stats: fmt.Sprintf("http://127.0.0.1:%d/stats;csv", statsPort), logs: newLogTail(), exited: make(chan struct{})}
		// -db: in the foreground, logging to stderr.
		b.cmd = exec.Command(bin, "-db", "-f", conf)
		b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := b.cmd.Start(); err != nil {
			t.Fatalf("start haproxy: %v", err)
		}
		go func() {
			_ = b.cmd.Wait()
			close(b.exited)
		}()
		if b.waitUp(len(backends), 15*time.Second) {
			t.Cleanup(b.stop)
			return b
		}
		b.stop()
		if attempt == 3 || !strings.Contains(b.logs.String(), "cannot bind") {
			t.Fatalf("haproxy did not come up with every backend ready within 15s; its log:\n%s", b.logs)
		}
	}
}

// waitUp waits until the frontend answers and n servers are up.
func (b *balancer) waitUp(n int, limit time.Duration) bool {
	return waitFor(limit, func() bool {
		select {
		case <-b.exited:
			return true // waitUp's caller sees the state below
		default:
		}
		up := 0
		for _, s := range b.serverStates() {
			if s == "UP" {
				up++
			}
		}
		return up == n
	}) && !b.hasExited()
}

func (b *balancer) hasExited() bool {
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

// serverStates reads each server's state (UP, DOWN, …; "UP 1/2" while a
// check is pending) from the statistics page, by name; nil when the page
// does not answer.
func (b *balancer) serverStates() map[string]string {
	hc := &http.Client{Timeout: 2 * time.Second}
	res, err := hc.Get(b.stats)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	rows, err := csv.NewReader(res.Body).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil
	}
	// The header is "# pxname,svname,…,status,…".
	head := rows[0]
	head[0] = strings.TrimPrefix(head[0], "# ")
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	out := map[string]string{}
	for _, r := range rows[1:] {
		if len(r) <= col["status"] || r[col["pxname"]] != "replicas" {
			continue
		}
		if name := r[col["svname"]]; name != "BACKEND" {
			out[name] = r[col["status"]]
		}
	}
	return out
}

// stop ends HAProxy: SIGTERM, then SIGKILL after 5s.
func (b *balancer) stop() {
	if b.hasExited() {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return
	case <-time.After(5 * time.Second):
	}
	_ = b.cmd.Process.Kill()
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		b.t.Errorf("haproxy %d not reaped 5s after SIGKILL", b.cmd.Process.Pid)
	}
}
