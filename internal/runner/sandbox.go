package runner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// sandboxSpec describes one process to run in one fresh container.
type sandboxSpec struct {
	id       string // container ID
	job      string // job UUID, for labels
	lang     Language
	args     []string
	cwd      string
	jobDir   string
	writable bool // mount the job directory read-write
	stdin    string
	limits   oci.Limits
	timeout  time.Duration
}

// execution is what one sandboxed process did.
type execution struct {
	stdout, stderr                   string
	stdoutTruncated, stderrTruncated bool
	exitCode                         *int
	signal                           string
	timedOut                         bool
	elapsed                          time.Duration
	stats                            cgroupStats
	prepared                         time.Duration // container and task creation
}

// classify maps an execution to a Status. Output overflow wins because the
// service killed the program for it; then the wall-clock kill; then the OOM
// killer; then the exit code. Output on stderr alone is not a failure.
func (e *execution) classify() Status {
	switch {
	case e.stdoutTruncated || e.stderrTruncated:
		return StatusOutputLimitExceeded
	case e.timedOut:
		return StatusTimeout
	case e.stats.OOMKills > 0:
		return StatusMemoryLimitExceeded
	case e.exitCode != nil && *e.exitCode == 0:
		return StatusSuccess
	default:
		return StatusRuntimeError
	}
}

// cleanupTimeout bounds the removal of one sandbox's resources.
const cleanupTimeout = 30 * time.Second

