// Package natstest runs a private NATS cluster with JetStream: nats-server
// processes on free loopback ports, their configuration and storage in a
// directory of the caller's, for the ingest log's tests, its fault drills
// and benchmarks.
//
// Without nats-server the tests that need it are skipped; when the
// environment variable CI is set they fail instead. scripts/nats.sh install
// (run by make test) installs it.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gridmetrics/gridmetrics/internal/localserver"
)

// startTimeout bounds how long the cluster may take to accept connections
// and elect its JetStream meta leader, and a node to stop.
const startTimeout = 20 * time.Second

// Cluster is a running set of nats-server nodes routed to each other.
type Cluster struct {
	dir   string
	bin   string
	nodes []*node
}

type node struct {
	name        string
	conf        string
	logPath     string
	port        int
	clusterPort int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// NotInstalledError is Launch's error when nats-server is missing.
type NotInstalledError struct{}

func (NotInstalledError) Error() string {
	return "nats-server is not installed (scripts/nats.sh install installs it)"
}

// Start starts a cluster of n nodes for the test; it is killed when the
// test ends, and when the test failed the tail of each node's log is
// printed.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c, err := Launch(t.TempDir(), n)
	if errors.As(err, &NotInstalledError{}) {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" {
			t.Fatal(err)
		}
		t.Skip("nats-server is not installed; make test installs it")
	}
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.nodes {
				t.Logf("natstest: tail of %s's log:\n%s", nd.name, tail(nd.logPath, 20))
			}
		}
		c.Close()
	})
	return c
}

// Launch starts a cluster of n nodes (1 to 5) in dir, for programs that
// are not tests (benchmarks); Close stops it. It returns once JetStream
// answers on every node.
func Launch(dir string, n int) (*Cluster, error) {
	if n < 1 || n > 5 {
		return nil, fmt.Errorf("a cluster of %d nodes: want 1 to 5", n)
	}
	bin := localserver.Binary("nats-server")
	if bin == "" {
		return nil, NotInstalledError{}
	}
	c := &Cluster{dir: dir, bin: bin}
	// Free ports are found by binding and releasing them: another process
	// may take one in between, so a cluster that cannot bind gets others.
	for attempt := 1; ; attempt++ {
		err := c.launch(n)
		if err == nil {
			return c, nil
		}
		c.Close()
		if attempt == 3 || !c.portTaken() {
			return nil, err
		}
	}
}

func (c *Cluster) launch(n int) error {
	c.nodes = nil
	for i := range n {
		nd := &node{name: fmt.Sprintf("n%d", i+1)}
		var err error
		if nd.port, err = localserver.FreePort(); err != nil {
			return err
		}
		if nd.clusterPort, err = localserver.FreePort(); err != nil {
			return err
		}
		nd.conf = filepath.Join(c.dir, nd.name+".conf")
		nd.logPath = filepath.Join(c.dir, nd.name+".log")
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		if err := c.writeConfig(nd); err != nil {
			return err
		}
		_ = os.Remove(nd.logPath)
		if err := c.start(nd); err != nil {
			return err
		}
	}
	return c.waitReady(startTimeout)
}

func (c *Cluster) writeConfig(nd *node) error {
	var routes []string
	for _, o := range c.nodes {
		if o != nd {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.clusterPort))
		}
	}
	clusterBlock := ""
	if len(c.nodes) > 1 {
		clusterBlock = fmt.Sprintf(`cluster {
  name: gridmetrics
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, nd.clusterPort, strings.Join(routes, ", "))
	}
	// Small stores: tests keep little data, and the machine is shared.
	conf := fmt.Sprintf(`# natstest node %s; rewritten on every launch.
server_name: %s
listen: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 2GB
}
%s`, nd.name, nd.name, nd.port, filepath.Join(c.dir, nd.name+"-store"), clusterBlock)
	return os.WriteFile(nd.conf, []byte(conf), 0o600)
}

// start starts (or starts again) one node with its configuration and
// store; it does not wait for it to accept connections.
func (c *Cluster) start(nd *node) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	cmd := exec.Command(c.bin, "-c", nd.conf, "-l", nd.logPath)
	// Killed with the process that started it, should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server %s: %w", nd.name, err)
	}
	nd.cmd, nd.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(nd.exited)
	return nil
}

// waitReady waits until every running node accepts connections and the
// cluster's JetStream answers an account query through each.
func (c *Cluster) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, nd := range c.nodes {
		if !nd.running() {
			continue
		}
		var last error
		for {
			if last = jetStreamAnswers(nd.url()); last == nil {
				break
			}
			select {
			case <-nd.exited:
				return fmt.Errorf("nats-server %s exited:\n%s", nd.name, tail(nd.logPath, 20))
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nats-server %s: JetStream not ready within %s: %v\n%s", nd.name, limit, last, tail(nd.logPath, 20))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Answering is not yet agreeing: until the meta leader knows every
	// node's JetStream, a stream of as many replicas as nodes has "no
	// suitable peers for placement". Place one, then remove it.
	var running []string
	for _, nd := range c.nodes {
		if nd.running() {
			running = append(running, nd.url())
		}
	}
	for {
		last := streamPlaced(strings.Join(running, ","), len(running))
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats cluster: no stream of %d replicas placed within %s: %v", len(running), limit, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamPlaced creates a small stream of the given replicas on disk, as the
// ingest log's and the tests' streams are, and deletes it again: a stream
// in memory could be placed while a file stream created just after still
// met "no suitable peers for placement".
func streamPlaced(urls string, replicas int) error {
	nc, js, err := connectOnce(urls)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	const name = "natstest_ready"
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"natstest.ready"},
		Replicas: replicas, Storage: jetstream.FileStorage, MaxBytes: 1 << 20}); err != nil {
		return err
	}
	return js.DeleteStream(ctx, name)
}

func jetStreamAnswers(url string) error {
	nc, js, err := connectOnce(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// connectOnce connects to JetStream at urls without reconnecting, for a
// single check.
func connectOnce(urls string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(urls, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// URLs are the nodes' client URLs, comma-separated, as the ingest log's
// setting takes them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = nd.url()
	}
	return strings.Join(urls, ",")
}

// URL is node i's client URL.
func (c *Cluster) URL(i int) string { return c.nodes[i].url() }

// Index is the index of the node whose server_name is name (as JetStream
// names a stream's leader), or -1.
func (c *Cluster) Index(name string) int {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

// Kill stops node i with SIGKILL, as a crashed machine would.
func (c *Cluster) Kill(i int) error {
	nd := c.nodes[i]
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
		return nil
	case <-time.After(startTimeout):
		return fmt.Errorf("nats-server %s did not exit after SIGKILL", nd.name)
	}
}

// Restart starts node i again, with its store, and waits until JetStream
// answers through it.
func (c *Cluster) Restart(i int) error {
	nd := c.nodes[i]
	if nd.running() {
		return fmt.Errorf("nats-server %s is running", nd.name)
	}
	if err := c.start(nd); err != nil {
		return err
	}
	return c.waitReady(startTimeout)
}

// Close kills every node. The directory is the caller's to remove.
func (c *Cluster) Close() {
	for i := range c.nodes {
		_ = c.Kill(i)
	}
}

func (nd *node) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", nd.port) }

func (nd *node) running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

func (c *Cluster) portTaken() bool {
	for _, nd := range c.nodes {
		if strings.Contains(tail(nd.logPath, 50), "address already in use") {
			return true
		}
	}
	return false
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}
