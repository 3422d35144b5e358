package mqtttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	tenantA   = "tenant-a"
	tenantPw  = "secret-a"
	service   = "gridmetrics"
	servicePw = "secret-svc"
)

// twoUsers: tenant A may publish under its own tenant only; the service
// may read everything under the prefix.
var twoUsers = Options{Users: []User{
	{Name: tenantA, Password: tenantPw, Write: []string{"gridmetrics/ten_a/#"}},
	{Name: service, Password: servicePw, Read: []string{"gridmetrics/#"}},
}}

// subscriber is a mosquitto_sub that prints "topic payload" per message
// and exits after a number of messages or a timeout.
type subscriber struct {
	out  bytes.Buffer
	done chan error
}

// subscribe starts mosquitto_sub (MQTT v5) as user with client id id and
// returns once the broker has acknowledged the subscription: it then gets
// every message published afterwards. It exits after count messages or
// waitSeconds without one.
func subscribe(t *testing.T, b *Broker, user, password, id, filter string, count, waitSeconds int, extra ...string) *subscriber {
	t.Helper()
	args := append([]string{"-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(b.port),
		"-u", user, "-P", password, "-i", id, "-t", filter, "-F", "%t %p",
		"-C", strconv.Itoa(count), "-W", strconv.Itoa(waitSeconds)}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(waitSeconds+5)*time.Second)
	cmd := exec.CommandContext(ctx, "mosquitto_sub", args...)
	logged := len(b.Log())
	s := &subscriber{done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait(); cancel() }()
	t.Cleanup(func() { cancel(); <-s.done })
	waitForLog(t, b, logged, "Sending SUBACK to "+id)
	return s
}

// wait returns what the subscriber printed and how it exited.
func (s *subscriber) wait() (string, error) {
	err := <-s.done
	s.done <- err // for the cleanup
	return strings.TrimSpace(s.out.String()), err
}

// waitForLog waits until the broker logs line after the first from bytes
// of its log.
func waitForLog(t *testing.T, b *Broker, from int, line string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(b.Log()[from:], line) {
			return
		}
	}
	t.Fatalf("the broker never logged %q", line)
}

func TestACL(t *testing.T) {
	t.Parallel()
	b := Start(t, twoUsers)
	if !strings.HasPrefix(b.URL(), "mqtt://127.0.0.1:") {
		t.Fatalf("URL %q", b.URL())
	}
	sub := subscribe(t, b, service, servicePw, "svc-acl", "gridmetrics/#", 1, 5)

	// With MQTT v5 the broker answers a QoS 1 publish outside the ACL with
	// PUBACK "not authorized"; Publish reports it as an error.
	err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_b/meter-1/reading", []byte("foreign"), 1)
	if err == nil || !strings.Contains(err.Error(), "Not authorized") {
		t.Fatalf("publish under another tenant: err = %v, want not authorized", err)
	}
	// At QoS 0 there is no answer: the broker drops it silently.
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_b/meter-1/reading", []byte("foreign-q0"), 0); err != nil {
		t.Fatalf("QoS 0 publish under another tenant: %v", err)
	}
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", []byte("own"), 1); err != nil {
		t.Fatalf("publish under its own tenant: %v", err)
	}
	// The refused messages went first: had either arrived, it would be the
	// one message the subscriber waits for.
	out, err := sub.wait()
	if err != nil || out != "gridmetrics/ten_a/meter-1/reading own" {
		t.Fatalf("subscriber: %q, %v; want only the tenant's own message", out, err)
	}
	if !strings.Contains(b.Log(), "Denied PUBLISH") {
		t.Errorf("the broker log does not show the refusal")
	}
}

func TestWrongPasswordIsRefused(t *testing.T) {
	t.Parallel()
	b := Start(t, twoUsers)
	for _, c := range []struct{ user, password string }{
		{tenantA, "wrong"},
		{tenantA, ""},
		{"nobody", tenantPw},
		{"", ""}, // anonymous
	} {
		err := b.Publish(t, c.user, c.password, "gridmetrics/ten_a/meter-1/reading", []byte("x"), 1)
		if err == nil || !strings.Contains(err.Error(), "Not authorized") {
			t.Errorf("user %q password %q: err = %v, want not authorized", c.user, c.password, err)
		}
	}
}

// Mosquitto checks a shared subscription's messages against the ACL as a
// read of the topic: the service (read gridmetrics/#) gets them, tenant A
// (write only) gets nothing, though its SUBSCRIBE is acknowledged.
func TestSharedSubscriptionNeedsRead(t *testing.T) {
	t.Parallel()
	b := Start(t, twoUsers)
	svc := subscribe(t, b, service, servicePw, "svc-shared", "$share/ingest/gridmetrics/#", 1, 5, "-q", "1")
	tenant := subscribe(t, b, tenantA, tenantPw, "tenant-shared", "$share/peek/gridmetrics/ten_a/#", 1, 2, "-q", "1")
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", []byte("shared"), 1); err != nil {
		t.Fatal(err)
	}
	if out, err := svc.wait(); err != nil || out != "gridmetrics/ten_a/meter-1/reading shared" {
		t.Fatalf("service: %q, %v", out, err)
	}
	if out, err := tenant.wait(); err == nil || strings.Contains(out, "shared") {
		t.Fatalf("tenant without read access: %q, %v; want a timeout and no message", out, err)
	}
}

