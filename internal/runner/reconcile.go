package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
)

// Reconcile removes everything an earlier instance with the same state
// directory left behind when it died: tasks (killed first), containers,
// snapshots, job directories and FIFO directories. It only touches objects
// labelled with this instance's owner label, so other instances sharing the
// namespace are left alone.
func (r *Runner) Reconcile(ctx context.Context) error {
	ctx = r.nsContext(ctx)
	var errs []error
	owned := fmt.Sprintf("labels.%q==%q", LabelOwner, r.cfg.StateDir)

	containers, err := r.client.Containers(ctx, owned)
	if err != nil {
		return unavailable(fmt.Errorf("list containers: %w", err))
	}
	for _, c := range containers {
		if t, err := c.Task(ctx, nil); err == nil {
			if err := t.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("kill task %s: %w", c.ID(), err))
			}
			if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete task %s: %w", c.ID(), err))
			}
		} else if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("load task %s: %w", c.ID(), err))
		}
		if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", c.ID(), err))
		}
		r.log.Info("removed leftover container", "id", c.ID())
	}

	sn := r.client.SnapshotService(r.cfg.Snapshotter)
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
			r.log.Info("removed leftover snapshot", "key", k)
		}
	}

	for _, dir := range []string{jobsDir(r.cfg), fifoDir(r.cfg)} {
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
