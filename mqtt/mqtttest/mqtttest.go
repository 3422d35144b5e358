// Package mqtttest gives a test its own mosquitto broker: a private process
// on a free loopback port, in the test's temporary directory, with password
// authentication and an access control list. Anonymous access is off.
//
// The broker keeps its sessions and queued messages across Stop and Restart
// (persistence is on), so tests can take it down and bring it back.
//
// Without mosquitto the tests that need it are skipped; when the
// environment variable CI is set they fail instead: in CI a missing broker
// is an error, never a silent skip. scripts/mosquitto.sh install (run by
// make test) installs it.
package mqtttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/internal/localserver"
)

// User is an account on the broker and its access rules. Read and Write are
// topic filters in mosquitto's ACL syntax ('+' for one level, '#' for the
// rest). A shared subscription ($share/GROUP/FILTER) needs read access to
// FILTER.
type User struct {
	Name, Password string
	Read, Write    []string
}

// Options configure a broker.
type Options struct {
	Users []User
	// MaxPacketSize is the largest MQTT packet the broker accepts, in bytes;
	// a client sending a larger one is disconnected. 0: the broker's default
	// (no limit beyond the protocol's).
	MaxPacketSize int
	// TLS adds a second listener that speaks MQTT over TLS with this
	// certificate and key (PEM files); TLSURL names it.
	TLS *TLSFiles
}

// TLSFiles are the PEM files of a TLS listener.
type TLSFiles struct{ CertFile, KeyFile string }

// startTimeout bounds how long a broker may take to accept connections,
// and how long it may take to exit after SIGTERM.
const startTimeout = 10 * time.Second

// maxQueued is the per-session queue of QoS 1 and 2 messages for offline
// clients: large, so a stopped subscriber loses nothing in a test. (The
// default, 1000, drops the rest; 0 means "no maximum" but is mishandled by
// some 2.0 releases.)
const maxQueued = 1000000

// Broker is a running (or stopped) private mosquitto.
type Broker struct {
	dir     string
	conf    string
	logPath string
	port    int
	tlsPort int // 0: no TLS listener
	bin     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
}

// Start starts a broker for the test; it is killed when the test ends,
// and when the test failed the tail of its log is printed.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	b, err := Launch(t.TempDir(), opts)
	if m := (*NotInstalledError)(nil); errors.As(err, &m) {
		missing(t, m.Program)
	}
	if err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mqtttest: tail of the broker log:\n%s", tail(b.Log(), 40))
		}
		b.signal(syscall.SIGKILL)
	})
	return b
}

// NotInstalledError is Launch's error when a program the broker needs
// (mosquitto, mosquitto_passwd, mosquitto_pub) is not installed.
type NotInstalledError struct{ Program string }

func (e *NotInstalledError) Error() string {
	return e.Program + " is not installed (scripts/mosquitto.sh install installs it)"
}

// Launch starts a broker in dir, which it keeps its configuration, log
// and persistence in, for programs that are not tests (the benchmark);
// Close stops it. Start is Launch for a test.
func Launch(dir string, opts Options) (*Broker, error) {
	bin := localserver.Binary("mosquitto")
	if bin == "" {
		return nil, &NotInstalledError{Program: "mosquitto"}
	}
	for _, tool := range []string{"mosquitto_passwd", "mosquitto_pub"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, &NotInstalledError{Program: tool}
		}
	}
	b := &Broker{dir: dir, bin: bin}
	b.logPath = filepath.Join(b.dir, "mosquitto.log")
	if err := b.writeAuth(opts.Users); err != nil {
		return nil, err
	}
	// The free port is found by binding and releasing it: another process
	// may take it in between, so a broker that cannot bind gets another.
	for attempt := 1; ; attempt++ {
		port, err := localserver.FreePort()
		if err != nil {
			return nil, err
		}
		b.port = port
		if opts.TLS != nil {
			if b.tlsPort, err = localserver.FreePort(); err != nil {
				return nil, err
			}
		}
		if err := b.writeConfig(opts); err != nil {
			return nil, err
		}
		err = b.start()
		if err == nil {
			return b, nil
		}
		if attempt == 3 || !strings.Contains(b.Log(), "Address already in use") {
			return nil, fmt.Errorf("%v\n%s", err, tail(b.Log(), 20))
		}
	}
}

