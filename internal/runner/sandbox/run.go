package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Spec describes one process to run in one fresh container.
type Spec struct {
	ID       string // container ID
	Job      string // job UUID, for labels
	Image    string // a name of Config.Images
	Args     []string
	Cwd      string
	JobDir   string
	Writable bool   // mount the job directory read-write
	Prestart bool   // start the process at once (it waits on a FIFO)
	Anchor   bool   // the process is the idle init of a shim host (oci.Params.Anchor)
	DataDir  string // host directory mounted read-only at oci.DataMountPoint, or ""
	// FeedbackDir is a host directory mounted read-write at
	// oci.FeedbackMountPoint, or "": an output validator's feedback.
	FeedbackDir string
	// NoShimHost starts a shim of the sandbox's own (a shim host's anchor,
	// the runtime probe, a judge lane) instead of joining a shim host's.
	NoShimHost bool
	NullIO     bool // the process's stdio is /dev/null: no FIFOs (an idle anchor that is never run)
	// Stdout, when set, gets the process's stdout uncapped (a lane agent's
	// frames) instead of the sandbox's capped output.
	Stdout  io.Writer
	Limits  oci.Limits
	Timeout time.Duration
}

// Execution is what one sandboxed process did.
type Execution struct {
	Stdout, Stderr                   string
	StdoutTruncated, StderrTruncated bool
	ExitCode                         *int // nil when a signal killed the process
	Signal                           string
	TimedOut                         bool // killed at its wall-clock limit
	Elapsed                          time.Duration
	Stats                            cgroups.Stats
	Prepared                         time.Duration // container and task creation
}

// Failed reports whether the process did not end by itself with exit
// status 0.
func (e *Execution) Failed() bool {
	return e.TimedOut || e.ExitCode == nil || *e.ExitCode != 0
}

// SetExit records an exit status as containerd reports it: an exit code,
// or the signal that killed the process (the 128+N convention, ExitSignal).
func (e *Execution) SetExit(status uint32) {
	code := int(status)
	if sig, ok := ExitSignal(code); ok {
		e.Signal = sig
	} else {
		e.ExitCode = &code
	}
}

// CleanupTimeout bounds the removal of one sandbox's resources.
const CleanupTimeout = 30 * time.Second

// Sandbox is a sandbox whose container and task exist, ready to run one
// process once. A prestarted one already runs its process, which waits for
// its source file (a FIFO) to be fed; otherwise the task is created but not
// started.
type Sandbox struct {
	id       string
	task     client.Task
	exitCh   <-chan client.ExitStatus
	stdinR   *io.PipeReader
	stdinW   *io.PipeWriter
	stdout   *CapWriter
	stderr   *CapWriter
	overflow chan struct{}
	launched bool         // the process runs and waits for feed
	feed     func() error // writes the program into the prestarted process's FIFO
	limits   oci.Limits
	timeout  time.Duration
	created  time.Time
	prepTime time.Duration
	cgroup   string
	pidfd    int         // of the task's init, or -1
	exited   atomic.Bool // run saw the task's exit status
	mu       sync.Mutex  // held by destroy
	td       teardown
}

