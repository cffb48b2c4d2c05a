package runner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
)

// testConfig returns a runner configuration for the containerd named by
// CODEEXEC_CONTAINERD_SOCKET, in the namespace CODEEXEC_TEST_NAMESPACE, with
// a state directory of the test's own. Without a socket the test is skipped,
// unless CODEEXEC_REQUIRE_INTEGRATION=1 (as `make test` and CI set), where a
// skip would hide a missing daemon and so fails instead.
func testConfig(tb testing.TB) Config {
	tb.Helper()
	socket := os.Getenv("CODEEXEC_CONTAINERD_SOCKET")
	if socket == "" {
		if os.Getenv("CODEEXEC_REQUIRE_INTEGRATION") == "1" {
			tb.Fatal("CODEEXEC_REQUIRE_INTEGRATION=1 but CODEEXEC_CONTAINERD_SOCKET is empty: run `make test`")
		}
		tb.Skip("integration test: set CODEEXEC_CONTAINERD_SOCKET (or run `make test`)")
	}
	cfg := DefaultConfig()
	cfg.Socket = socket
	cfg.Namespace = "codeexec-test"
	if ns := os.Getenv("CODEEXEC_TEST_NAMESPACE"); ns != "" {
		cfg.Namespace = ns
	}
	cfg.StateDir = tb.TempDir()
	return cfg
}

// MustOpenRunner starts a runner on testConfig with changes applied, and on
// cleanup checks that the runner left nothing behind.
func MustOpenRunner(tb testing.TB, change func(*Config)) *Runner {
	tb.Helper()
	cfg := testConfig(tb)
	if change != nil {
		change(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()}))
	r, err := New(context.Background(), cfg, log)
	if err != nil {
		tb.Fatalf("open runner: %v", err)
	}
	tb.Cleanup(func() {
		AssertNoLeftovers(tb, r)
		r.Close()
	})
	return r
}

// AssertNoLeftovers fails the test if any container, task, snapshot, job
// directory, FIFO directory, cgroup or sandbox process of r remains.
func AssertNoLeftovers(tb testing.TB, r *Runner) {
	tb.Helper()
	r.Wait()
	for _, problem := range Leftovers(r) {
		tb.Error("leftover: " + problem)
	}
}

// Leftovers lists what r left behind, in words.
func Leftovers(r *Runner) []string {
	var out []string
	ctx, cancel := context.WithTimeout(r.nsContext(context.Background()), 10*time.Second)
	defer cancel()
	owned := fmt.Sprintf("labels.%q==%q", LabelOwner, r.cfg.StateDir)
	cs, err := r.client.Containers(ctx, owned)
	if err != nil {
		out = append(out, "cannot list containers: "+err.Error())
	}
	for _, c := range cs {
		out = append(out, "container "+c.ID())
		if _, err := c.Task(ctx, nil); err == nil {
			out = append(out, "task "+c.ID())
		}
	}
	err = r.client.SnapshotService(r.cfg.Snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		out = append(out, "snapshot "+info.Name)
		return nil
	}, owned)
	if err != nil {
		out = append(out, "cannot list snapshots: "+err.Error())
	}
	for _, dir := range []string{jobsDir(r.cfg), fifoDir(r.cfg)} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			out = append(out, "file "+filepath.Join(dir, e.Name()))
		}
	}
	for _, ctrl := range []string{"memory", "pids", "cpu", ""} {
		entries, _ := os.ReadDir(filepath.Join(cgroupRoot, ctrl, r.cfg.Namespace))
		for _, e := range entries {
			if e.IsDir() && isOurs(r, e.Name()) {
				out = append(out, "cgroup "+filepath.Join(ctrl, r.cfg.Namespace, e.Name()))
			}
		}
	}
	out = append(out, sandboxProcesses(r.cfg.Namespace)...)
	return out
}

// sandboxProcesses lists host processes that live in a cgroup of namespace
// ns, that is, processes of some sandbox of this namespace still alive.
func sandboxProcesses(ns string) []string {
	var out []string
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join(p, "cgroup"))
		if err != nil || !strings.Contains(string(b), ":/"+ns+"/") {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		out = append(out, fmt.Sprintf("process %s (%s)", filepath.Base(p), strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return out
}

// isOurs reports whether a cgroup name belongs to a job of r: job IDs are not
// known here, so any cgroup whose job directory was under r's state dir is
// matched by the runner's naming scheme ("<uuid>-run", "<uuid>-compile").
func isOurs(_ *Runner, name string) bool {
	return strings.HasSuffix(name, "-run") || strings.HasSuffix(name, "-compile")
}

// testLogLevel is warn, or debug when CODEEXEC_TEST_DEBUG is set.
func testLogLevel() slog.Level {
	if os.Getenv("CODEEXEC_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