// missing skips the test, or fails it in CI.
func missing(t testing.TB, what string) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "false" {
		t.Fatalf("%s is not installed (scripts/mosquitto.sh install installs it)", what)
	}
	t.Skip("mosquitto is not installed; make test installs it")
}

// writeAuth writes the password file (hashed by mosquitto_passwd) and the
// ACL file: one "user" block per user.
func (b *Broker) writeAuth(users []User) error {
	passwd := filepath.Join(b.dir, "passwd")
	if err := os.WriteFile(passwd, nil, 0o600); err != nil {
		return err
	}
	var acl strings.Builder
	for _, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, ": \t\r\n") {
			return fmt.Errorf("user name %q: want a non-empty name without ':' or white space", u.Name)
		}
		if strings.ContainsAny(u.Password, "\r\n") {
			return fmt.Errorf("user %s: password with a line break", u.Name)
		}
		cmd := exec.Command("mosquitto_passwd", "-b", passwd, u.Name, u.Password)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("mosquitto_passwd %s: %v: %s", u.Name, err, bytes.TrimSpace(out))
		}
		fmt.Fprintf(&acl, "user %s\n", u.Name)
		for _, rule := range []struct {
			access  string
			filters []string
		}{{"read", u.Read}, {"write", u.Write}} {
			for _, f := range rule.filters {
				if f == "" || strings.ContainsAny(f, "\r\n") {
					return fmt.Errorf("user %s: bad topic filter %q", u.Name, f)
				}
				fmt.Fprintf(&acl, "topic %s %s\n", rule.access, f)
			}
		}
		acl.WriteString("\n")
	}
	return os.WriteFile(filepath.Join(b.dir, "acl"), []byte(acl.String()), 0o600)
}

func (b *Broker) writeConfig(opts Options) error {
	var c strings.Builder
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	c.WriteString("allow_anonymous false\n")
	fmt.Fprintf(&c, "password_file %s\n", filepath.Join(b.dir, "passwd"))
	fmt.Fprintf(&c, "acl_file %s\n", filepath.Join(b.dir, "acl"))
	c.WriteString("persistence true\n")
	fmt.Fprintf(&c, "persistence_location %s/\n", b.dir)
	fmt.Fprintf(&c, "log_dest file %s\n", b.logPath)
	c.WriteString("log_type all\n")
	c.WriteString("connection_messages true\n")
	c.WriteString("log_timestamp_format %H:%M:%S\n")
	fmt.Fprintf(&c, "max_queued_messages %d\n", maxQueued)
	if opts.MaxPacketSize > 0 {
		fmt.Fprintf(&c, "max_packet_size %d\n", opts.MaxPacketSize)
	}
	// As root, mosquitto switches to the account "mosquitto", which cannot
	// enter the test's private temporary directory: it stays who started
	// it. For other users the option has no effect.
	if u, err := user.Current(); err == nil {
		fmt.Fprintf(&c, "user %s\n", u.Username)
	} else if os.Getuid() == 0 {
		c.WriteString("user root\n")
	}
	if opts.TLS != nil {
		// Options after a listener line are that listener's.
		fmt.Fprintf(&c, "listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n", b.tlsPort, opts.TLS.CertFile, opts.TLS.KeyFile)
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	return os.WriteFile(b.conf, []byte(c.String()), 0o600)
}

// start runs the broker and waits until it accepts connections.
func (b *Broker) start() error {
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(b.bin, "-c", b.conf)
	// What it writes before it opens its log (warnings, a bad config) goes
	// to the same file.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	b.cmd, b.exited = cmd, exited
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("mosquitto exited at start: %v", cmd.ProcessState)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.signal(syscall.SIGKILL)
	return fmt.Errorf("mosquitto does not accept connections on %s after %v", addr, startTimeout)
}

// signal sends sig to a running broker and waits for it to exit; it
// reports false when the broker outlived startTimeout.
func (b *Broker) signal(sig syscall.Signal) bool {
	if b.cmd == nil {
		return true
	}
	select {
	case <-b.exited:
		return true
	default:
	}
	_ = b.cmd.Process.Signal(sig)
	select {
	case <-b.exited:
		return true
	case <-time.After(startTimeout):
		return false
	}
}

// PID is the process id of the broker last started (running or not), 0
// before it started.
func (b *Broker) PID() int {
	if b.cmd == nil || b.cmd.Process == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// URL is the broker's address, mqtt://127.0.0.1:PORT.
func (b *Broker) URL() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", b.port) }

// TLSURL is the address of the TLS listener: mqtts://127.0.0.1:PORT.
func (b *Broker) TLSURL() string { return fmt.Sprintf("mqtts://127.0.0.1:%d", b.tlsPort) }

// Stop stops the broker cleanly (SIGTERM) and waits until it has exited:
// it writes its sessions and queued messages to disk on the way out.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	if !b.signal(syscall.SIGTERM) {
		b.signal(syscall.SIGKILL)
		t.Fatalf("mqtttest: the broker did not stop within %v", startTimeout)
	}
}

