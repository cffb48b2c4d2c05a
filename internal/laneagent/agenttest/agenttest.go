// Package agenttest gives tests a lane agent binary (sandbox/lane/lane.c)
// to run or to configure runners with.
package agenttest

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

// Path returns the lane agent named by CODEEXEC_LANE_AGENT (as `make test`
// and the cgroup v2 guest set it), or else builds it once per test process
// from this checkout with the C compiler (as `make build` does), into a
// directory of the user's cache that each build overwrites.
func Path(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CODEEXEC_LANE_AGENT"); p != "" {
		return p
	}
	once.Do(func() { built, err = build() })
	if err != nil {
		tb.Fatalf("build the lane agent (or set CODEEXEC_LANE_AGENT): %v", err)
	}
	return built
}

func build() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("no source path")
	}
	src := filepath.Join(filepath.Dir(self), "..", "..", "..", "sandbox", "lane", "lane.c")
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "codeexec-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "codeexec-lane-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	// As the Makefile's codeexec-lane target builds it.
	cmd := exec.Command(cc, "-O2", "-static", "-Wall", "-Wextra", "-o", tmp.Name(), src)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("%v: %s", err, out)
	}
	dst := filepath.Join(dir, "codeexec-lane")
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dst, nil
}
