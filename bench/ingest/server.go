package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildServer builds ./cmd/gridmetrics into dir. With profiling, an overlay
// adds a file to the binary that serves CPU profiles on a loopback port:
// the service itself stays as it is.
func buildServer(ctx context.Context, root, dir string, profiling bool) (string, error) {
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

// server is a running `gridmetrics serve`.
type server struct {
	cmd       *exec.Cmd
	base      string // http://127.0.0.1:port
	pprofBase string // "" unless profiling
	logPath   string
	exited    chan struct{}
}

// startServer runs the binary against dbURL on a free loopback port and
// waits until /readyz answers 200.
func startServer(ctx context.Context, bin, dbURL, dir string, profiling bool, extra []string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{base: "http://127.0.0.1:" + port, logPath: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--database-url", dbURL, "--addr", "127.0.0.1:" + port,
		"--rate-limit", "0", "--log-level", "warn"}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.cmd.Env = os.Environ()
	if profiling {
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		s.pprofBase = "http://127.0.0.1:" + pport
		s.cmd.Env = append(s.cmd.Env, "GRIDMETRICS_BENCH_PPROF_ADDR=127.0.0.1:"+pport)
	}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start server: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := hc.Get(s.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited during start-up; log:\n%s", s.logTail())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server not ready within 60s; log:\n%s", s.logTail())
		}
	}
}

// stop asks the server to shut down (SIGTERM) and kills it if it takes
// longer than 30 s.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// startCPUProfile and stopCPUProfile drive the profiling hook.
func (s *server) startCPUProfile() error {
	res, err := http.Get(s.pprofBase + "/bench/cpu/start")
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("start CPU profile: %s", res.Status)
	}
	return nil
}

func (s *server) stopCPUProfile(path string) error {
	return s.fetch("/bench/cpu/stop", path)
}

// fetch saves a pprof endpoint's answer to path.
func (s *server) fetch(endpoint, path string) error {
	res, err := http.Get(s.pprofBase + endpoint)
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

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// cli runs a command of the built binary and returns its stdout.
func cli(ctx context.Context, bin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gridmetrics %s: %w\n%s", strings.Join(args[:2], " "), err, errOut.String())
	}
	return out.String(), nil
}

// peakRSS is a process's high-water mark of resident memory (VmHWM), in
// bytes.
func peakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

// clockTicks is USER_HZ, the unit of CPU times in /proc: 100 on every Linux
// port Go supports.
const clockTicks = 100

// cpuTime is the user plus system CPU a process has used.
func cpuTime(pid int) (time.Duration, string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return 0, "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	comm := s[open+1 : closing]
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return 0, "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, "", err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, comm, nil
}

// postgresCPU sums the CPU time of every postgres process on the machine.
// Backends that exit take their time with them, so compare it only across
// a run whose connections stay open.
func postgresCPU() time.Duration {
	entries, _ := os.ReadDir("/proc")
	var total time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if d, comm, err := cpuTime(pid); err == nil && comm == "postgres" {
			total += d
		}
	}
	return total
}
