package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
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
			"memory/ns/c1/memory.failcnt":            "7\n",
			"cpuacct/ns/c1/cpuacct.usage":            "1500000\n",
			// What the kernel has beside them, which the library reads too.
			"memory/ns/c1/memory.stat":           "cache 0\nrss 4096\n",
			"memory/ns/c1/memory.usage_in_bytes": "4096\n",
			"memory/ns/c1/memory.limit_in_bytes": "268435456\n",
			"cpuacct/ns/c1/cpuacct.stat":         "user 100\nsystem 50\n",
			"cpuacct/ns/c1/cpuacct.usage_percpu": "1000000 500000\n",
		})
		got := ReadStats(root, "/ns/c1")
		want := Stats{OOMKills: 2, MemoryPeakBytes: 256 << 20, CPUTimeNanos: 1_500_000, LimitHits: 7}
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
			// What the kernel has beside them, which the library reads too.
			"ns/c1/memory.stat":    "anon 4096\nfile 0\n",
			"ns/c1/memory.current": "4096\n",
		})
		got := ReadStats(root, "/ns/c1")
		want := Stats{OOMKills: 1, MemoryPeakBytes: 1 << 20, CPUTimeNanos: 2_000_000, LimitHits: 5}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("missing files read as zero", func(t *testing.T) {
		if got := ReadStats(t.TempDir(), "/ns/none"); got != (Stats{}) {
			t.Fatalf("got %+v, want zeros", got)
		}
	})
}

// TestKillCgroup puts a process and its child (which ignores SIGTERM) in a
// cgroup of the host's real hierarchy and kills them the way the service
// does when containerd cannot: through the cgroup. Needs root.
func TestKillCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	path := fmt.Sprintf("/codeexec-killtest-%d", os.Getpid())
	var dirs []string // where the cgroup must be created, and the first takes the process
	if _, err := os.Stat(filepath.Join(Root, "cgroup.controllers")); err == nil {
		dirs = []string{filepath.Join(Root, path)}
	} else {
		dirs = []string{filepath.Join(Root, "freezer", path), filepath.Join(Root, "pids", path)}
	}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("create cgroup: %v", err)
		}
	}
	t.Cleanup(func() { _ = Remove(Root, path) })

	// The shell blocks reading a line from a pipe until it is in the
	// cgroup, so its children are certainly born there: a shell started
	// unblocked may fork them before the move (on a fast machine it does),
	// leaving them in the root cgroup. `read` is a builtin: nothing forks
	// before it returns.
	cmd := exec.Command("sh", "-c", `read _; trap "" TERM; sleep 60 & sleep 60; wait`)
	gate, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			t.Fatalf("move the process into the cgroup: %v", err)
		}
	}
	if _, err := gate.Write([]byte("go\n")); err != nil {
		t.Fatalf("release the shell: %v", err)
	}
	// Wait for the children: they are born in the cgroup.
	procs := filepath.Join(dirs[0], "cgroup.procs")
	deadline := time.Now().Add(testtiming.Scaled(5 * time.Second))
	for {
		if b, _ := os.ReadFile(procs); len(strings.Fields(string(b))) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell's children never appeared in the cgroup")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := Kill(Root, path, 2*time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if b, _ := os.ReadFile(procs); len(strings.Fields(string(b))) != 0 {
		t.Errorf("processes left in the cgroup: %s", b)
	}
	select {
	case <-exited:
	case <-time.After(testtiming.Scaled(2 * time.Second)):
		t.Error("the shell is still alive after Kill")
	}
}

// TestPeakMeterOwn checks which peak meters measure a run's own peak: v1's
// (reset by a write) and v2's that took a reset; not v2's that could not,
// whose figure is the cgroup's peak since it was made.
func TestPeakMeterOwn(t *testing.T) {
	v1 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(v1, "memory", "sb"), 0o755); err != nil {
		t.Fatal(err)
	}
	if m := StartPeak(v1, "sb"); !m.Own() {
		t.Error("v1 meter: not its own peak")
	}
	v2 := t.TempDir()
	for _, f := range []string{"cgroup.controllers", "sb/memory.peak"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(v2, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v2, f), []byte("4096\n"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	// A read-only memory.peak: the reset fails, as on kernels before 6.12
	// (root ignores file modes, so make the write fail another way).
	if err := os.Remove(filepath.Join(v2, "sb/memory.peak")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(v2, "sb/memory.peak"), 0o755); err != nil {
		t.Fatal(err)
	}
	if m := StartPeak(v2, "sb"); m.Own() {
		t.Error("v2 meter whose reset failed: claims its own peak")
	}
	if err := os.Remove(filepath.Join(v2, "sb/memory.peak")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v2, "sb/memory.peak"), []byte("4096\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := StartPeak(v2, "sb")
	if !m.Own() {
		t.Error("v2 meter that took a reset: not its own peak")
	}
	m.Read()
}

// TestRemoveCgroup checks, on directory trees shaped like the two cgroup
// layouts, that the sandbox's directory goes from every hierarchy and
// nothing else does.
func TestRemoveCgroup(t *testing.T) {
	t.Run("v1: the directory of every hierarchy, not its neighbours", func(t *testing.T) {
		root := t.TempDir()
		for _, d := range []string{"memory/ns/a-run", "memory/ns/b-run", "pids/ns/a-run", "cpu,cpuacct/ns/a-run", "freezer/ns"} {
			// A cgroup directory always holds its (here empty) cgroup.procs.
			writeFiles(t, root, map[string]string{d + "/cgroup.procs": ""})
		}
		if err := os.Symlink("cpu,cpuacct", filepath.Join(root, "cpu")); err != nil {
			t.Fatal(err)
		}
		if err := Remove(root, "/ns/a-run"); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"memory/ns/a-run", "pids/ns/a-run", "cpu,cpuacct/ns/a-run"} {
			if _, err := os.Stat(filepath.Join(root, d)); !os.IsNotExist(err) {
				t.Errorf("%s: %v, want it removed", d, err)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "memory/ns/b-run")); err != nil {
			t.Errorf("another sandbox's cgroup: %v", err)
		}
	})
	t.Run("v2: the one directory", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{"cgroup.controllers": "cpu memory pids\n"})
		for _, d := range []string{"ns/a-run", "ns/b-run"} {
			writeFiles(t, root, map[string]string{d + "/cgroup.procs": ""})
		}
		if err := Remove(root, "/ns/a-run"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "ns/a-run")); !os.IsNotExist(err) {
			t.Errorf("a-run: %v, want it removed", err)
		}
		if _, err := os.Stat(filepath.Join(root, "ns/b-run")); err != nil {
			t.Errorf("b-run: %v", err)
		}
	})
	t.Run("a directory that cannot be removed is an error", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{"memory/ns/a-run/cgroup.procs": "1\n"})
		if err := Remove(root, "/ns/a-run"); err == nil {
			t.Error("no error for a cgroup that is still there")
		}
	})
}
