package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// anchorArgs is the idle init of a lane's sandbox: tini as PID 1 reaps what
// the runs orphan, and its child sleeps until the lane is removed. Every
// sandbox image has both (tini is the runtimes' own init).
var anchorArgs = []string{"/usr/bin/tini", "--", "/bin/sleep", "infinity"}

// anchorPids are the anchor's processes, counted by the pids limit besides
// the run's own.
const anchorPids = 2

// scratchDirs are the places inside a sandbox a run can write to, emptied
// after each run: the tmpfs mounts of oci.Sandbox and containerd's mqueue.
var scratchDirs = []string{"tmp", "dev/shm", "dev/mqueue"}

// lane is one program's sandbox in one lane of a batch. Runs in it go one
// at a time.
type lane struct {
	r     *Runner
	prog  *batchProgram
	n     int
	fresh bool // each run gets a fresh sandbox instead of a process in the anchor's

	mu       sync.Mutex
	runs     int
	dataDir  string
	box      *prepared      // the anchor's sandbox; nil until prepared, or after a failed cleanup
	process  *specs.Process // the sandbox's process, the template of each run's
	keep     map[int]bool   // host PIDs of the anchor's processes
	root     int            // host PID of the anchor's init
	hostPids bool           // the service sees the anchor's process by its host PID
}

// id is the lane's container ID; it ends in -run like every run sandbox.
func (l *lane) id() string {
	return fmt.Sprintf("%s-l%d-%d-run", l.prog.id, l.n, l.runs)
}

// ensureDataDir creates the lane's data directory: root's, read-only in
// the sandbox, so nothing in it can be changed or replaced by a run.
func (l *lane) ensureDataDir() error {
	if l.dataDir != "" {
		return nil
	}
	dir := filepath.Join(jobsDir(l.r.cfg), fmt.Sprintf("%s-l%d-data", l.prog.id, l.n))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Explicitly, whatever the service's umask: the sandbox user reads it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	l.dataDir = dir
	return nil
}

// limits are the lane's sandbox limits: the program's, with room in the
// pids limit for the anchor.
func (l *lane) limits() oci.Limits {
	lim := l.prog.lim.run
	if !l.fresh {
		lim.Pids += anchorPids
	}
	return lim
}

// prepareAnchor creates and starts the lane's anchored sandbox.
func (l *lane) prepareAnchor(ctx context.Context) error {
	if err := l.ensureDataDir(); err != nil {
		return err
	}
	l.runs++
	// A shim of the lane's own: it serves every test of the request, so
	// sharing a shim host's would save nothing per test, and would put the
	// tests' process starts and exits behind the other sandboxes that host
	// serves (a pool filling up made a test's exit arrive after its time
	// limit).
	p, err := l.r.prepare(ctx, sandboxSpec{
		id: l.id(), job: l.prog.id, lang: l.prog.lang, args: anchorArgs, cwd: "/",
		jobDir: l.prog.dir, dataDir: l.dataDir, anchor: true, prestart: true,
		limits: l.limits(), timeout: l.prog.lim.runTimeout, noShimHost: true,
	})
	if err != nil {
		return err
	}
	l.box = p
	spec, err := p.task.Spec(l.r.nsContext(ctx))
	if err != nil {
		l.destroyBox()
		return unavailable(fmt.Errorf("read sandbox spec: %w", err))
	}
	l.process = spec.Process
	l.root = int(p.task.Pid())
	l.keep = map[int]bool{l.root: true}
	l.hostPids = seesHostPid(l.root, p.cgroup)
	if !l.hostPids {
		return nil
	}
	// tini's child, the sleep, is the anchor's other process.
	children := fmt.Sprintf("/proc/%d/task/%d/children", l.root, l.root)
	deadline := time.Now().Add(cleanupTimeout)
	for {
		b, _ := os.ReadFile(children)
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			l.keep[pid] = true
			return nil
		}
		if !p.alive() || time.Now().After(deadline) {
			l.destroyBox()
			return fmt.Errorf("start batch anchor: its sleep never started")
		}
		time.Sleep(time.Millisecond)
	}
}

// destroyBox removes the lane's anchored sandbox, if any.
func (l *lane) destroyBox() {
	if l.box != nil {
		l.r.destroy(l.box)
		l.box = nil
	}
}

// destroy removes everything of the lane.
func (l *lane) destroy() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.destroyBox()
	if l.dataDir != "" {
		if err := os.RemoveAll(l.dataDir); err != nil {
			l.r.log.Error("remove data directory", "dir", l.dataDir, "err", err)
		}
	}
}

