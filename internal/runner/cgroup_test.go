package runner

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadCgroupStats(t *testing.T) {
	t.Run("a v1 hierarchy is read from the memory and cpuacct controllers", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			"memory/ns/c1/memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
			"memory/ns/c1/memory.max_usage_in_bytes": "268435456\n",
			"cpuacct/ns/c1/cpuacct.usage":            "1500000\n",
		})
		got := readCgroupStats(root, "/ns/c1")
		want := cgroupStats{OOMKills: 2, MemoryPeakBytes: 256 << 20, CPUTimeNanos: 1_500_000}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("a v2 hierarchy is read from the unified files", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			"cgroup.controllers":  "cpu memory pids\n",
			"ns/c1/memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
			"ns/c1/memory.peak":   "1048576\n",
			"ns/c1/cpu.stat":      "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n",
		})
		got := readCgroupStats(root, "/ns/c1")
		want := cgroupStats{OOMKills: 1, MemoryPeakBytes: 1 << 20, CPUTimeNanos: 2_000_000}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("missing files read as zero", func(t *testing.T) {
		if got := readCgroupStats(t.TempDir(), "/ns/none"); got != (cgroupStats{}) {
			t.Fatalf("got %+v, want zeros", got)
		}
	})
}