// Prepare creates the container and task of sp, wires its IO to the
// service, and registers Wait, so that Run only has to start the clock.
// With sp.Prestart set it also starts the process. On error,
// everything it created is removed before it returns.
func (m *Manager) Prepare(reqCtx context.Context, sp Spec) (_ *Sandbox, retErr error) {
	// The containerd calls run on a context the caller cannot cancel: a call
	// cancelled half-way can leave a container or task behind that this
	// function holds no handle to. Cancellation is checked at the end.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.Context(reqCtx)), CleanupTimeout)
	defer cancel()
	img, root := m.image(sp.Image)
	labels := map[string]string{LabelManaged: "true", LabelOwner: m.cfg.StateDir, LabelJob: sp.Job}
	p := &Sandbox{id: sp.ID, limits: sp.Limits, timeout: sp.Timeout, created: time.Now(),
		cgroup: "/" + m.cfg.Namespace + "/" + sp.ID, overflow: make(chan struct{})}
	defer func() {
		if retErr != nil {
			m.Destroy(p)
		}
	}()

	// Registered before the container exists: a NewContainer that fails
	// half-way (containerd stopping under it) may still have created the
	// container or its snapshot.
	var container client.Container
	thorough := false
	p.td.add(func() error {
		cctx, cancel := m.cleanupContext()
		defer cancel()
		if container != nil && !thorough {
			err := container.Delete(cctx, client.WithSnapshotCleanup)
			if err == nil || errdefs.IsNotFound(err) {
				return nil
			}
		}
		// Creation failed, or a quick delete did: find out what exists.
		thorough = true
		return m.removeContainer(cctx, sp.ID)
	})
	// The last step of the teardown (the first added): any cgroup directory
	// the runtime left behind.
	p.td.add(func() error { return cgroups.Remove(cgroups.Root, p.cgroup) })
	var hostOpts []client.NewContainerOpts
	if m.hosts != nil && !sp.NoShimHost {
		hostID, leave, err := m.hosts.join(ctx)
		if err != nil {
			return nil, err
		}
		// The first step added is the last run: the host is left once the
		// sandbox's task and container are gone.
		p.td.add(func() error { leave(); return nil })
		hostOpts = append(hostOpts, client.WithSandbox(hostID))
	}
	rootOpts := []client.NewContainerOpts{
		client.WithSnapshotter(m.cfg.Snapshotter),
		// A view is a read-only snapshot: no writable layer to create or remove.
		client.WithNewSnapshotView(sp.ID, img, snapshots.WithLabels(labels)),
	}
	rootPath := ""
	if root != nil {
		rootOpts, rootPath = nil, root.path
	}
	container, err := m.client.NewContainer(ctx, sp.ID, append(append(hostOpts, rootOpts...),
		client.WithContainerLabels(labels),
		client.WithRuntime(m.runtime, m.oci.shimOptions()),
		client.WithNewSpec(oci.Sandbox(oci.Params{
			Limits:      sp.Limits,
			Args:        sp.Args,
			Cwd:         sp.Cwd,
			JobDir:      sp.JobDir,
			JobReadOnly: !sp.Writable,
			DataDir:     sp.DataDir,
			FeedbackDir: sp.FeedbackDir,
			Anchor:      sp.Anchor,
			SpecVersion: m.oci.specVersion,
			RootPath:    rootPath,
		})),
	)...)
	if err != nil {
		return nil, Unavailable(fmt.Errorf("create container: %w", err))
	}

	var killOnce sync.Once
	onExceed := func() { killOnce.Do(func() { close(p.overflow) }) }
	p.stdout = NewCapWriter(m.cfg.OutputBytes, onExceed)
	p.stderr = NewCapWriter(m.cfg.OutputBytes, onExceed)
	// Stdin is a pipe the service writes when the run starts. Teardown
	// closes its read end, so a writer blocked on a program that never
	// reads its input is released.
	p.stdinR, p.stdinW = io.Pipe()
	p.td.add(func() error { p.stdinR.CloseWithError(errSandboxGone); return nil })

	var stdout io.Writer = p.stdout
	if sp.Stdout != nil {
		stdout = sp.Stdout
	}
	ioCreator := cio.NewCreator(
		cio.WithStreams(p.stdinR, stdout, p.stderr),
		cio.WithFIFODir(FIFODir(m.cfg)),
	)
	if sp.NullIO {
		ioCreator = cio.NullIO
	}
	task, err := container.NewTask(ctx, ioCreator)
	if err != nil {
		return nil, Unavailable(fmt.Errorf("create task: %w", err))
	}
	p.task = task
	// A pidfd of the task's init (tini), taken while it certainly lives
	// (created, not started): the service can kill it at the time limit
	// itself, without a round trip through containerd, the shim and a runc
	// process, and without the risk of a reused pid.
	p.pidfd = -1
	if fd, err := unix.PidfdOpen(int(task.Pid()), 0); err == nil {
		// Use the pidfd only if it names the sandbox's process (seesHostPid).
		if SeesHostPid(int(task.Pid()), p.cgroup) {
			p.pidfd = fd
			p.td.add(func() error { unix.Close(fd); return nil })
		} else {
			unix.Close(fd)
		}
	}
	p.td.add(func() error {
		cctx, cancel := m.cleanupContext()
		defer cancel()
		// WithProcessKill kills a task that may still run, at the cost of
		// a Wait, a Kill and a runc process; a task whose exit was seen
		// needs none of them (its PID namespace died with its init).
		// Delete also waits for the IO copy and removes the FIFO directory.
		var opts []client.ProcessDeleteOpts
		if !p.exited.Load() {
			opts = append(opts, client.WithProcessKill)
		}
		_, err := task.Delete(cctx, opts...)
		if err != nil && !errdefs.IsNotFound(err) {
			// Whatever containerd's state, the sandbox's processes must
			// not outlive its removal.
			if kerr := cgroups.Kill(cgroups.Root, p.cgroup, time.Second); kerr != nil {
				m.log.Warn("kill sandbox through its cgroup", "id", sp.ID, "err", kerr)
			}
			return fmt.Errorf("delete task: %w", err)
		}
		if err != nil {
			// containerd dropped the task itself (its shim died): the
			// FIFOs that Delete would have removed are still there.
			if io := task.IO(); io != nil {
				io.Cancel()
				_ = io.Close()
			}
		}
		return nil
	})

	// Wait is registered before Start so the exit cannot be missed, on a
	// context that neither a timeout nor a client can cancel: after a kill
	// the exit status must still arrive. Teardown cancels it.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	p.td.add(func() error { cancelWait(); return nil })
	p.exitCh, err = task.Wait(waitCtx)
	if err != nil {
		return nil, Unavailable(fmt.Errorf("wait for task: %w", err))
	}
	p.td.add(func() error {
		// containerd deletes only a task it knows has stopped: when run
		// took the exit from the kernel, wait for containerd's. The Wait
		// channel closes after its one status, so this returns at once
		// when run already had containerd's; Delete copes if it never
		// comes (a dead shim, say). It runs before cancelWait.
		if p.exited.Load() {
			awaitLateExit(p.exitCh)
		}
		return nil
	})
	if sp.Prestart {
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

// SeesHostPid reports whether pid, a PID containerd reported (the host's),
// names the process in cgroup for this service. In a container of its own
// (a Kubernetes pod) the service sees other PIDs, and the same number may
// name another process, or none; its cgroup file then names no sandbox.
func SeesHostPid(pid int, cgroup string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && bytes.Contains(b, []byte(":"+cgroup+"\n"))
}

// start starts the task and closes the shim's hold on stdin, so the
// program sees EOF as soon as the service closes its end.
func (p *Sandbox) start(ctx context.Context) error {
	if err := p.task.Start(ctx); err != nil {
		return Unavailable(fmt.Errorf("start task: %w", err))
	}
	if err := p.task.CloseIO(ctx, client.WithStdinCloser); err != nil {
		return Unavailable(fmt.Errorf("close stdin: %w", err))
	}
	return nil
}

// setLimits sets the wall-clock limit and the output caps of a sandbox
// whose program has not started (or, prestarted, has not been fed).
func (p *Sandbox) SetLimits(timeout time.Duration, output int) {
	p.timeout = timeout
	p.stdout.setMax(output)
	p.stderr.setMax(output)
}

// alive reports, without blocking, that the sandbox's task has not exited
// and its shim still answers: an exit status or a broken Wait stream on
// exitCh means it cannot be used.
func (p *Sandbox) Alive() bool {
	select {
	case <-p.exitCh:
		return false
	default:
		return true
	}
}

// destroy kills and removes the sandbox (Manager.Destroy). It is safe to call more than
// once, from any goroutine: each call retries only the steps that failed
// before, so a sandbox whose removal failed (containerd was down) can be
// removed later.
func (p *Sandbox) destroy() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.td.run()
}

// Run starts the program (or feeds the prestarted one its source), feeds it
// stdin, and waits for it to exit, hit its wall-clock limit, overflow its
// output, or be abandoned by ctx. Every process of the sandbox is dead when
// Run returns; removing the sandbox is left to Destroy.
func (m *Manager) Run(ctx context.Context, p *Sandbox, stdin string) (*Execution, error) {
	ctx = m.Context(ctx)
	e := &Execution{Prepared: p.prepTime}
	var cpuBefore int64
	if !p.launched {
		if err := p.start(ctx); err != nil {
			return nil, err
		}
	} else {
		// The interpreter's own start-up is not the program's CPU time.
		cpuBefore = cgroups.ReadStats(cgroups.Root, p.cgroup).CPUTimeNanos
	}
	start := time.Now()
	m.programs.Add(1)
	defer m.programEnded()
	if p.feed != nil {
		go func() {
			if err := p.feed(); err != nil {
				m.log.Warn("feed source to prestarted sandbox", "id", p.id, "err", err)
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
	kernelExit, stopWatch := watchExit(p.pidfd)
	defer stopWatch()
	var status client.ExitStatus
	var gone, exited bool
	select {
	case status = <-p.exitCh:
		exited = status.Error() == nil
		if exited {
			m.exitsFrom[exitFromContainerd].Add(1)
		}
	case status = <-kernelExit:
		// containerd's word of it is still on its way: teardown waits
		// for it before deleting the task.
		exited = true
		m.exitsFrom[exitFromKernel].Add(1)
	case <-timer.C:
		// The limit is the kernel's word, not the event's: a program that
		// ended in time, whose exit a busy shim has not reported yet, did
		// not time out.
		if p.pidfd >= 0 && pidfdExited(p.pidfd) {
			status, exited = awaitLateExit(p.exitCh)
		}
		e.TimedOut = !exited
	case <-p.overflow:
	case <-ctx.Done():
		gone = true
	}
	if !exited && status.Error() == nil {
		status = m.kill(p)
	}
	e.Elapsed = runTime(start, status)
	p.exited.Store(status.Error() == nil)
	if err := status.Error(); err != nil {
		// The exit watch broke (containerd stopped, or the shim died), so
		// containerd can neither report nor enforce the exit: kill the
		// sandbox through its cgroup, so no process of it outlives its
		// limit, whatever containerd does.
		if kerr := cgroups.Kill(cgroups.Root, p.cgroup, 2*time.Second); kerr != nil {
			m.log.Error("kill sandbox through its cgroup", "id", p.id, "err", kerr)
		}
		// Unavailable whatever the cause (containerd, or the shim alone,
		// "ttrpc: closed"): the run may be tried again.
		return nil, fmt.Errorf("%w: task %s: exit status: %w", ErrUnavailable, p.id, err)
	}
	// Read the cgroup before task.Delete removes it.
	e.Stats = cgroups.ReadStats(cgroups.Root, p.cgroup)
	e.Stats.CPUTimeNanos = max(e.Stats.CPUTimeNanos-cpuBefore, 0)
	if gone {
		return nil, context.Cause(ctx)
	}

	e.SetExit(status.ExitCode())
	// Output is complete only once the copy has drained. Every process of
	// the sandbox is gone, so the pipes reach EOF promptly.
	if io := p.task.IO(); io != nil {
		io.Wait()
	}
	e.Stdout, e.StdoutTruncated = p.stdout.Result()
	e.Stderr, e.StderrTruncated = p.stderr.Result()
	return e, nil
}

// lateExit bounds the wait for the exit status of a process the kernel
// says has exited.
const lateExit = 5 * time.Second

// awaitLateExit waits, at most lateExit, for the exit status of a process
// that has exited.
func awaitLateExit(exitCh <-chan client.ExitStatus) (client.ExitStatus, bool) {
	select {
	case status := <-exitCh:
		return status, status.Error() == nil
	case <-time.After(lateExit):
		return client.ExitStatus{}, false
	}
}

// runTime is how long a process ran from start: until the exit time its
// shim recorded, when there is one, so that a late exit event does not
// lengthen it.
func runTime(start time.Time, status client.ExitStatus) time.Duration {
	if t := status.ExitTime(); status.Error() == nil && !t.IsZero() && t.After(start) && t.Before(time.Now()) {
		return t.Sub(start)
	}
	return time.Since(start)
}

// kill ends the sandbox's process at once and returns its exit status.
// SIGKILL to init ends the whole PID namespace. The service sends it
// through the pidfd; containerd's Kill with WithKillAll (every process in
// the container's cgroup) follows if the exit has not been seen shortly
// after, or at once without a pidfd.
func (m *Manager) kill(p *Sandbox) client.ExitStatus {
	backstop := time.After(0)
	if p.pidfd >= 0 && unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0) == nil {
		backstop = time.After(250 * time.Millisecond)
	}
	giveUp := time.After(CleanupTimeout)
	for {
		select {
		case status := <-p.exitCh:
			return status
		case <-backstop:
			backstop = nil
			kctx, cancel := m.cleanupContext()
			if err := p.task.Kill(kctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				m.log.Warn("kill task", "id", p.id, "err", err)
			}
			cancel()
		case <-giveUp:
			return *client.NewExitStatus(client.UnknownExitStatus, time.Time{},
				fmt.Errorf("task did not exit %s after SIGKILL", CleanupTimeout))
		}
	}
}

// ExitSignal decodes the 128+N convention of tini and shells: an exit status
// above 128 that names a signal means the program was killed by it. A
// program that itself exits with such a status is reported the same way.
func ExitSignal(code int) (string, bool) {
	if code <= 128 || code > 128+64 {
		return "", false
	}
	name := unix.SignalName(syscall.Signal(code - 128))
	if name == "" {
		return "", false
	}
	return name, true
}

// removeContainer removes the container id with whatever task it has
// (killed first) and its snapshot, or the snapshot of that name alone when
// there is no container. What does not exist is not an error.
func (m *Manager) removeContainer(ctx context.Context, id string) error {
	c, err := m.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		err := m.client.SnapshotService(m.cfg.Snapshotter).Remove(ctx, id)
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove snapshot: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("load container: %w", err)
	}
	if t, err := c.Task(ctx, nil); err == nil {
		if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task: %w", err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("load task: %w", err)
	}
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container: %w", err)
	}
	return removeSandboxCgroup(cgroups.Root, "/"+m.cfg.Namespace+"/"+id)
}

// removeSandboxCgroup removes the cgroup of a sandbox whose container is
// deleted. A task killed a moment ago (a crashed instance's, at start-up)
// can leave its directories behind while its last processes exit: they get
// a moment. What is still in the cgroup after that outlived its container
// (seen: the OCI runtime's create process of a container that never
// started, left waiting when the service was killed mid-compile), and is
// killed.
func removeSandboxCgroup(root, path string) error {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := cgroups.Remove(root, path)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			if kerr := cgroups.Kill(root, path, 2*time.Second); kerr != nil {
				return errors.Join(err, kerr)
			}
			return cgroups.Remove(root, path)
		}
	}
}

