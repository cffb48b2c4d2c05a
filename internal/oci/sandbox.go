package oci

import (
	"context"

	"github.com/containerd/containerd/v2/core/containers"
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

// DataMountPoint is where a sandbox that serves many runs sees the files a
// run is given (a checker's input, output and answer), read-only. It is in
// the /run tmpfs of containerd's default spec, where the runtime can create
// the mount point whatever the image holds; the sandbox user cannot write
// there.
const DataMountPoint = "/run/data"

// FeedbackMountPoint is where an output validator's sandbox sees its
// feedback directory (the Kattis format's feedback_dir), writable: the one
// place outside the scratch mounts where a run may write, read back by the
// service after the run. Only a problem's validator gets one.
const FeedbackMountPoint = "/run/feedback"

// AnchorUID is the identity of the idle init of a sandbox that serves many
// runs: not SandboxUID, so that no run can signal it or read its memory.
const AnchorUID = 65534

// Params describe one sandboxed process.
type Params struct {
	Limits      Limits
	Args        []string // the command line; Args[0] is resolved by the runtime
	Cwd         string   // working directory inside the sandbox
	JobDir      string   // host directory mounted at JobMountPoint
	JobReadOnly bool     // mount the job directory read-only
	DataDir     string   // host directory mounted read-only at DataMountPoint; none if empty
	FeedbackDir string   // host directory mounted read-write at FeedbackMountPoint; none if empty
	Anchor      bool     // the process is the idle init of a sandbox serving many runs: it runs as AnchorUID
	SpecVersion string   // the runtime-spec version the spec declares; containerd's own if empty
	RootPath    string   // host directory that is the root filesystem; the task's snapshot (bundle's rootfs) if empty
}

// Sandbox returns the options that turn containerd's default spec into a
// sandbox: every isolation property in one place, in the order they need.
func Sandbox(p Params) oci.SpecOpts {
	l := p.Limits
	return oci.Compose(
		WithRootPath(p.RootPath),
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
		WithRlimits(l.FileSizeBytes, l.OpenFiles, uint64(l.MemoryBytes)),
		WithTmpfs("/tmp", l.TmpBytes, l.TmpInodes),
		// containerd's /dev/shm caps bytes but not inodes: files without
		// data would still fill kernel memory.
		WithTmpfs("/dev/shm", l.TmpBytes, l.TmpInodes),
		WithBindMount(p.JobDir, JobMountPoint, p.JobReadOnly),
		withDataDir(p.DataDir),
		withFeedbackDir(p.FeedbackDir),
		withAnchor(p.Anchor),
		WithEnv(sandboxEnv),
		WithArgs(p.Cwd, p.Args...),
		WithSpecVersion(p.SpecVersion),
	)
}

// withDataDir mounts dir read-only at DataMountPoint; it is a no-op for an
// empty dir.
func withDataDir(dir string) oci.SpecOpts {
	if dir == "" {
		return func(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }
	}
	return WithBindMount(dir, DataMountPoint, true)
}

// withFeedbackDir mounts dir read-write at FeedbackMountPoint; it is a
// no-op for an empty dir.
func withFeedbackDir(dir string) oci.SpecOpts {
	if dir == "" {
		return func(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }
	}
	return WithBindMount(dir, FeedbackMountPoint, false)
}

// withAnchor runs the process as AnchorUID when anchor is set; it is a
// no-op otherwise. Processes started into the sandbox later name their own
// user (SandboxUID).
func withAnchor(anchor bool) oci.SpecOpts {
	if !anchor {
		return func(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }
	}
	return WithUser(AnchorUID, AnchorUID)
}