// Close stops a broker of Launch cleanly (SIGTERM), or kills it when it
// does not exit within the start timeout.
func (b *Broker) Close() error {
	if !b.signal(syscall.SIGTERM) {
		b.signal(syscall.SIGKILL)
		return fmt.Errorf("mqtttest: the broker did not stop within %v", startTimeout)
	}
	return nil
}

// Kill stops the broker as a crash would (SIGKILL) and waits until it has
// exited: what it had not yet written to disk is lost.
func (b *Broker) Kill(t testing.TB) {
	t.Helper()
	if !b.signal(syscall.SIGKILL) {
		t.Fatalf("mqtttest: the broker did not die within %v", startTimeout)
	}
}

// Restart starts the broker again on the same port, with the same
// configuration and directory (so the same persisted sessions), after Stop
// or Kill; a running broker is stopped first. It waits until the broker
// accepts connections.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Stop(t)
	if err := b.start(); err != nil {
		t.Fatalf("mqtttest: restart: %v\n%s", err, tail(b.Log(), 20))
	}
}

// Publish publishes one message as user with mosquitto_pub (MQTT v5). Its
// error carries mosquitto_pub's output, so tests can see why the broker
// refused (a wrong password, a topic outside the user's ACL).
func (b *Broker) Publish(t testing.TB, user, password, topic string, payload []byte, qos int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// -d: the debug output shows whether the message went out at all.
	args := []string{"-d", "-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(b.port),
		"-u", user, "-P", password, "-t", topic, "-q", strconv.Itoa(qos)}
	if len(payload) == 0 {
		args = append(args, "-n")
	} else {
		args = append(args, "-s")
	}
	cmd := exec.CommandContext(ctx, "mosquitto_pub", args...)
	cmd.Stdin = bytes.NewReader(payload)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("mosquitto_pub %s: no answer within %v: %s", topic, startTimeout, bytes.TrimSpace(out))
	}
	if err != nil {
		return fmt.Errorf("mosquitto_pub %s: %v: %s", topic, err, bytes.TrimSpace(out))
	}
	// A QoS 1 or 2 publish the broker refuses (MQTT v5 answers with a
	// reason code, e.g. "not authorized" for a topic outside the ACL) is
	// only a warning to mosquitto_pub, which still exits 0:
	// "Warning: Publish 1 failed: Not authorized." At QoS 0 a refusal has
	// no answer and cannot be seen.
	if bytes.Contains(out, []byte("failed:")) {
		return fmt.Errorf("mosquitto_pub %s: %s", topic, bytes.TrimSpace(out))
	}
	// A message larger than the maximum packet size the broker announced
	// in its CONNACK is dropped by mosquitto_pub without a word, exit 0.
	if !bytes.Contains(out, []byte("sending PUBLISH")) {
		return fmt.Errorf("mosquitto_pub %s: the message was not sent (larger than the broker's maximum packet size?): %s", topic, bytes.TrimSpace(out))
	}
	return nil
}

// Log returns the broker's log so far.
func (b *Broker) Log() string {
	data, err := os.ReadFile(b.logPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("(cannot read the broker log: %v)", err)
	}
	return string(data)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