// sandbox creates a container for sp and runs it to completion or to its
// limit. It registers the deletion of the task, the container and its
// snapshot with td, which runs them on contexts of their own once the
// result is out, so cleanup happens even when ctx is cancelled, and its
// latency is not the client's. Every process of the sandbox is dead when
// sandbox returns.
func (r *Runner) sandbox(ctx context.Context, sp sandboxSpec, td *teardown) (*execution, error) {
	ctx = r.nsContext(ctx)
	img := r.images[sp.lang.Name]
	labels := map[string]string{LabelManaged: "true", LabelOwner: r.cfg.StateDir, LabelJob: sp.job}
	t0 := time.Now()

	container, err := r.client.NewContainer(ctx, sp.id,
		client.WithContainerLabels(labels),
		client.WithSnapshotter(r.cfg.Snapshotter),
		// A view is a read-only snapshot: no writable layer to create or remove.
		client.WithNewSnapshotView(sp.id, img, snapshots.WithLabels(labels)),
		client.WithRuntime(r.cfg.Runtime, nil),
		client.WithNewSpec(oci.Sandbox(oci.Params{
			Limits:      sp.limits,
			Args:        sp.args,
			Cwd:         sp.cwd,
			JobDir:      sp.jobDir,
			JobReadOnly: !sp.writable,
		})),
	)
	if err != nil {
		// NewContainer may have created the snapshot before failing.
		r.removeSnapshot(sp.id)
		return nil, unavailable(fmt.Errorf("create container: %w", err))
	}
	td.add(func() {
		cctx, cancel := r.cleanupContext()
		defer cancel()
		if err := container.Delete(cctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			r.log.Error("delete container; start-up reconciliation will retry", "id", sp.id, "err", err)
		}
	})

	e := &execution{}
	var killOnce sync.Once
	overflow := make(chan struct{})
	onExceed := func() { killOnce.Do(func() { close(overflow) }) }
	stdout := newCapWriter(r.cfg.OutputBytes, onExceed)
	stderr := newCapWriter(r.cfg.OutputBytes, onExceed)

	task, err := container.NewTask(ctx, cio.NewCreator(
		cio.WithStreams(strings.NewReader(sp.stdin), stdout, stderr),
		cio.WithFIFODir(fifoDir(r.cfg)),
	))
	if err != nil {
		return nil, unavailable(fmt.Errorf("create task: %w", err))
	}
	td.add(func() {
		cctx, cancel := r.cleanupContext()
		defer cancel()
		// WithProcessKill kills a task that is somehow still running; Delete
		// also waits for the IO copy and removes the FIFO directory.
		if _, err := task.Delete(cctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Error("delete task; start-up reconciliation will retry", "id", sp.id, "err", err)
		}
	})

	// Wait is called before Start so the exit cannot be missed, and on a
	// context that neither the timeout nor the client can cancel: after a
	// kill the exit status must still arrive.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	exitCh, err := task.Wait(waitCtx)
	if err != nil {
		return nil, unavailable(fmt.Errorf("wait for task: %w", err))
	}
	e.prepared = time.Since(t0)
	if err := task.Start(ctx); err != nil {
		return nil, unavailable(fmt.Errorf("start task: %w", err))
	}
	start := time.Now()
	// Stdin reaches EOF only once the copy ends and the shim closes its end.
	if err := task.CloseIO(ctx, client.WithStdinCloser); err != nil {
		r.log.Warn("close stdin", "id", sp.id, "err", err)
	}

	timer := time.NewTimer(sp.timeout)
	defer timer.Stop()
	var status client.ExitStatus
	var gone, exited bool
	select {
	case status = <-exitCh:
		exited = true
	case <-timer.C:
		e.timedOut = true
	case <-overflow:
	case <-ctx.Done():
		gone = true
	}
	if !exited {
		// SIGKILL to init ends the whole PID namespace; WithKillAll is the
		// backstop for anything that escaped into another namespace.
		kctx, cancel := r.cleanupContext()
		if err := task.Kill(kctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("kill task", "id", sp.id, "err", err)
		}
		cancel()
		select {
		case status = <-exitCh:
		case <-time.After(cleanupTimeout):
			return nil, fmt.Errorf("task %s did not exit %s after SIGKILL", sp.id, cleanupTimeout)
		}
	}
	e.elapsed = time.Since(start)
	if err := status.Error(); err != nil {
		return nil, unavailable(fmt.Errorf("task exit status: %w", err))
	}
	// Read the cgroup before task.Delete removes it.
	e.stats = readCgroupStats(cgroupRoot, "/"+r.cfg.Namespace+"/"+sp.id)
	if gone {
		return nil, context.Cause(ctx)
	}

	code := int(status.ExitCode())
	if sig, ok := exitSignal(code); ok {
		e.signal = sig
	} else {
		e.exitCode = &code
	}
	// Output is complete only once the copy has drained. Every process of
	// the sandbox is gone, so the pipes reach EOF promptly.
	if io := task.IO(); io != nil {
		io.Wait()
	}
	e.stdout, e.stdoutTruncated = stdout.Result()
	e.stderr, e.stderrTruncated = stderr.Result()
	return e, nil
}

// exitSignal decodes the 128+N convention of tini and shells: an exit status
// above 128 that names a signal means the program was killed by it. A
// program that itself exits with such a status is reported the same way.
func exitSignal(code int) (string, bool) {
	if code <= 128 || code > 128+64 {
		return "", false
	}
	name := unix.SignalName(syscall.Signal(code - 128))
	if name == "" {
		return "", false
	}
	return name, true
}

func (r *Runner) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.nsContext(context.Background()), cleanupTimeout)
}

// removeSnapshot removes the snapshot key if it exists.
func (r *Runner) removeSnapshot(key string) {
	ctx, cancel := r.cleanupContext()
	defer cancel()
	err := r.client.SnapshotService(r.cfg.Snapshotter).Remove(ctx, key)
	if err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("remove snapshot", "key", key, "err", err)
	}
}

// teardown is a stack of cleanup steps, run in reverse order of addition.
type teardown struct{ fns []func() }

func (t *teardown) add(f func()) { t.fns = append(t.fns, f) }

func (t *teardown) run() {
	for i := len(t.fns) - 1; i >= 0; i-- {
		t.fns[i]()
	}
}
