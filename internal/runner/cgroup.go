package runner

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupStats are the figures of one sandbox's cgroup, read after its
// process exited and before the task is deleted (deletion removes the cgroup).
type cgroupStats struct {
	OOMKills        int64 // kills by the OOM killer inside this cgroup
	MemoryPeakBytes int64 // 0 when the kernel does not report it
	CPUTimeNanos    int64 // user+system
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
		s.OOMKills = keyedValue(filepath.Join(dir, "memory.events"), "oom_kill")
		s.MemoryPeakBytes = intFile(filepath.Join(dir, "memory.peak"))
		s.CPUTimeNanos = keyedValue(filepath.Join(dir, "cpu.stat"), "usage_usec") * 1000
		return s
	}
	mem := filepath.Join(root, "memory", path)
	s.OOMKills = keyedValue(filepath.Join(mem, "memory.oom_control"), "oom_kill")
	s.MemoryPeakBytes = intFile(filepath.Join(mem, "memory.max_usage_in_bytes"))
	s.CPUTimeNanos = intFile(filepath.Join(root, "cpuacct", path, "cpuacct.usage"))
	return s
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
func keyedValue(name, key string) int64 {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