// A persistent session (clean start off, session expiry an hour) keeps its
// QoS 1 messages while the subscriber is away, across a clean broker
// restart.
func TestStopRestartKeepsQueuedMessages(t *testing.T) {
	t.Parallel()
	b := Start(t, twoUsers)
	url := b.URL()
	session := []string{"-c", "-q", "1", "-x", "3600"}
	// Subscribe, then leave at once (-E: exit once subscribed).
	away := subscribe(t, b, service, servicePw, "svc-persistent", "gridmetrics/#", 1, 5, append(session, "-E")...)
	if out, err := away.wait(); err != nil {
		t.Fatalf("first connection: %q, %v", out, err)
	}
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", []byte("queued"), 1); err != nil {
		t.Fatal(err)
	}
	b.Stop(t)
	b.Restart(t)
	if b.URL() != url {
		t.Fatalf("URL after restart %q, want %q", b.URL(), url)
	}
	back := subscribe(t, b, service, servicePw, "svc-persistent", "gridmetrics/#", 1, 5, session...)
	if out, err := back.wait(); err != nil || out != "gridmetrics/ten_a/meter-1/reading queued" {
		t.Fatalf("after restart: %q, %v; want the queued message", out, err)
	}
}

func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	b := Start(t, twoUsers)
	b.Kill(t)
	addr := strings.TrimPrefix(b.URL(), "mqtt://")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the killed broker still accepts connections")
	}
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", []byte("x"), 1); err == nil {
		t.Fatal("publish to a killed broker succeeded")
	}
	b.Kill(t) // a dead broker stays dead
	b.Restart(t)
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", []byte("x"), 1); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestMaxPacketSize(t *testing.T) {
	t.Parallel()
	opts := twoUsers
	opts.MaxPacketSize = 1024
	b := Start(t, opts)
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", bytes.Repeat([]byte("x"), 900), 1); err != nil {
		t.Fatalf("publish under the limit: %v", err)
	}
	err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", bytes.Repeat([]byte("x"), 2000), 1)
	if err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("publish over the limit: err = %v, want not sent", err)
	}
}

func TestBadUser(t *testing.T) {
	for _, u := range []User{
		{Name: ""},
		{Name: "a:b"},
		{Name: "a b"},
		{Name: "a", Password: "x\ny"},
		{Name: "a", Read: []string{""}},
		{Name: "a", Write: []string{"x\ntopic readwrite #"}},
	} {
		b := &Broker{dir: t.TempDir()}
		if err := b.writeAuth([]User{u}); err == nil {
			t.Errorf("user %+v accepted", u)
		}
	}
}

func TestACLFile(t *testing.T) {
	if _, err := exec.LookPath("mosquitto_passwd"); err != nil {
		missing(t, "mosquitto_passwd")
	}
	b := &Broker{dir: t.TempDir()}
	if err := b.writeAuth(twoUsers.Users); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("user %s\ntopic write gridmetrics/ten_a/#\n\nuser %s\ntopic read gridmetrics/#\n\n", tenantA, service)
	if got := readFile(t, b.dir+"/acl"); got != want {
		t.Fatalf("acl file:\n%s\nwant:\n%s", got, want)
	}
	passwd := readFile(t, b.dir+"/passwd")
	if strings.Contains(passwd, tenantPw) || !strings.HasPrefix(passwd, tenantA+":$") {
		t.Fatalf("password file is not hashed:\n%s", passwd)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Launch serves programs that are not tests: the broker lives in the
// folder it is given, works like one of Start, and Close stops it.
func TestLaunchAndClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := Launch(dir, twoUsers)
	if m := (*NotInstalledError)(nil); errors.As(err, &m) {
		missing(t, m.Program)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.signal(syscall.SIGKILL) })
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", b.PID())); b.PID() == 0 || err != nil {
		t.Errorf("PID %d is not a running process: %v", b.PID(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mosquitto.conf")); err != nil {
		t.Errorf("the configuration is not in the given folder: %v", err)
	}
	sub := subscribe(t, b, service, servicePw, "svc-launch", "gridmetrics/#", 1, 5)
	if err := b.Publish(t, tenantA, tenantPw, "gridmetrics/ten_a/meter-1/reading", []byte("launched"), 1); err != nil {
		t.Fatal(err)
	}
	if out, err := sub.wait(); err != nil || out != "gridmetrics/ten_a/meter-1/reading launched" {
		t.Fatalf("subscriber: %q, %v", out, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(b.URL(), "mqtt://")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("the broker still accepts connections on %s after Close", addr)
	}
	if err := b.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