// writeFiles replaces the data directory's files with files. No process
// of the lane runs meanwhile, and the directory is read-only inside.
func (l *lane) writeFiles(files map[string]string) error {
	if err := l.ensureDataDir(); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dataDir)
	if err != nil {
		return fmt.Errorf("write data files: %w", err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(l.dataDir, e.Name())); err != nil {
			return fmt.Errorf("write data files: %w", err)
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(l.dataDir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write data file %s: %w", name, err)
		}
		if err := os.Chmod(filepath.Join(l.dataDir, name), 0o644); err != nil {
			return fmt.Errorf("write data file %s: %w", name, err)
		}
	}
	return nil
}

// stdinFile is the name, in the data directory, of the file a run in the
// lane's sandbox reads as its stdin; a run's own files have plain names,
// which cannot start with a dot.
const stdinFile = ".stdin"

// stdinPath is where the sandbox sees stdinFile.
var stdinPath = oci.DataMountPoint + "/" + stdinFile

// writeStdin replaces the stdin file of the data directory with input.
func (l *lane) writeStdin(input string) error {
	if err := l.ensureDataDir(); err != nil {
		return err
	}
	name := filepath.Join(l.dataDir, stdinFile)
	tmp := name + ".new"
	if err := os.WriteFile(tmp, []byte(input), 0o644); err != nil {
		return fmt.Errorf("write stdin file: %w", err)
	}
	// Explicitly, whatever the service's umask: the sandbox user reads it.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("write stdin file: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("write stdin file: %w", err)
	}
	return nil
}

// run runs one run in the lane.
func (l *lane) run(ctx context.Context, in BatchRun) (Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writeFiles(in.Files); err != nil {
		return Result{}, err
	}
	timeout, output := l.prog.lim.runTimeout, l.prog.lim.output
	if in.Timeout > 0 {
		timeout = in.Timeout
	}
	if in.OutputBytes > 0 {
		output = in.OutputBytes
	}
	if l.fresh {
		return l.runFresh(ctx, in, timeout, output)
	}
	if l.box == nil {
		if err := l.prepareAnchor(ctx); err != nil {
			return Result{}, err
		}
	}
	res, ownPeak, err := l.execRun(ctx, in, timeout, output)
	// The next run gets a new sandbox rather than one in an unknown state,
	// or rather than one whose memory peak the kernel cannot reset (cgroup
	// v2 before 6.12), where its peak would include this run's; a sandbox
	// that is replaced anyway is not scrubbed.
	if err != nil || !ownPeak || l.scrub() != nil {
		l.destroyBox()
	}
	return res, err
}

// runFresh runs in a sandbox of its own, created for this run and removed
// after it.
func (l *lane) runFresh(ctx context.Context, in BatchRun, timeout time.Duration, output int) (Result, error) {
	l.runs++
	start := time.Now()
	p, err := l.r.prepare(ctx, sandboxSpec{
		id: l.id(), job: l.prog.id, lang: l.prog.lang, args: append(slices.Clone(l.prog.lang.Run), in.Args...),
		cwd: "/tmp", jobDir: l.prog.dir, dataDir: l.dataDir, limits: l.limits(), timeout: timeout,
	})
	if err != nil {
		return Result{}, err
	}
	defer l.r.destroy(p)
	p.setLimits(timeout, output)
	x, err := l.r.run(ctx, p, in.Input)
	if err != nil {
		return Result{}, err
	}
	res := x.result()
	res.ID, res.PrepareTime = p.id, time.Since(start)-x.elapsed
	return res, nil
}

// runCommand is the language's run command as a process started into a
// lane: without the init the command starts with (tini), since the
// anchor's tini is PID 1 and reaps for it; a second tini would only warn
// that it is not PID 1.
func runCommand(lang Language) []string {
	args := lang.Run
	if len(args) >= 2 && filepath.Base(args[0]) == "tini" && args[1] == "--" {
		args = args[2:]
	}
	return slices.Clone(args)
}

