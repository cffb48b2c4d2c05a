package runner

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

// cgroupStats are the figures of one sandbox's cgroup, read after its
// process exited and before the task is deleted (deletion removes the cgroup).
type cgroupStats struct {
	OOMKills        int64 // kills by the OOM killer inside this cgroup
	MemoryPeakBytes int64 // 0 when the kernel does not report it
	CPUTimeNanos    int64 // user+system
	// LimitHits counts the times the cgroup's memory use reached its limit
	// (v1 memory.failcnt, v2 memory.events max): a program can hit the
	// limit and stall in reclaim without the OOM killer ever acting.
	LimitHits int64
}

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// readCgroupStats reads the stats of the cgroup at path (as in the spec's
// cgroupsPath). On a pure cgroup v2 host it reads the unified hierarchy; on
// a v1 or hybrid host it reads the v1 memory and cpuacct controllers, where
// the limits are enforced. Missing files leave their figure at zero.
func readCgroupStats(root, path string) cgroupStats {
	var s cgroupStats
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		dir := filepath.Join(root, path)
		events := keyedValues(filepath.Join(dir, "memory.events"))
		s.OOMKills, s.LimitHits = events["oom_kill"], events["max"]
		s.MemoryPeakBytes = intFile(filepath.Join(dir, "memory.peak"))
		s.CPUTimeNanos = keyedValue(filepath.Join(dir, "cpu.stat"), "usage_usec") * 1000
		return s
	}
	mem := filepath.Join(root, "memory", path)
	s.OOMKills = keyedValue(filepath.Join(mem, "memory.oom_control"), "oom_kill")
	s.MemoryPeakBytes = intFile(filepath.Join(mem, "memory.max_usage_in_bytes"))
	s.CPUTimeNanos = intFile(filepath.Join(root, "cpuacct", path, "cpuacct.usage"))
	s.LimitHits = intFile(filepath.Join(mem, "memory.failcnt"))
	return s
}

// NamespaceCPUTime is the CPU time charged to the cgroup of containerd
// namespace ns, where every sandbox's cgroup lives, removed ones included
// (a parent cgroup keeps what its removed children used).
func NamespaceCPUTime(ns string) time.Duration {
	return time.Duration(readCgroupStats(cgroupRoot, "/"+ns).CPUTimeNanos)
}

func intFile(name string) int64 {
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

// killCgroup kills every process in the cgroup at path (as in the spec's
// cgroupsPath) and waits, at most wait, until none is left. It is the
// fallback for when containerd cannot kill a task (containerd is down, or
// the shim is gone): the wall-clock limit must hold regardless. On cgroup
// v2 it writes cgroup.kill; on v1 it freezes the cgroup so nothing forks
// between reading its processes and killing them, sends each SIGKILL, and
// thaws it so they die.
func killCgroup(root, path string, wait time.Duration) error {
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

// removeCgroup removes the (empty) cgroup directories at path, in every
// hierarchy that has one; one that is not there is no error. A sandbox's
// teardown ends with it: normally the runtime has removed them all, but a
// task deleted while containerd was restarting can leave empty directories
// behind in some hierarchies. A directory that cannot be removed (a process
// still in it) is an error, so the janitor tries again.
func removeCgroup(root, path string) error {
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
