package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
)

// Reconcile removes everything an earlier instance with the same state
// directory left behind when it died: tasks (killed first), containers,
// sandbox records, snapshots, orphaned shims, leases, job directories and
// FIFO directories. It only touches objects
// labelled with this instance's owner label, so other instances sharing the
// namespace are left alone.
func (m *Manager) Reconcile(ctx context.Context) error {
	ctx = m.Context(ctx)
	var errs []error
	owned := fmt.Sprintf("labels.%q==%q", LabelOwner, m.cfg.StateDir)

	containers, err := m.client.Containers(ctx, owned)
	if err != nil {
		return Unavailable(fmt.Errorf("list containers: %w", err))
	}
	for _, c := range containers {
		if err := m.removeContainer(ctx, c.ID()); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.ID(), err))
			continue
		}
		m.log.Info("removed leftover container", "id", c.ID())
	}

	// Sandbox records of shim hosts, once no container names them.
	sbs, err := m.client.SandboxStore().List(ctx, owned)
	if err != nil && !IsUnimplemented(err) {
		errs = append(errs, fmt.Errorf("list sandbox records: %w", err))
	}
	for _, sb := range sbs {
		if err := m.client.SandboxStore().Delete(ctx, sb.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete sandbox record %s: %w", sb.ID, err))
		} else {
			m.log.Info("removed leftover sandbox record", "id", sb.ID)
		}
	}

	sn := m.client.SnapshotService(m.cfg.Snapshotter)
	var keys []string
	err = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		keys = append(keys, info.Name)
		return nil
	}, owned)
	if err != nil {
		errs = append(errs, fmt.Errorf("list snapshots: %w", err))
	}
	for _, k := range keys {
		if err := sn.Remove(ctx, k); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove snapshot %s: %w", k, err))
		} else {
			m.log.Info("removed leftover snapshot", "key", k)
		}
	}

	errs = append(errs, m.removeOrphanShims(ctx))

	ls, err := m.client.LeasesService().List(ctx, owned)
	if err != nil {
		errs = append(errs, fmt.Errorf("list leases: %w", err))
	}
	for _, l := range ls {
		if l.ID == m.lease {
			continue
		}
		if err := m.client.LeasesService().Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete lease %s: %w", l.ID, err))
		} else {
			m.log.Info("removed leftover lease", "id", l.ID)
		}
	}

	for _, dir := range []string{JobsDir(m.cfg.StateDir), FIFODir(m.cfg)} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeOrphanShims kills the shims of this containerd and namespace that
// serve a sandbox whose container no longer exists, with whatever still
// runs in that sandbox's cgroup, and removes the cgroup. containerd deletes
// the container only after the shim is shut down, so such a shim is one a
// crash stranded between the two; nobody will ever ask it to exit.
func (m *Manager) removeOrphanShims(ctx context.Context) error {
	var errs []error
	for _, s := range ShimProcesses(m.cfg) {
		_, err := m.client.LoadContainer(ctx, s.ID)
		if err == nil {
			continue
		}
		if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("look up container %s: %w", s.ID, err))
			continue
		}
		cg := "/" + m.cfg.Namespace + "/" + s.ID
		if err := cgroups.Kill(cgroups.Root, cg, 2*time.Second); err != nil {
			errs = append(errs, err)
		}
		if err := syscall.Kill(s.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill orphaned shim %d: %w", s.PID, err))
		}
		// What remains is reported by Leftovers.
		_ = cgroups.Remove(cgroups.Root, cg)
		m.log.Info("killed orphaned shim", "pid", s.PID, "id", s.ID)
	}
	return errors.Join(errs...)
}

// Shim is a containerd shim process serving one of cfg's sandboxes.
type Shim struct {
	PID int
	ID  string // the sandbox's container ID
}

// ShimProcesses finds the shims started by cfg's containerd for sandboxes
// of cfg's namespace, from their command lines ("containerd-shim-runc-v2
// -namespace NS -id ID -address SOCKET").
func ShimProcesses(cfg Config) []Shim {
	var out []Shim
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(b, []byte("containerd-shim")) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") ||
			argAfter(args, "-namespace") != cfg.Namespace || argAfter(args, "-address") != cfg.Socket {
			continue
		}
		id := argAfter(args, "-id")
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || !IsSandboxCgroup(id) {
			continue
		}
		out = append(out, Shim{PID: pid, ID: id})
	}
	return out
}

// argAfter returns the argument that follows flag in args, or "".
func argAfter(args []string, flag string) string {
	for i, a := range args[:max(len(args)-1, 0)] {
		if a == flag {
			return args[i+1]
		}
	}
	return ""
}
