// Package testbin gives tests the helper binaries that `make build` puts
// next to the service (the lane agent, the shim wrapper): the file an
// environment variable names, as `make test` sets it, or else one built
// once per test process from this checkout, into a directory of the user's
// cache that each build overwrites.
package testbin

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
	mu    sync.Mutex
	built = map[string]result{} // by binary name, for this test process
)

type result struct {
	path string
	err  error
}

// Path returns the file that the environment variable env names, or else
// the binary name built by the command that build returns, which must
// write it to the path it is given and runs in the checkout's top
// directory.
func Path(tb testing.TB, env, name string, build func(out string) *exec.Cmd) string {
	tb.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	mu.Lock()
	defer mu.Unlock()
	r, ok := built[name]
	if !ok {
		r.path, r.err = buildOnce(name, build)
		built[name] = r
	}
	if r.err != nil {
		tb.Fatalf("build %s (or set %s): %v", name, env, r.err)
	}
	return r.path
}

func buildOnce(name string, build func(out string) *exec.Cmd) (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("no source path")
	}
	repo := filepath.Join(filepath.Dir(self), "..", "..")
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "codeexec-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, name+"-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	cmd := build(tmp.Name())
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("%v: %s", err, out)
	}
	dst := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dst, nil
}
