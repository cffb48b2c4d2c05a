// Package agenttest gives tests a lane agent binary (sandbox/lane/lane.c)
// to run or to configure runners with.
package agenttest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/codeexec/codeexec/internal/testbin"
)

// Path returns the lane agent named by CODEEXEC_LANE_AGENT (as `make test`
// and the cgroup v2 guest set it), or else builds it once per test process
// from this checkout with the C compiler (as `make build` does).
func Path(tb testing.TB) string {
	tb.Helper()
	return testbin.Path(tb, "CODEEXEC_LANE_AGENT", "codeexec-lane", func(out string) *exec.Cmd {
		cc := os.Getenv("CC")
		if cc == "" {
			cc = "cc"
		}
		// As the Makefile's codeexec-lane target builds it.
		return exec.Command(cc, "-O2", "-static", "-Wall", "-Wextra", "-o", out, "sandbox/lane/lane.c")
	})
}