// teardown is a stack of cleanup steps, run in reverse order of addition.
// The steps that fail stay on it, to be run again by the next run.
type teardown struct{ steps []func() error }

func (t *teardown) add(f func() error) { t.steps = append(t.steps, f) }

func (t *teardown) run() error {
	var errs []error
	var failed []func() error
	for i := len(t.steps) - 1; i >= 0; i-- {
		if err := t.steps[i](); err != nil {
			errs = append(errs, err)
			failed = append(failed, t.steps[i])
		}
	}
	slices.Reverse(failed)
	t.steps = failed
	return errors.Join(errs...)
}

// ID is the sandbox's container ID.
func (p *Sandbox) ID() string { return p.id }

// Cgroup is the sandbox's cgroup path, relative to the hierarchy's root.
func (p *Sandbox) Cgroup() string { return p.cgroup }

// Pid is the host PID of the sandbox's init.
func (p *Sandbox) Pid() int { return int(p.task.Pid()) }

// Exit delivers the exit status of the sandbox's init, once; it also
// delivers when containerd's watch of it breaks (the status then carries
// the error).
func (p *Sandbox) Exit() <-chan client.ExitStatus { return p.exitCh }

// Stdin is the write end of the init's stdin (for a sandbox that Run does
// not drive, a lane agent's).
func (p *Sandbox) Stdin() io.WriteCloser { return p.stdinW }

// StderrSoFar is what the init wrote to stderr so far, capped.
func (p *Sandbox) StderrSoFar() string {
	s, _ := p.stderr.Result()
	return s
}

// SetFeed sets what Run calls, in a goroutine of its own, when it starts
// a prestarted sandbox's program: writing the program into the FIFO the
// prestarted process waits on.
func (p *Sandbox) SetFeed(feed func() error) { p.feed = feed }

// HasPidfd reports whether the service holds a pidfd of the sandbox's
// init, and so kills it at its time limit itself (see kill).
func (p *Sandbox) HasPidfd() bool { return p.pidfd >= 0 }
