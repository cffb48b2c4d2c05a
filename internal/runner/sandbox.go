package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	prestart bool // start the process at once (it waits on a FIFO)
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

// prepared is a sandbox whose container and task exist, ready to run one
// process once. A prestarted one already runs its process, which waits for
// its source file (a FIFO) to be fed; otherwise the task is created but not
// started.
type prepared struct {
	id        string
	task      client.Task
	exitCh    <-chan client.ExitStatus
	stdinR    *io.PipeReader
	stdinW    *io.PipeWriter
	stdout    *capWriter
	stderr    *capWriter
	overflow  chan struct{}
	launched  bool         // the process runs and waits for feed
	feed      func() error // writes the program into the prestarted process's FIFO
	limits    oci.Limits
	timeout   time.Duration
	created   time.Time
	prepTime  time.Duration
	cgroup    string
	destroyed sync.Once
	td        teardown
}

// prepare creates the container and task of sp, wires its IO to the
// service, and registers Wait, so that run only has to start the clock.
// With sp.prestart set it also starts the process. On error,
// everything it created is removed before it returns.
func (r *Runner) prepare(reqCtx context.Context, sp sandboxSpec) (_ *prepared, retErr error) {
	// The containerd calls run on a context the caller cannot cancel: a call
	// cancelled half-way can leave a container or task behind that this
	// function holds no handle to. Cancellation is checked at the end.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.nsContext(reqCtx)), cleanupTimeout)
	defer cancel()
	img := r.images[sp.lang.Name]
	labels := map[string]string{LabelManaged: "true", LabelOwner: r.cfg.StateDir, LabelJob: sp.job}
	p := &prepared{id: sp.id, limits: sp.limits, timeout: sp.timeout, created: time.Now(),
		cgroup: "/" + r.cfg.Namespace + "/" + sp.id, overflow: make(chan struct{})}
	defer func() {
		if retErr != nil {
			p.destroy()
		}
	}()

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
	p.td.add(func() {
		cctx, cancel := r.cleanupContext()
		defer cancel()
		if err := container.Delete(cctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			r.log.Error("delete container; start-up reconciliation will retry", "id", sp.id, "err", err)
		}
	})

	var killOnce sync.Once
	onExceed := func() { killOnce.Do(func() { close(p.overflow) }) }
	p.stdout = newCapWriter(r.cfg.OutputBytes, onExceed)
	p.stderr = newCapWriter(r.cfg.OutputBytes, onExceed)
	// Stdin is a pipe the service writes when the run starts. Teardown
	// closes its read end, so a writer blocked on a program that never
	// reads its input is released.
	p.stdinR, p.stdinW = io.Pipe()
	p.td.add(func() { p.stdinR.CloseWithError(errSandboxGone) })

	task, err := container.NewTask(ctx, cio.NewCreator(
		cio.WithStreams(p.stdinR, p.stdout, p.stderr),
		cio.WithFIFODir(fifoDir(r.cfg)),
	))
	if err != nil {
		return nil, unavailable(fmt.Errorf("create task: %w", err))
	}
	p.task = task
	p.td.add(func() {
		cctx, cancel := r.cleanupContext()
		defer cancel()
		// WithProcessKill kills a task that is still running; Delete also
		// waits for the IO copy and removes the FIFO directory.
		if _, err := task.Delete(cctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Error("delete task; start-up reconciliation will retry", "id", sp.id, "err", err)
		}
	})

	// Wait is registered before Start so the exit cannot be missed, on a
	// context that neither a timeout nor a client can cancel: after a kill
	// the exit status must still arrive. Teardown cancels it.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	p.td.add(cancelWait)
	p.exitCh, err = task.Wait(waitCtx)
	if err != nil {
		return nil, unavailable(fmt.Errorf("wait for task: %w", err))
	}
	if sp.prestart {
		if err := p.start(ctx); err != nil {
			return nil, err
		}
		p.launched = true
	}
	if err := reqCtx.Err(); err != nil {
		return nil, err
	}
	p.prepTime = time.Since(p.created)
	return p, nil
}

