// Package leftovers finds what codeexec's sandboxes left behind, from the
// outside: containers, tasks, snapshots, leases and sandbox records
// labelled by a manager in containerd, and on the host their job and FIFO
// directories, cgroups, processes, shims and mounts.
//
// It only reads: removing is the sandbox manager's (Reconcile at start,
// the janitor while it runs). The tests use it to prove that nothing
// leaks, and `codeexec leftovers` to check a namespace after a run or a
// crash. It knows the sandbox package's names and labels; the sandbox
// package knows nothing of it.
package leftovers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// Of lists, in words, what m has in flight or left behind: containers,
// tasks, snapshots, leases other than its own, job and FIFO directories,
// cgroups, processes and shims. Once m's sandboxes are all destroyed it is
// empty unless cleanup failed.
func Of(m *sandbox.Manager) []string {
	return leftovers(m.Client(), m.Config(), m.Owned())
}

// Left lists what a manager with configuration cfg left behind, without
// starting one (starting one would reconcile them away). It is for checking
// a service from the outside, after it stopped or crashed.
func Left(cfg sandbox.Config) ([]string, error) {
	c, err := sandbox.Dial(cfg.Socket, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return leftovers(c, cfg, nil), nil
}

// Namespace lists everything of any codeexec runner in cfg's
// namespace (cfg.StateDir is ignored): containers, tasks, snapshots,
// leases and sandbox records labelled by any runner, the namespace's
// sandbox cgroups, processes, shims and mounts. With no service running in
// the namespace it must be empty: `make test` runs it (`codeexec
// leftovers`) after the suite, passing or failing, so that a test whose
// teardown leaks fails the run even when its own check could not see it.
func Namespace(cfg sandbox.Config) ([]string, error) {
	c, err := sandbox.Dial(cfg.Socket, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := labelledLeftovers(c, cfg, fmt.Sprintf("labels.%q", sandbox.LabelOwner))
	out = append(out, hostLeftovers(cfg)...)
	return append(out, namespaceMounts(cfg.Namespace)...), nil
}

// namespaceMounts lists the host's mounts in a task bundle of namespace
// ns (<containerd state>/io.containerd.runtime.v2.task/<ns>/<id>/rootfs):
// a task's root file system, left mounted by a task never deleted.
func namespaceMounts(ns string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{"cannot list mounts: " + err.Error()}
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.Contains(f[4], "/io.containerd.runtime.v2.task/"+ns+"/") {
			out = append(out, "mount "+f[4])
		}
	}
	return out
}

// leftovers lists what Of and Left do; own names what a runner still open
// keeps for its whole life (its lease, root views and shim hosts, with their
// tasks, processes, cgroups, directories and shims): a line naming one of
// them is not a leftover.
func leftovers(c *client.Client, cfg sandbox.Config, own []string) []string {
	var out []string
	for _, line := range allLeftovers(c, cfg) {
		if othersShimHost(cfg, line) {
			// Another runner's, seen by the namespace-wide scans.
			continue
		}
		if !slices.ContainsFunc(own, func(id string) bool { return id != "" && strings.Contains(line, id) }) {
			out = append(out, line)
		}
	}
	return out
}

// allLeftovers lists everything of cfg's in containerd and on the host.
func allLeftovers(c *client.Client, cfg sandbox.Config) []string {
	out := labelledLeftovers(c, cfg, fmt.Sprintf("labels.%q==%q", sandbox.LabelOwner, cfg.StateDir))
	for _, dir := range []string{sandbox.JobsDir(cfg.StateDir), sandbox.FIFODir(cfg)} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			out = append(out, "file "+filepath.Join(dir, e.Name()))
		}
	}
	return append(out, hostLeftovers(cfg)...)
}

// labelledLeftovers lists the containers, tasks, snapshots, leases and
// sandbox records of cfg's namespace that match the containerd filter
// owned.
func labelledLeftovers(c *client.Client, cfg sandbox.Config, owned string) []string {
	var out []string
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), cfg.Namespace), 10*time.Second)
	defer cancel()
	cs, err := c.Containers(ctx, owned)
	if err != nil {
		out = append(out, "cannot list containers: "+err.Error())
	}
	for _, ctr := range cs {
		out = append(out, "container "+ctr.ID())
		if _, err := ctr.Task(ctx, nil); err == nil {
			out = append(out, "task "+ctr.ID())
		}
	}
	err = c.SnapshotService(cfg.Snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		out = append(out, "snapshot "+info.Name)
		return nil
	}, owned)
	if err != nil {
		out = append(out, "cannot list snapshots: "+err.Error())
	}
	ls, err := c.LeasesService().List(ctx, owned)
	if err != nil {
		out = append(out, "cannot list leases: "+err.Error())
	}
	for _, l := range ls {
		out = append(out, "lease "+l.ID)
	}
	sbs, err := c.SandboxStore().List(ctx, owned)
	if err != nil && !sandbox.IsUnimplemented(err) {
		out = append(out, "cannot list sandbox records: "+err.Error())
	}
	for _, sb := range sbs {
		out = append(out, "sandbox record "+sb.ID)
	}
	return out
}

// hostLeftovers lists the sandbox cgroups, processes and shims of cfg's
// namespace.
func hostLeftovers(cfg sandbox.Config) []string {
	var out []string
	for _, ctrl := range []string{"memory", "pids", "cpu", ""} {
		entries, _ := os.ReadDir(filepath.Join(cgroups.Root, ctrl, cfg.Namespace))
		for _, e := range entries {
			if e.IsDir() && sandbox.IsSandboxCgroup(e.Name()) {
				out = append(out, "cgroup "+filepath.Join(ctrl, cfg.Namespace, e.Name()))
			}
		}
	}
	out = append(out, SandboxProcesses(cfg.Namespace)...)
	for _, s := range sandbox.ShimProcesses(cfg) {
		out = append(out, fmt.Sprintf("shim %d (%s)", s.PID, s.ID))
	}
	return out
}

// SandboxProcesses lists host processes that live in a cgroup of namespace
// ns, that is, processes of some sandbox of this namespace still alive.
func SandboxProcesses(ns string) []string {
	var out []string
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join(p, "cgroup"))
		i := strings.Index(string(b), ":/"+ns+"/")
		if err != nil || i < 0 {
			continue
		}
		cgroup, _, _ := strings.Cut(string(b[i+1:]), "\n")
		cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		out = append(out, fmt.Sprintf("process %s in %s (%s)", filepath.Base(p), cgroup, strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return out
}

// othersShimHost reports whether a leftover line names a shim host of a
// manager other than cfg's.
func othersShimHost(cfg sandbox.Config, line string) bool {
	return strings.Contains(line, "-shim") && !strings.Contains(line, "-"+sandbox.OwnerTag(cfg)+"-shim")
}
