package oci

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// apply runs opt on an empty spec with nil dependencies, as containerd's own
// option tests do.
func apply(t *testing.T, opt oci.SpecOpts) *oci.Spec {
	t.Helper()
	s := &oci.Spec{}
	if err := opt(context.Background(), nil, nil, s); err != nil {
		t.Fatalf("option failed on an empty spec: %v", err)
	}
	return s
}

func TestWithReadonlyRootfs(t *testing.T) {
	s := apply(t, WithReadonlyRootfs())
	if s.Root == nil || !s.Root.Readonly {
		t.Fatalf("got root %+v, want read-only", s.Root)
	}
}

func TestWithPrivateNetwork(t *testing.T) {
	t.Run("adds an empty network namespace to an empty spec", func(t *testing.T) {
		s := apply(t, WithPrivateNetwork())
		if got, want := s.Linux.Namespaces, []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}; !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("replaces a namespace that joins the host's network", func(t *testing.T) {
		s := &oci.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"},
		}}}
		if err := WithPrivateNetwork()(context.Background(), nil, nil, s); err != nil {
			t.Fatal(err)
		}
		if got, want := s.Linux.Namespaces, []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}; !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestWithPrivateNamespaces(t *testing.T) {
	s := &oci.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace, Path: "/proc/1/ns/pid"}}}}
	if err := WithPrivateNamespaces()(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace} {
		n := 0
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == want {
				n++
				if ns.Path != "" {
					t.Errorf("%s namespace joins %q, want a new one", want, ns.Path)
				}
			}
		}
		if n != 1 {
			t.Errorf("got %d %s namespaces, want 1", n, want)
		}
	}
}

func TestWithHostname(t *testing.T) {
	if got := apply(t, WithHostname("sandbox")).Hostname; got != "sandbox" {
		t.Fatalf("got %q, want sandbox", got)
	}
}

func TestWithoutCapabilities(t *testing.T) {
	c := apply(t, WithoutCapabilities()).Process.Capabilities
	if c == nil {
		t.Fatal("capabilities are nil; runc would keep its defaults")
	}
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable, "permitted": c.Permitted, "ambient": c.Ambient} {
		if set == nil || len(set) != 0 {
			t.Errorf("%s set is %v, want empty", name, set)
		}
	}
}

func TestWithNoNewPrivileges(t *testing.T) {
	if !apply(t, WithNoNewPrivileges()).Process.NoNewPrivileges {
		t.Fatal("no_new_privileges not set")
	}
}

func TestWithUser(t *testing.T) {
	u := apply(t, WithUser(10001, 10001)).Process.User
	if u.UID != 10001 || u.GID != 10001 || !slices.Equal(u.AdditionalGids, []uint32{10001}) {
		t.Fatalf("got %+v, want 10001:10001 and no other group", u)
	}
}

func TestWithSeccomp(t *testing.T) {
	s := apply(t, WithSeccomp())
	p := s.Linux.Seccomp
	if p == nil {
		t.Fatal("no seccomp profile")
	}
	if p.DefaultAction != specs.ActErrno {
		t.Errorf("default action %q, want %q", p.DefaultAction, specs.ActErrno)
	}
	if slices.Contains(p.Architectures, specs.ArchX86) || slices.Contains(p.Architectures, specs.ArchX32) {
		t.Errorf("architectures %v allow the 32-bit syscall entry", p.Architectures)
	}
	for _, sc := range p.Syscalls {
		for _, name := range sc.Names {
			if strings.HasPrefix(name, "io_uring") || name == "mount" || name == "unshare" || name == "ptrace" || name == "keyctl" {
				if sc.Action == specs.ActAllow {
					t.Errorf("%s is allowed to a process without capabilities", name)
				}
			}
		}
	}
}

func TestWithCPU(t *testing.T) {
	cpu := apply(t, WithCPU(1)).Linux.Resources.CPU
	if *cpu.Quota != 100_000 || *cpu.Period != 100_000 {
		t.Fatalf("got quota %d period %d, want one core", *cpu.Quota, *cpu.Period)
	}
}

