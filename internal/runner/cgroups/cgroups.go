// Package cgroups reads the figures of a sandbox's cgroup (CPU time, memory
// peak, OOM kills, limit hits), kills what runs in it and removes it, on
// cgroup v1 (and hybrid) hosts and on v2. It works on paths, as in an OCI
// spec's cgroupsPath, under a root where the hierarchies are mounted (Root
// on a host, a temporary directory in tests).
//
// It knows nothing of containerd, containers or judging: it must not name,
// create or delete a container or task, and it holds no state but what a
// caller keeps (a PeakMeter). Its callers decide when a cgroup's figures
// are read (after the program's exit, before the task's deletion) and what
// they mean.
package cgroups

import (
	"bufio"
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

// Stats are the figures of one sandbox's cgroup, read after its
// process exited and before the task is deleted (deletion removes the cgroup).
type Stats struct {
	OOMKills        int64 // kills by the OOM killer inside this cgroup
	MemoryPeakBytes int64 // 0 when the kernel does not report it
	CPUTimeNanos    int64 // user+system
	// LimitHits counts the times the cgroup's memory use reached its limit
	// (v1 memory.failcnt, v2 memory.events max): a program can hit the
	// limit and stall in reclaim without the OOM killer ever acting.
	LimitHits int64
}

// Root is where the cgroup hierarchies are mounted.
const Root = "/sys/fs/cgroup"

// ReadStats reads the stats of the cgroup at path (as in the spec's
// cgroupsPath). On a pure cgroup v2 host it reads the unified hierarchy; on
// a v1 or hybrid host it reads the v1 memory and cpuacct controllers, where
// the limits are enforced. Missing files leave their figure at zero.
func ReadStats(root, path string) Stats {
	var s Stats
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		dir := filepath.Join(root, path)
		events := keyedValues(filepath.Join(dir, "memory.events"))
		s.OOMKills, s.LimitHits = events["oom_kill"], events["max"]
		s.MemoryPeakBytes = IntFile(filepath.Join(dir, "memory.peak"))
		s.CPUTimeNanos = keyedValue(filepath.Join(dir, "cpu.stat"), "usage_usec") * 1000
		return s
	}
	mem := filepath.Join(root, "memory", path)
	s.OOMKills = keyedValue(filepath.Join(mem, "memory.oom_control"), "oom_kill")
	s.MemoryPeakBytes = IntFile(filepath.Join(mem, "memory.max_usage_in_bytes"))
	s.CPUTimeNanos = IntFile(filepath.Join(root, "cpuacct", path, "cpuacct.usage"))
	s.LimitHits = IntFile(filepath.Join(mem, "memory.failcnt"))
	return s
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

// keyedValue returns the value of key in a "key value" per line file.
func keyedValue(name, key string) int64 { return keyedValues(name)[key] }

// keyedValues reads a "key value" per line file; a file that cannot be
// read has no keys.
func keyedValues(name string) map[string]int64 {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			out[k] = n
		}
	}
	return out
}

// Kill kills every process in the cgroup at path (as in the spec's
// cgroupsPath) and waits, at most wait, until none is left. It is the
// fallback for when containerd cannot kill a task (containerd is down, or
// the shim is gone): the wall-clock limit must hold regardless. On cgroup
// v2 it writes cgroup.kill; on v1 it freezes the cgroup so nothing forks
// between reading its processes and killing them, sends each SIGKILL, and
// thaws it so they die.
func Kill(root, path string, wait time.Duration) error {
	var procs string
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		dir := filepath.Join(root, path)
		procs = filepath.Join(dir, "cgroup.procs")
		// Kernels before 5.14 have no cgroup.kill: the loop below signals
		// each process instead.
		_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	} else {
		dir := filepath.Join(root, "freezer", path)
		procs = filepath.Join(dir, "cgroup.procs")
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
	}
	deadline := time.Now().Add(wait)
	for {
		n, err := signalAll(procs, syscall.SIGKILL)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && n == 0) {
			return nil // the cgroup is gone or empty
		}
		if err != nil {
			return fmt.Errorf("kill cgroup %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill cgroup %s: %d processes still there after %s", path, n, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
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

// Remove removes the (empty) cgroup directories at path, in every
// hierarchy that has one; one that is not there is no error. A sandbox's
// teardown ends with it: normally the runtime has removed them all, but a
// task deleted while containerd was restarting can leave empty directories
// behind in some hierarchies. A directory that cannot be removed (a process
// still in it) is an error, so the janitor tries again.
func Remove(root, path string) error {
	dirs := []string{filepath.Join(root, path)}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		// One directory per v1 hierarchy. Not filepath.Glob(root/*/path):
		// it would read every directory on the way, the namespace's
		// cgroup directory of each hierarchy included (a kernfs readdir of
		// every live sandbox's cgroup, about 2 ms of the service's CPU per
		// sandbox on a busy 2-core machine).
		entries, _ := os.ReadDir(root)
		dirs = dirs[:0]
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(root, e.Name(), path))
			}
		}
	}
	var errs []error
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
