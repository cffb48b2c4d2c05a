package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cgroup operations of a sandbox that serves many runs (the runner's judge lanes): its
// idle init stays while each run's processes come and go, so the figures of
// one run are differences, and a run's processes are killed one by one.

// ProcsFile is the cgroup.procs file that lists the processes of the
// cgroup at path: the unified hierarchy's on cgroup v2, the pids
// controller's on v1 (every v1 controller holds the same processes).
func ProcsFile(root, path string) string {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return filepath.Join(root, path, "cgroup.procs")
	}
	return filepath.Join(root, "pids", path, "cgroup.procs")
}

// KillExcept kills every process in the cgroup at path but those in
// keep, and waits, at most wait, until only they are left. Killing in
// rounds catches what forks in between: a killed process forks no more,
// and the pids limit bounds how many can appear.
func KillExcept(root, path string, keep map[int]bool, wait time.Duration) error {
	procs := ProcsFile(root, path)
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile(procs)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list cgroup %s: %w", path, err)
		}
		others := 0
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 0 || keep[pid] {
				continue
			}
			others++
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if others == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill cgroup %s: %d processes still there after %s", path, others, wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// PeakMeter measures the memory peak of one run in a cgroup that outlives
// it. On cgroup v1 the peak is reset by writing to max_usage_in_bytes; on
// v2 (kernel 6.12 or later) by writing to memory.peak, for reads through
// the same open file. Where neither works it reports the cgroup's peak
// since it was created, which is at least the run's.
type PeakMeter struct {
	v2     *os.File // open memory.peak on cgroup v2
	path   string   // v1 memory.max_usage_in_bytes, or the v2 file for the fallback
	shared bool     // the fallback: the peak since the cgroup was created
}

// StartPeak resets the peak of the cgroup at path and returns its meter.
func StartPeak(root, path string) *PeakMeter {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		name := filepath.Join(root, path, "memory.peak")
		m := &PeakMeter{path: name, shared: true}
		if f, err := os.OpenFile(name, os.O_RDWR, 0); err == nil {
			if _, err := f.WriteString("reset\n"); err == nil {
				m.v2, m.shared = f, false
			} else {
				f.Close()
			}
		}
		return m
	}
	name := filepath.Join(root, "memory", path, "memory.max_usage_in_bytes")
	_ = os.WriteFile(name, []byte("0"), 0)
	return &PeakMeter{path: name}
}

// Own reports whether the meter measures the peak since StartPeak rather
// than since the cgroup was created: cgroup v1, or v2 whose memory.peak
// takes a reset (kernel 6.12 or later).
func (m *PeakMeter) Own() bool { return !m.shared }

// Read returns the peak since StartPeak, and closes the meter.
func (m *PeakMeter) Read() int64 {
	if m.v2 == nil {
		return IntFile(m.path)
	}
	defer m.v2.Close()
	b := make([]byte, 32)
	n, _ := m.v2.ReadAt(b, 0)
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b[:n])), 10, 64)
	return v
}

// Diff is what happened in a cgroup between two readings.
func Diff(before, after Stats) Stats {
	return Stats{
		OOMKills:     max(after.OOMKills-before.OOMKills, 0),
		CPUTimeNanos: max(after.CPUTimeNanos-before.CPUTimeNanos, 0),
		LimitHits:    max(after.LimitHits-before.LimitHits, 0),
	}
}
