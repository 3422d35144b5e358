// Package localserver finds what the harnesses need to start a server of
// their own from Debian's packages (PostgreSQL, mosquitto, nats-server,
// HAProxy) on a loopback port.
package localserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
)

// Binary finds a program on PATH or in /usr/sbin, where Debian puts the
// servers and a normal user's PATH often does not look; "" when neither
// has it.
func Binary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
