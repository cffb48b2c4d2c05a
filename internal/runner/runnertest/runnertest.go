// Package runnertest opens real runners for the integration tests of other
// packages, and checks that they leave nothing behind.
package runnertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/laneagent/agenttest"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/shimwrap/shimwraptest"
)

// Config returns a runner configuration for the containerd named by
// CODEEXEC_CONTAINERD_SOCKET, in the namespace CODEEXEC_TEST_NAMESPACE
// (default codeexec-test), with a state directory of the test's own.
// Without a socket the test is skipped, unless CODEEXEC_REQUIRE_INTEGRATION=1
// (as `make test` and CI set it), where a skip would hide a missing daemon
// and so fails instead.
func Config(tb testing.TB) runner.Config {
	tb.Helper()
	socket := os.Getenv("CODEEXEC_CONTAINERD_SOCKET")
	if socket == "" {
		if os.Getenv("CODEEXEC_REQUIRE_INTEGRATION") == "1" {
			tb.Fatal("CODEEXEC_REQUIRE_INTEGRATION=1 but CODEEXEC_CONTAINERD_SOCKET is empty: run `make test`")
		}
		tb.Skip("integration test: set CODEEXEC_CONTAINERD_SOCKET (or run `make test`)")
	}
	cfg := runner.DefaultConfig()
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
	return cfg
}

// Logger logs warnings, or everything when CODEEXEC_TEST_DEBUG is set.
func Logger() *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("CODEEXEC_TEST_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// MustOpen opens a runner on Config with change applied, and on cleanup
// fails the test if the runner left anything behind.
func MustOpen(tb testing.TB, change func(*runner.Config)) *runner.Runner {
	tb.Helper()
	cfg := Config(tb)
	if change != nil {
		change(&cfg)
	}
	r, err := runner.New(context.Background(), cfg, Logger())
	if err != nil {
		tb.Fatalf("open runner: %v", err)
	}
	tb.Cleanup(func() {
		AssertNoLeftovers(tb, r)
		r.Close()
	})
	return r
}

// AssertNoLeftovers waits for r's pending teardowns, then fails the test for
// each thing r left behind.
func AssertNoLeftovers(tb testing.TB, r *runner.Runner) {
	tb.Helper()
	r.Wait()
	for _, problem := range EventualLeftovers(r.Leftovers) {
		tb.Error("leftover: " + problem)
	}
}

// AssertNothingLeftBy fails the test for each thing a runner with
// configuration cfg left behind, checked from outside after that runner
// (or the service holding it) has stopped or crashed.
func AssertNothingLeftBy(tb testing.TB, cfg runner.Config) {
	tb.Helper()
	for _, problem := range EventualLeftovers(func() []string {
		left, err := runner.Leftovers(cfg)
		if err != nil {
			return []string{"cannot list: " + err.Error()}
		}
		return left
	}) {
		tb.Error("leftover: " + problem)
	}
}

// EventualLeftovers polls list for up to 5 s and returns what it reports
// last: processes killed a moment ago may still be exiting.
func EventualLeftovers(list func() []string) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := list()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}
