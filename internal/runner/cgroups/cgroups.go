// Package cgroups reads the figures of a sandbox's cgroup (CPU time, memory
// peak, OOM kills, limit hits), kills what runs in it and removes it, on
// cgroup v1 (and hybrid) hosts and on v2. It works on paths, as in an OCI
// spec's cgroupsPath, under a root where the hierarchies are mounted (Root
// on a host, a temporary directory in tests).
//
// The figures, the v2 kill and the removal go through containerd's cgroups
// library (github.com/containerd/cgroups/v3: its cgroup1 and cgroup2
// packages), which runc's and containerd's own metrics use; manual.go holds
// the few things it cannot do, and says why.
//
// It knows nothing of containerd's client, containers or judging: it must not name,
// create or delete a container or task, and it holds no state but what a
// caller keeps (a PeakMeter). Its callers decide when a cgroup's figures
// are read (after the program's exit, before the task's deletion) and what
// they mean.
package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
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
// cgroupsPath), through containerd's cgroups library: on a pure cgroup v2
// host from the unified hierarchy (cpu.stat, memory.peak, memory.events);
// on a v1 or hybrid host from the v1 memory and cpuacct controllers, where
// the limits are enforced. A cgroup that is gone, or whose files cannot
// be read, reads as zeros.
func ReadStats(root, path string) Stats {
	var s Stats
	if unified(root) {
		m, err := cgroup2.Load(path, cgroup2.WithMountpoint(root))
		if err != nil {
			return s
		}
		st, err := m.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents)
		if err != nil {
			return s
		}
		if st.CPU != nil {
			s.CPUTimeNanos = int64(st.CPU.UsageUsec) * 1000
		}
		if st.Memory != nil {
			s.MemoryPeakBytes = int64(st.Memory.MaxUsage) // memory.peak
		}
		if st.MemoryEvents != nil {
			s.OOMKills, s.LimitHits = int64(st.MemoryEvents.OomKill), int64(st.MemoryEvents.Max)
		}
		return s
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		// Only the figures a run reports: no swap or kernel-memory files.
		return []cgroup1.Subsystem{
			cgroup1.NewMemory(root, cgroup1.IgnoreModules("memsw", "kmem", "kmem.tcp")),
			cgroup1.NewCpuacct(root),
		}, nil
	}))
	if err != nil {
		return s
	}
	st, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return s
	}
	if st.Memory != nil && st.Memory.Usage != nil {
		s.MemoryPeakBytes, s.LimitHits = int64(st.Memory.Usage.Max), int64(st.Memory.Usage.Failcnt)
	}
	if st.MemoryOomControl != nil {
		s.OOMKills = int64(st.MemoryOomControl.OomKill)
	}
	if st.CPU != nil && st.CPU.Usage != nil {
		s.CPUTimeNanos = int64(st.CPU.Usage.Total)
	}
	return s
}

// unified reports whether root holds the cgroup v2 unified hierarchy
// rather than v1 controllers (a v1 or hybrid host). The library's own
// cgroups.Mode looks at /sys/fs/cgroup only; the tests use other roots.
func unified(root string) bool {
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return err == nil
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
	if unified(root) {
		procs = filepath.Join(root, path, "cgroup.procs")
		if _, err := os.Stat(procs); err != nil {
			return nil // the cgroup is gone
		}
		// cgroup.kill; on kernels before 5.14 the library freezes the
		// cgroup and signals each process itself.
		if m, err := cgroup2.Load(path, cgroup2.WithMountpoint(root)); err == nil {
			_ = m.Kill()
		}
	} else {
		procs = freezeAndKill(root, path)
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

// Remove removes the (empty) cgroup directories at path, in every
// hierarchy that has one; one that is not there is no error. A sandbox's
// teardown ends with it: normally the runtime has removed them all, but a
// task deleted while containerd was restarting can leave empty directories
// behind in some hierarchies. A directory that cannot be removed (a process
// still in it) is an error, so the janitor tries again.
func Remove(root, path string) error {
	if unified(root) {
		m, err := cgroup2.Load(path, cgroup2.WithMountpoint(root))
		if err != nil {
			return err
		}
		if err := m.Delete(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove cgroup %s: %w", path, err)
		}
		return nil
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		return hierarchies(root), nil
	}))
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", path, err)
	}
	if err := cg.Delete(); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", path, err)
	}
	return nil
}

// hierarchies are the v1 hierarchies mounted under root, each a directory
// (the controllers' links, such as cpu -> cpu,cpuacct, are skipped): a
// sandbox's cgroup has a directory in each. Not filepath.Glob(root/*/path),
// which would read every directory on the way, the namespace's cgroup
// directory of each hierarchy included (a kernfs readdir of every live
// sandbox's cgroup, about 2 ms of the service's CPU per sandbox on a busy
// 2-core machine).
func hierarchies(root string) []cgroup1.Subsystem {
	entries, _ := os.ReadDir(root)
	var out []cgroup1.Subsystem
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, cgroup1.NewNamed(root, cgroup1.Name(e.Name())))
		}
	}
	return out
}
