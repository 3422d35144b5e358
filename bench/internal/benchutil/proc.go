package benchutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// PeakRSS is a process's high-water mark of resident memory (VmHWM), in
// bytes.
func PeakRSS(pid int) (int64, error) {
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

// ResetPeakRSS sets a process's VmHWM back to its resident memory now
// (Linux's clear_refs, 5), so that PeakRSS afterwards is the peak of what
// happened since.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// clockTicks is USER_HZ, the unit of CPU times in /proc: 100 on every Linux
// port Go supports.
const clockTicks = 100

// CPUTime is the user plus system CPU a process has used, and its
// command name.
func CPUTime(pid int) (time.Duration, string, error) {
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

// PostgresCPU sums the CPU time of every postgres process on the machine.
// Backends that exit take their time with them, so compare it only across
// a run whose connections stay open.
func PostgresCPU() time.Duration {
	entries, _ := os.ReadDir("/proc")
	var total time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if d, comm, err := CPUTime(pid); err == nil && comm == "postgres" {
			total += d
		}
	}
	return total
}

// MachineCPU is the CPU time all processes have used (the busy columns of
// /proc/stat).
func MachineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}
