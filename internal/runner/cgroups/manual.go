package cgroups

import (
	"bytes"
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

// What containerd's cgroups library cannot do, by hand, in this one file:
//
//   - kill every process of a v1 cgroup within a bounded time: the library
//     has no Kill for v1, and its Freeze waits without a bound for the
//     freezer to report FROZEN (freezeAndKill gives it a second, then kills
//     what it can anyway);
//   - kill every process of a cgroup but one (KillExcept): a judge lane's
//     agent stays while each run's processes go;
//   - measure the memory peak of one run in a cgroup that outlives it
//     (PeakMeter): a v2 memory.peak reset through an open file (kernel
//     6.12), which the library neither writes nor reads that way, or the
//     v1 max_usage_in_bytes reset;
//   - read one integer file (IntFile) and list cgroup.procs (ProcsFile,
//     signalAll), for those.
//
// The figures of one run in a lane are differences of two readings (Diff).

// ProcsFile is the cgroup.procs file that lists the processes of the
// cgroup at path: the unified hierarchy's on cgroup v2, the pids
// controller's on v1 (every v1 controller holds the same processes).
func ProcsFile(root, path string) string {
	if unified(root) {
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
	if unified(root) {
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

// freezeAndKill kills every process of the v1 cgroup at path: it freezes
// the cgroup (for at most a second) so that nothing forks between reading
// its processes and killing them, sends each SIGKILL, and thaws it so they
// die. It returns the cgroup.procs file to wait on.
func freezeAndKill(root, path string) string {
	dir := filepath.Join(root, "freezer", path)
	procs := filepath.Join(dir, "cgroup.procs")
	state := filepath.Join(dir, "freezer.state")
	if os.WriteFile(state, []byte("FROZEN"), 0) == nil {
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(state); strings.TrimSpace(string(b)) == "FROZEN" {
				break
			}
			time.Sleep(time.Millisecond)
		}
		signalAll(procs, syscall.SIGKILL)
		_ = os.WriteFile(state, []byte("THAWED"), 0)
	}
	return procs
}

// IntFile reads a file that holds one integer, such as memory.peak; a
// file that cannot be read or parsed reads as 0.
func IntFile(name string) int64 {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	return n
}

// signalAll sends sig to every process listed in the cgroup.procs file
// procs and returns how many were listed.
func signalAll(procs string, sig syscall.Signal) (int, error) {
	b, err := os.ReadFile(procs)
	if err != nil {
		return 0, err
	}
	pids := strings.Fields(string(b))
	for _, f := range pids {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = syscall.Kill(pid, sig)
		}
	}
	return len(pids), nil
}

// MemoryUsage is the memory the cgroup at path uses now (v2 memory.current,
// v1 memory.usage_in_bytes); 0 when it cannot be read.
func MemoryUsage(root, path string) int64 {
	if unified(root) {
		return IntFile(filepath.Join(root, path, "memory.current"))
	}
	return IntFile(filepath.Join(root, "memory", path, "memory.usage_in_bytes"))
}

// RaiseMemoryLimit raises the memory limit of the cgroup at path by add
// bytes (v2 memory.max; v1 memory.limit_in_bytes, and the memory+swap
// limit first when it is set, since it may not be below the other): the
// containerd cgroups library sets limits through a whole resources
// update, which would rewrite every other limit too.
func RaiseMemoryLimit(root, path string, add int64) error {
	if add <= 0 {
		return nil
	}
	raise := func(name string) error {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %q", name, s)
		}
		if n >= 1<<62 { // v1's "no limit"
			return nil
		}
		return os.WriteFile(name, []byte(strconv.FormatInt(n+add, 10)), 0)
	}
	if unified(root) {
		return raise(filepath.Join(root, path, "memory.max"))
	}
	dir := filepath.Join(root, "memory", path)
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
		if err := raise(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
			return err
		}
	}
	return raise(filepath.Join(dir, "memory.limit_in_bytes"))
}