func TestWithMemory(t *testing.T) {
	m := apply(t, WithMemory(256<<20)).Linux.Resources.Memory
	if *m.Limit != 256<<20 || *m.Swap != 256<<20 {
		t.Fatalf("got limit %d swap %d, want both 256 MiB", *m.Limit, *m.Swap)
	}
	if *m.DisableOOMKiller {
		t.Fatal("the OOM killer is disabled; a memory bomb would hang instead of dying")
	}
}

func TestWithPids(t *testing.T) {
	if got := *apply(t, WithPids(64)).Linux.Resources.Pids.Limit; got != 64 {
		t.Fatalf("got %d, want 64", got)
	}
}

func TestWithOOMScoreAdj(t *testing.T) {
	if got := *apply(t, WithOOMScoreAdj(1000)).Process.OOMScoreAdj; got != 1000 {
		t.Fatalf("got %d, want 1000", got)
	}
}

func TestWithRlimits(t *testing.T) {
	got := apply(t, WithRlimits(1<<20, 64, 256<<20)).Process.Rlimits
	want := []specs.POSIXRlimit{
		{Type: "RLIMIT_CORE"},
		{Type: "RLIMIT_FSIZE", Hard: 1 << 20, Soft: 1 << 20},
		{Type: "RLIMIT_NOFILE", Hard: 64, Soft: 64},
		{Type: "RLIMIT_STACK", Hard: 256 << 20, Soft: 256 << 20},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestWithBindMount(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readOnly bool
		want     string
	}{
		{"a read-only mount carries ro", true, "ro"},
		{"a writable mount carries rw", false, "rw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := apply(t, WithBindMount("/host/job", "/job", tc.readOnly)).Mounts
			if len(m) != 1 || m[0].Source != "/host/job" || m[0].Destination != "/job" || m[0].Type != "bind" {
				t.Fatalf("got %+v", m)
			}
			for _, o := range []string{"bind", "nosuid", "nodev", tc.want} {
				if !slices.Contains(m[0].Options, o) {
					t.Errorf("options %v lack %q", m[0].Options, o)
				}
			}
			if slices.Contains(m[0].Options, "rbind") {
				t.Error("rbind would expose submounts of the job directory")
			}
		})
	}
}