// execRun starts the run as a new process in the anchor's sandbox, as the
// sandbox user, and waits for it as run does for a sandbox's init: the
// wall-clock limit, the output caps and ctx each end it, and every process
// the run started is dead when it returns.
//
// ownPeak is false when the run's memory peak may include an earlier run's
// (the kernel cannot reset a cgroup's peak): the lane's next run then needs
// a sandbox of its own.
func (l *lane) execRun(ctx context.Context, in BatchRun, timeout time.Duration, output int) (_ Result, ownPeak bool, _ error) {
	r, p := l.r, l.box
	// As in prepare: containerd calls that a client cannot cancel half-way.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(r.nsContext(ctx)), cleanupTimeout)
	defer cancel()

	// The run's stdin is a file in the lane's data directory, not a FIFO:
	// a test process started into a running container sometimes never got
	// its FIFO stdin (one test in about two thousand here, blocked until its
	// time limit: TestJudgeOverHTTP). /bin/sh, in every image, opens it
	// and becomes the program.
	if err := l.writeStdin(in.Input); err != nil {
		return Result{}, false, err
	}
	ps := *l.process
	ps.Args = append([]string{"/bin/sh", "-c", `exec "$0" "$@" <` + stdinPath}, append(runCommand(l.prog.lang), in.Args...)...)
	ps.User = specs.User{UID: oci.SandboxUID, GID: oci.SandboxGID, AdditionalGids: []uint32{oci.SandboxGID}}
	ps.Cwd = "/tmp"
	ps.Terminal = false

	overflow := make(chan struct{})
	var once sync.Once
	onExceed := func() { once.Do(func() { close(overflow) }) }
	stdout, stderr := newCapWriter(output, onExceed), newCapWriter(output, onExceed)

	l.runs++
	execID := "run" + strconv.Itoa(l.runs)
	proc, err := p.task.Exec(cctx, execID, &ps, cio.NewCreator(
		cio.WithStreams(nil, stdout, stderr), cio.WithFIFODir(fifoDir(r.cfg))))
	if err != nil {
		return Result{}, false, unavailable(fmt.Errorf("create run process: %w", err))
	}
	deleted := false
	defer func() {
		if !deleted {
			dctx, dcancel := r.cleanupContext()
			_, _ = proc.Delete(dctx, client.WithProcessKill)
			dcancel()
		}
	}()
	// Wait before Start, on a context only teardown cancels (see prepare).
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(cctx))
	defer cancelWait()
	exitCh, err := proc.Wait(waitCtx)
	if err != nil {
		return Result{}, false, unavailable(fmt.Errorf("wait for run process: %w", err))
	}
	before := readCgroupStats(cgroupRoot, p.cgroup)
	peak := startPeak(cgroupRoot, p.cgroup)
	if err := proc.Start(cctx); err != nil {
		peak.read()
		return Result{}, false, unavailable(fmt.Errorf("start run process: %w", err))
	}
	start := time.Now()
	// A pidfd of the run's process, to tell a run that ended in time from
	// one that did not when its exit is reported late (as run does).
	pidfd := -1
	if l.hostPids {
		if fd, err := unix.PidfdOpen(int(proc.Pid()), 0); err == nil {
			pidfd = fd
			defer unix.Close(fd)
		}
	}

	x := &execution{}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var status client.ExitStatus
	exited, gone := false, false
	select {
	case status = <-exitCh:
		exited = true
	case <-timer.C:
		if pidfd >= 0 && pidfdExited(pidfd) {
			status, exited = awaitLateExit(exitCh)
		}
		x.timedOut = !exited
	case <-overflow:
	case <-ctx.Done():
		gone = true
	}
	// Every process of the run, the first one too when it still runs.
	killErr := killCgroupExcept(cgroupRoot, p.cgroup, l.keep, 2*time.Second)
	if !exited {
		select {
		case status = <-exitCh:
		case <-time.After(cleanupTimeout):
			peak.read()
			return Result{}, false, fmt.Errorf("run process did not exit %s after SIGKILL", cleanupTimeout)
		}
	}
	x.elapsed = runTime(start, status)
	if err := status.Error(); err != nil {
		peak.read()
		return Result{}, false, unavailable(fmt.Errorf("run process %s: exit status: %w", execID, err))
	}
	if killErr != nil {
		peak.read()
		return Result{}, false, killErr
	}
	x.stats = diffStats(before, readCgroupStats(cgroupRoot, p.cgroup))
	x.stats.MemoryPeakBytes = peak.read()
	// Output is complete once the copy drained: every writer is dead.
	if pio := proc.IO(); pio != nil {
		pio.Wait()
	}
	dctx, dcancel := r.cleanupContext()
	_, derr := proc.Delete(dctx)
	dcancel()
	if derr != nil && !errdefs.IsNotFound(derr) {
		return Result{}, false, unavailable(fmt.Errorf("delete run process: %w", derr))
	}
	deleted = true
	if gone {
		return Result{}, false, context.Cause(ctx)
	}
	x.setExit(status.ExitCode())
	x.stdout, x.stdoutTruncated = stdout.Result()
	x.stderr, x.stderrTruncated = stderr.Result()
	res := x.result()
	res.ID = p.id + "/" + execID
	return res, peak.own(), nil
}

// scrub removes what a run that execRun finished without error left in
// the anchor's sandbox: every file in the scratch directories and every
// System V IPC object (execRun has already killed every process but the
// anchor's, or it would have failed). It reaches the sandbox's files
// through its init's root, /proc/PID/root: no process of a run is alive to
// race it, and os.RemoveAll does not follow symbolic links.
func (l *lane) scrub() error {
	root := fmt.Sprintf("/proc/%d/root", l.root)
	for _, d := range scratchDirs {
		dir := filepath.Join(root, d)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("scrub %s: %w", d, err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("scrub %s: %w", d, err)
			}
		}
	}
	if err := removeSysVIPC(l.root); err != nil {
		return fmt.Errorf("remove IPC objects: %w", err)
	}
	return nil
}
