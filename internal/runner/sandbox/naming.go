package sandbox

import "strings"

// IsSandboxCgroup reports whether a cgroup is named like a sandbox
// container ("<uuid>-run", "<uuid>-compile", a shim host's "<uuid>-shim").
func IsSandboxCgroup(name string) bool {
	return strings.HasSuffix(name, "-run") || strings.HasSuffix(name, "-compile") || strings.HasSuffix(name, "-shim")
}