func TestWithTmpfs(t *testing.T) {
	s := &oci.Spec{Mounts: []specs.Mount{{Destination: "/tmp", Type: "bind", Source: "/tmp"}}}
	if err := WithTmpfs("/tmp", 1<<20, 100)(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Type != "tmpfs" {
		t.Fatalf("got %+v, want the bind replaced by one tmpfs", s.Mounts)
	}
	for _, o := range []string{"size=1048576", "nr_inodes=100", "noexec", "nosuid", "nodev"} {
		if !slices.Contains(s.Mounts[0].Options, o) {
			t.Errorf("options %v lack %q", s.Mounts[0].Options, o)
		}
	}
}

func TestWithEnv(t *testing.T) {
	s := &oci.Spec{Process: &specs.Process{Env: []string{"SECRET=1"}}}
	if err := WithEnv([]string{"PATH=/bin"})(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Env, []string{"PATH=/bin"}) {
		t.Fatalf("got %v, want only PATH", s.Process.Env)
	}
}

func TestWithRootPath(t *testing.T) {
	t.Run("sets the root to a host directory", func(t *testing.T) {
		if s := apply(t, WithRootPath("/layers/1/fs")); s.Root == nil || s.Root.Path != "/layers/1/fs" {
			t.Fatalf("got root %+v", s.Root)
		}
	})
	t.Run("keeps the bundle's rootfs when empty", func(t *testing.T) {
		s := &oci.Spec{Root: &specs.Root{Path: "rootfs"}}
		if err := WithRootPath("")(context.Background(), nil, nil, s); err != nil {
			t.Fatal(err)
		}
		if s.Root.Path != "rootfs" {
			t.Fatalf("got root %+v", s.Root)
		}
	})
	t.Run("a shared root is still read-only in the sandbox", func(t *testing.T) {
		s := apply(t, Sandbox(Params{RootPath: "/layers/1/fs", JobDir: "/jobs/1"}))
		if s.Root.Path != "/layers/1/fs" || !s.Root.Readonly {
			t.Fatalf("got root %+v", s.Root)
		}
	})
}

func TestWithSpecVersion(t *testing.T) {
	t.Run("sets the declared version", func(t *testing.T) {
		if got := apply(t, WithSpecVersion(CompatSpecVersion)).Version; got != CompatSpecVersion {
			t.Fatalf("got version %q, want %q", got, CompatSpecVersion)
		}
	})
	t.Run("keeps the version of a spec when empty", func(t *testing.T) {
		s := &oci.Spec{Version: specs.Version}
		if err := WithSpecVersion("")(context.Background(), nil, nil, s); err != nil {
			t.Fatal(err)
		}
		if s.Version != specs.Version {
			t.Fatalf("got version %q, want %q", s.Version, specs.Version)
		}
	})
}

func TestWithArgs(t *testing.T) {
	p := apply(t, WithArgs("/job", "python3", "main.py")).Process
	if p.Cwd != "/job" || !slices.Equal(p.Args, []string{"python3", "main.py"}) {
		t.Fatalf("got cwd %q args %v", p.Cwd, p.Args)
	}
}

// TestSandboxOverDefaultSpec applies Sandbox to the spec containerd generates,
// as the runner does, and checks the properties that matter together.
func TestSandboxOverDefaultSpec(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "test")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c1"}, Sandbox(Params{
		Limits: DefaultLimits(), Args: []string{"python3", "/job/main.py"}, Cwd: "/tmp",
		JobDir: "/var/lib/x/jobs/1", JobReadOnly: true,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Process.Capabilities.Bounding) != 0 {
		t.Errorf("bounding set %v, want empty", s.Process.Capabilities.Bounding)
	}
	if s.Linux.Seccomp == nil {
		t.Error("no seccomp profile")
	} else {
		for _, sc := range s.Linux.Seccomp.Syscalls {
			if sc.Action == specs.ActAllow && slices.Contains(sc.Names, "mount") {
				t.Error("mount is allowed: the profile was built before the capabilities were dropped")
			}
		}
	}
	if s.Process.User.UID != SandboxUID || !s.Root.Readonly || !s.Process.NoNewPrivileges {
		t.Errorf("user %d, readonly %v, nnp %v", s.Process.User.UID, s.Root.Readonly, s.Process.NoNewPrivileges)
	}
	if !slices.ContainsFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.NetworkNamespace && ns.Path == "" }) {
		t.Error("no private network namespace")
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") {
		t.Error("containerd's masked paths were lost")
	}
	if got := s.Linux.CgroupsPath; got != "/test/c1" {
		t.Errorf("cgroups path %q, want /test/c1", got)
	}
	for _, e := range s.Process.Env {
		if strings.HasPrefix(e, "HOSTNAME=") {
			t.Errorf("env carries %q", e)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	l := DefaultLimits()
	l.MemoryBytes = 1 << 20
	l.Pids = 0
	err := l.Validate()
	if err == nil || !strings.Contains(err.Error(), "memory") || !strings.Contains(err.Error(), "pids") {
		t.Fatalf("got %v, want errors naming memory and pids", err)
	}
}

func TestSandboxAnchorAndDataDir(t *testing.T) {
	t.Run("an anchor runs as AnchorUID and sees the data directory read-only", func(t *testing.T) {
		s := apply(t, Sandbox(Params{Limits: DefaultLimits(), Args: []string{"/bin/true"}, Cwd: "/", JobDir: "/j", DataDir: "/d", Anchor: true}))
		if s.Process.User.UID != AnchorUID {
			t.Errorf("uid %d, want %d", s.Process.User.UID, AnchorUID)
		}
		m := mountAt(s, DataMountPoint)
		if m == nil || m.Source != "/d" || !slices.Contains(m.Options, "ro") {
			t.Errorf("data mount %+v", m)
		}
	})
	t.Run("an ordinary sandbox runs as SandboxUID with no data directory", func(t *testing.T) {
		s := apply(t, Sandbox(Params{Limits: DefaultLimits(), Args: []string{"/bin/true"}, Cwd: "/", JobDir: "/j"}))
		if s.Process.User.UID != SandboxUID || mountAt(s, DataMountPoint) != nil {
			t.Errorf("uid %d, data mount %+v", s.Process.User.UID, mountAt(s, DataMountPoint))
		}
	})
}

func mountAt(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}
