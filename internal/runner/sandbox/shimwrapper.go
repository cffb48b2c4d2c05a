package sandbox

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// runcShim is containerd's runtime name of the runc shim, the one runtime
// codeexec-shim stands in for.
const runcShim = "io.containerd.runc.v2"

// shimRuntime returns the runtime name the manager's sandboxes are created
// with: the copy of the shim wrapper (Config.ShimWrapper) in the state
// directory, a path containerd sees (in a pod too), when the manager has
// one, drives the runc shim and talks to containerd 2.x; cfg.Runtime
// otherwise. The wrapper answers containerd 2.x's "delete" of a task the
// shared shim already removed, which otherwise costs a run of the shim
// binary and of the OCI runtime per sandbox (internal/shimwrap). Older
// containerds are left as they are: they start a shim per sandbox.
func shimRuntime(cfg Config, containerdVersion string) (string, error) {
	if cfg.ShimWrapper == "" || cfg.Runtime != runcShim || majorVersion(containerdVersion) < 2 {
		return cfg.Runtime, nil
	}
	dst := filepath.Join(cfg.StateDir, "codeexec-shim")
	if err := CopyExecutable(cfg.ShimWrapper, dst); err != nil {
		return "", fmt.Errorf("shim wrapper: %w", err)
	}
	return dst, nil
}

// majorVersion is the major number of a containerd version ("v2.4.2",
// "1.6.20~ds1"), or 0.
func majorVersion(v string) int {
	major, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}
