package runner

import (
	"context"

	"github.com/codeexec/codeexec/internal/runner/leftovers"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

// Leftovers lists, in words, what r has in flight or left behind:
// containers, tasks, snapshots, leases other than its own, job and FIFO
// directories, cgroups, processes and shims. After Wait it is empty unless
// cleanup failed. Tests use it to prove that nothing leaks.
func (r *Runner) Leftovers() []string { return leftovers.Of(r.sb) }

// Reconcile removes everything an earlier instance with the same state
// directory left behind when it died (sandbox.Manager.Reconcile).
func (r *Runner) Reconcile(ctx context.Context) error { return r.sb.Reconcile(ctx) }

// Leftovers lists what a runner with configuration cfg left behind, without
// starting one (starting one would reconcile them away). It is for checking
// a service from the outside, after it stopped or crashed.
func Leftovers(cfg Config) ([]string, error) { return leftovers.Left(cfg.sandbox()) }

// NamespaceLeftovers lists everything of any codeexec runner in cfg's
// namespace (leftovers.Namespace): `make test` runs it (`codeexec
// leftovers`) after the suite, passing or failing.
func NamespaceLeftovers(cfg Config) ([]string, error) {
	return leftovers.Namespace(cfg.sandbox())
}

// jobsDir is the directory of cfg's job directories.
func jobsDir(cfg Config) string { return sandbox.JobsDir(cfg.StateDir) }
