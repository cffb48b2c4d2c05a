package oci

import (
	"github.com/containerd/containerd/v2/pkg/oci"
)

// Env is the whole environment of a sandboxed process.
var sandboxEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/tmp",
	"LANG=C.UTF-8",
	"TMPDIR=/tmp",
}

// Env returns the whole environment of a sandboxed process.
func Env() []string { return append([]string(nil), sandboxEnv...) }

// JobMountPoint is where the job directory appears inside the sandbox.
const JobMountPoint = "/job"

// Params describe one sandboxed process.
type Params struct {
	Limits      Limits
	Args        []string // the command line; Args[0] is resolved by the runtime
	Cwd         string   // working directory inside the sandbox
	JobDir      string   // host directory mounted at JobMountPoint
	JobReadOnly bool     // mount the job directory read-only
}

// Sandbox returns the options that turn containerd's default spec into a
// sandbox: every isolation property in one place, in the order they need.
func Sandbox(p Params) oci.SpecOpts {
	l := p.Limits
	return oci.Compose(
		WithReadonlyRootfs(),
		WithPrivateNamespaces(),
		WithPrivateNetwork(),
		WithHostname("sandbox"),
		WithUser(SandboxUID, SandboxGID),
		WithoutCapabilities(),
		WithNoNewPrivileges(),
		WithSeccomp(), // after WithoutCapabilities: the profile reads the capability sets
		WithCPU(l.CPUs),
		WithMemory(l.MemoryBytes),
		WithPids(l.Pids),
		WithOOMScoreAdj(1000),
		WithRlimits(l.FileSizeBytes, l.OpenFiles),
		WithTmpfs("/tmp", l.TmpBytes, l.TmpInodes),
		// containerd's /dev/shm caps bytes but not inodes: files without
		// data would still fill kernel memory.
		WithTmpfs("/dev/shm", l.TmpBytes, l.TmpInodes),
		WithBindMount(p.JobDir, JobMountPoint, p.JobReadOnly),
		WithEnv(sandboxEnv),
		WithArgs(p.Cwd, p.Args...),
	)
}
