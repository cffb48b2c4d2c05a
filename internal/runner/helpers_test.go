package runner

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/laneagent/agenttest"
	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/codeexec/codeexec/internal/shimwrap/shimwraptest"
	"github.com/codeexec/codeexec/internal/testtiming"
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
	// The OCI runtime, as the service reads it: `make test` runs the
	// suite with the one the set-up chose, and the attack suite again
	// with the other.
	if rt := os.Getenv("CODEEXEC_OCI_RUNTIME"); rt != "" {
		cfg.OCIRuntime = rt
	}
	cfg.StateDir = tb.TempDir()
	cfg.LaneAgent = agenttest.Path(tb)
	cfg.ShimWrapper = shimwraptest.Path(tb)
	cfg.PoolSize = 0 // the cold path; pool tests turn it on
	// The compile time limit is a wait for every test but the compile
	// attacks, which set it back: a far slower machine (testtiming.Scale)
	// compiles slower. It is the default at scale 1.
	cfg.CompileTimeout = testtiming.Scaled(DefaultCompileTimeout)
	cfg.MaxLimits.CompileTimeout = max(cfg.MaxLimits.CompileTimeout, cfg.CompileTimeout)
	// Room for untimed runs (runUntimed).
	cfg.MaxLimits.Timeout = max(cfg.MaxLimits.Timeout, testtiming.LimitWait)
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
	r, err := New(context.Background(), cfg, testLogger())
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
	for _, problem := range eventualLeftovers(r.Leftovers) {
		tb.Error("leftover: " + problem)
	}
}

// testLogLevel is warn, or debug when CODEEXEC_TEST_DEBUG is set.
func testLogLevel() slog.Level {
	if os.Getenv("CODEEXEC_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()}))
}

// eventualLeftovers polls list for up to 5 s and returns what it reports
// last: processes killed a moment ago may still be exiting.
func eventualLeftovers(list func() []string) []string {
	deadline := time.Now().Add(testtiming.Scaled(5 * time.Second))
	for {
		left := list()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runUntimed runs a program that must end by itself or by a limit other
// than the wall-clock one (memory, pids, output): its time limit is
// testtiming.LimitWait, so that on a far slower machine time is not what
// stops it.
func runUntimed(t *testing.T, r *Runner, lang, code, input string) Result {
	t.Helper()
	res, err := r.Run(context.Background(), Request{Language: lang, Code: code, Input: input,
		Limits: Limits{Timeout: testtiming.LimitWait}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// cgroupRoot and intFile are the names the attack suite reads cgroup files
// by, from before the cgroup code moved to package cgroups.
const cgroupRoot = cgroups.Root

func intFile(name string) int64 { return cgroups.IntFile(name) }

// isSandboxCgroup is the name the attack suite knows
// sandbox.IsSandboxCgroup by, from before the sandbox code moved to package
// sandbox.
func isSandboxCgroup(name string) bool { return sandbox.IsSandboxCgroup(name) }