var errSandboxGone = errors.New("sandbox removed")

// start starts the task and closes the shim's hold on stdin, so the
// program sees EOF as soon as the service closes its end.
func (p *prepared) start(ctx context.Context) error {
	if err := p.task.Start(ctx); err != nil {
		return unavailable(fmt.Errorf("start task: %w", err))
	}
	if err := p.task.CloseIO(ctx, client.WithStdinCloser); err != nil {
		return unavailable(fmt.Errorf("close stdin: %w", err))
	}
	return nil
}

// setLimits sets the wall-clock limit and the output caps of a sandbox
// whose program has not started (or, prestarted, has not been fed).
func (p *prepared) setLimits(timeout time.Duration, output int) {
	p.timeout = timeout
	p.stdout.setMax(output)
	p.stderr.setMax(output)
}

// alive reports, without blocking, that the sandbox's task has not exited
// and its shim still answers: an exit status or a broken Wait stream on
// exitCh means it cannot be used.
func (p *prepared) alive() bool {
	select {
	case <-p.exitCh:
		return false
	default:
		return true
	}
}

// destroy kills and removes the sandbox. It is safe to call more than once.
func (p *prepared) destroy() {
	p.destroyed.Do(p.td.run)
}

// run starts the program (or feeds the prestarted one its source), feeds it
// stdin, and waits for it to exit, hit its wall-clock limit, overflow its
// output, or be abandoned by ctx. Every process of the sandbox is dead when
// run returns; removing the sandbox is left to destroy.
func (r *Runner) run(ctx context.Context, p *prepared, stdin string) (*execution, error) {
	ctx = r.nsContext(ctx)
	e := &execution{prepared: p.prepTime}
	var cpuBefore int64
	if !p.launched {
		if err := p.start(ctx); err != nil {
			return nil, err
		}
	} else {
		// The interpreter's own start-up is not the program's CPU time.
		cpuBefore = readCgroupStats(cgroupRoot, p.cgroup).CPUTimeNanos
	}
	start := time.Now()
	if p.feed != nil {
		go func() {
			if err := p.feed(); err != nil {
				r.log.Warn("feed source to prestarted sandbox", "id", p.id, "err", err)
			}
		}()
	}
	go func() {
		// Write errors mean the program exited or was removed first.
		_, _ = io.WriteString(p.stdinW, stdin)
		p.stdinW.Close()
	}()

	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	var status client.ExitStatus
	var gone, exited bool
	select {
	case status = <-p.exitCh:
		exited = true
	case <-timer.C:
		e.timedOut = true
	case <-p.overflow:
	case <-ctx.Done():
		gone = true
	}
	if !exited {
		// SIGKILL to init ends the whole PID namespace; WithKillAll is the
		// backstop for anything that escaped into another namespace.
		kctx, cancel := r.cleanupContext()
		if err := p.task.Kill(kctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("kill task", "id", p.id, "err", err)
		}
		cancel()
		select {
		case status = <-p.exitCh:
		case <-time.After(cleanupTimeout):
			return nil, fmt.Errorf("task %s did not exit %s after SIGKILL", p.id, cleanupTimeout)
		}
	}
	e.elapsed = time.Since(start)
	if err := status.Error(); err != nil {
		return nil, unavailable(fmt.Errorf("task exit status: %w", err))
	}
	// Read the cgroup before task.Delete removes it.
	e.stats = readCgroupStats(cgroupRoot, p.cgroup)
	e.stats.CPUTimeNanos = max(e.stats.CPUTimeNanos-cpuBefore, 0)
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
	if io := p.task.IO(); io != nil {
		io.Wait()
	}
	e.stdout, e.stdoutTruncated = p.stdout.Result()
	e.stderr, e.stderrTruncated = p.stderr.Result()
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
