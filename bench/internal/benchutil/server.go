package benchutil

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// BuildServer builds ./cmd/gridmetrics into dir. With profiling, an overlay
// adds a file to the binary that serves CPU profiles on a loopback port:
// the service itself stays as it is.
func BuildServer(ctx context.Context, root, dir string, profiling bool) (string, error) {
	bin := filepath.Join(dir, "gridmetrics")
	args := []string{"build", "-o", bin}
	if profiling {
		hook := filepath.Join(dir, "bench_pprof_hook.go")
		if err := os.WriteFile(hook, []byte(pprofHook), 0o644); err != nil {
			return "", err
		}
		overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{
			filepath.Join(root, "cmd", "gridmetrics", "zz_bench_pprof_hook.go"): hook,
		}})
		overlayFile := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlayFile)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/gridmetrics")...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gridmetrics: %w", err)
	}
	return bin, nil
}

// pprofHook is compiled into the profiling build only. It starts and stops
// the CPU profile on request, so a profile covers exactly one timed run.
const pprofHook = `package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	rpprof "runtime/pprof"
	"sync"
)

func init() {
	addr := os.Getenv("GRIDMETRICS_BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	var (
		mu  sync.Mutex
		buf *bytes.Buffer
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/bench/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		buf = new(bytes.Buffer)
		if err := rpprof.StartCPUProfile(buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/bench/cpu/stop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		rpprof.StopCPUProfile()
		if buf != nil {
			w.Write(buf.Bytes())
		}
		buf = nil
	})
	go http.Serve(ln, mux)
}
`

// Server is a running `gridmetrics serve`.
type Server struct {
	Cmd       *exec.Cmd
	Base      string // http://127.0.0.1:port
	PprofBase string // "" unless profiling
	LogPath   string // its stdout and stderr
	exited    chan struct{}
}

// StartServer runs the binary's serve command against dbURL on a free
// loopback port, without rate limit and logging warnings only, with the
// extra flags after those; it waits until /readyz answers 200. The server
// is killed if this process dies.
func StartServer(ctx context.Context, bin, dbURL, dir string, profiling bool, extra []string) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Base: "http://127.0.0.1:" + port, LogPath: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	logFile, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--database-url", dbURL, "--addr", "127.0.0.1:" + port,
		"--rate-limit", "0", "--log-level", "warn"}, extra...)
	s.Cmd = exec.Command(bin, args...)
	s.Cmd.Stdout, s.Cmd.Stderr = logFile, logFile
	s.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.Cmd.Env = os.Environ()
	if profiling {
		pport, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.PprofBase = "http://127.0.0.1:" + pport
		s.Cmd.Env = append(s.Cmd.Env, "GRIDMETRICS_BENCH_PPROF_ADDR=127.0.0.1:"+pport)
	}
	if err := s.Cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start server: %w", err)
	}
	go func() {
		_ = s.Cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := hc.Get(s.Base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited during start-up; log:\n%s", s.LogTail())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("server not ready within 60s; log:\n%s", s.LogTail())
		}
	}
}

// Stop asks the server to shut down (SIGTERM) and kills it if it takes
// longer than 30 s.
func (s *Server) Stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.Cmd.Process.Kill()
		<-s.exited
	}
}

// LogTail is the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.LogPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// StartCPUProfile and StopCPUProfile drive the profiling hook of a
// profiling build.
func (s *Server) StartCPUProfile() error {
	res, err := http.Get(s.PprofBase + "/bench/cpu/start")
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("start CPU profile: %s", res.Status)
	}
	return nil
}

// StopCPUProfile stops the profile and saves it to path.
func (s *Server) StopCPUProfile(path string) error {
	return s.Fetch("/bench/cpu/stop", path)
}

// Fetch saves a pprof endpoint's answer to path.
func (s *Server) Fetch(endpoint, path string) error {
	res, err := http.Get(s.PprofBase + endpoint)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", endpoint, res.Status)
	}
	return os.WriteFile(path, b, 0o644)
}

// FreePort is a TCP port free on the loopback interface just now.
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
