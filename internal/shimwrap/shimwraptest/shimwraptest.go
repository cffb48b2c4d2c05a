// Package shimwraptest gives tests the codeexec-shim binary.
package shimwraptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/codeexec/codeexec/internal/testbin"
)

// Path returns the shim wrapper named by CODEEXEC_SHIM_WRAPPER (as `make
// test` sets it), or else builds it once per test process from this
// checkout with the go tool that runs the tests (as `make build` does).
func Path(tb testing.TB) string {
	tb.Helper()
	return testbin.Path(tb, "CODEEXEC_SHIM_WRAPPER", "codeexec-shim", func(out string) *exec.Cmd {
		// As the Makefile's codeexec-shim target builds it.
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, "./cmd/codeexec-shim")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		return cmd
	})
}
