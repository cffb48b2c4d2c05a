// Package shimwraptest gives tests the codeexec-shim binary.
package shimwraptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once  sync.Once
	built string
	err   error
)

// Path returns the shim wrapper named by CODEEXEC_SHIM_WRAPPER (as `make
// test` sets it), or else builds it once per test process from this
// checkout with the go tool that runs the tests, into a directory of the
// user's cache that each build overwrites.
func Path(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CODEEXEC_SHIM_WRAPPER"); p != "" {
		return p
	}
	once.Do(func() { built, err = build() })
	if err != nil {
		tb.Fatalf("build the shim wrapper (or set CODEEXEC_SHIM_WRAPPER): %v", err)
	}
	return built
}

func build() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("no source path")
	}
	repo := filepath.Join(filepath.Dir(self), "..", "..", "..")
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "codeexec-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "codeexec-shim-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	// As the Makefile's codeexec-shim target builds it.
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", tmp.Name(), "./cmd/codeexec-shim")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("%v: %s", err, out)
	}
	dst := filepath.Join(dir, "codeexec-shim")
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dst, nil
}
