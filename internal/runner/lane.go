package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/laneagent"
	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/cgroups"
)

// agentPids is the lane agent, one thread, counted by the pids limit
// besides the run's own processes.
const agentPids = 1

// scratchDirs are the places inside a sandbox a run can write to, emptied
// after each run: the tmpfs mounts of oci.Sandbox and containerd's mqueue.
var scratchDirs = []string{"tmp", "dev/shm", "dev/mqueue"}

// lane is one program's sandbox in one lane of a batch. Runs in it go one
// at a time.
type lane struct {
	r     *Runner
	prog  *batchProgram
	n     int
	fresh bool // each run gets a fresh sandbox instead of a process the lane's agent starts

	mu       sync.Mutex
	runs     int
	dataDir  string
	box      *prepared    // the agent's sandbox; nil until prepared, or after a failed cleanup
	agent    *agentConn   // the service's end of the agent's protocol
	state    string       // the agent's inheritable state when it started (agentState)
	keep     map[int]bool // host PID of the agent
	root     int          // host PID of the agent, the sandbox's init
	hostPids bool         // the service sees the agent by its host PID
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
	if l.r.agent != "" && !l.fresh {
		return linkAgent(l.r.agent, dir)
	}
	return nil
}

// limits are the lane's sandbox limits: the program's, with room in the
// pids limit for the agent.
func (l *lane) limits() oci.Limits {
	lim := l.prog.lim.run
	if !l.fresh {
		lim.Pids += agentPids
	}
	return lim
}

// startAgent creates and starts the lane's sandbox, whose init is the
// lane agent, running as the sandbox user like the runs it starts.
func (l *lane) startAgent(ctx context.Context) error {
	if err := l.ensureDataDir(); err != nil {
		return err
	}
	l.runs++
	// A shim of the lane's own: it serves every test of the request, so
	// sharing a shim host's would save nothing per test, and would put the
	// tests' process starts and exits behind the other sandboxes that host
	// serves (a pool filling up made a test's exit arrive after its time
	// limit).
	agent := newAgentConn()
	p, err := l.r.prepare(ctx, sandboxSpec{
		id: l.id(), job: l.prog.id, lang: l.prog.lang, args: []string{agentPath}, cwd: "/",
		jobDir: l.prog.dir, dataDir: l.dataDir, prestart: true, stdout: agent,
		limits: l.limits(), timeout: l.prog.lim.runTimeout, noShimHost: true,
	})
	if err != nil {
		return err
	}
	l.box, l.agent = p, agent
	agent.stdin = p.stdinW
	l.root = int(p.task.Pid())
	l.keep = map[int]bool{l.root: true}
	l.hostPids = seesHostPid(l.root, p.cgroup)
	select {
	case <-agent.ready:
	case <-p.exitCh:
		msg, _ := p.stderr.Result()
		err = fmt.Errorf("lane agent exited at start: %s", msg)
	case <-agent.broken:
		err = errors.New("lane agent: protocol error at start")
	case <-time.After(cleanupTimeout):
		err = fmt.Errorf("lane agent not ready after %s", cleanupTimeout)
	}
	if err == nil && l.hostPids {
		l.state, err = agentState(l.root)
	}
	if err != nil {
		l.destroyBox()
		return unavailable(err)
	}
	return nil
}

// destroyBox removes the lane's sandbox, if any.
func (l *lane) destroyBox() {
	if l.box != nil {
		l.r.destroy(l.box)
		l.box, l.agent = nil, nil
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
		if e.Name() == agentFile {
			continue
		}
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
// which cannot start with a dot (nor clash with agentFile).
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
		if err := l.startAgent(ctx); err != nil {
			return Result{}, err
		}
	}
	res, ownPeak, err := l.agentRun(ctx, in, timeout, output)
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

// runCommand is the language's run command as a process the lane agent
// starts: without the init the command starts with (tini), since the
// agent is PID 1 and reaps for it; a second tini would only warn that it
// is not PID 1.
func runCommand(lang Language) []string {
	args := lang.Run
	if len(args) >= 2 && filepath.Base(args[0]) == "tini" && args[1] == "--" {
		args = args[2:]
	}
	return slices.Clone(args)
}

// agentRun has the lane's agent start the run as a new process, and waits
// for it as run does for a sandbox's init: the wall-clock limit, the
// output caps and ctx each end it, and every process the run started is
// dead when it returns.
//
// ownPeak is false when the run's memory peak may include an earlier run's
// (the kernel cannot reset a cgroup's peak): the lane's next run then needs
// a sandbox of its own.
func (l *lane) agentRun(ctx context.Context, in BatchRun, timeout time.Duration, output int) (_ Result, ownPeak bool, _ error) {
	p, agent := l.box, l.agent
	// The run's stdin is a file in the lane's data directory, which the
	// agent opens for it.
	if err := l.writeStdin(in.Input); err != nil {
		return Result{}, false, err
	}
	overflow := make(chan struct{})
	var once sync.Once
	onExceed := func() { once.Do(func() { close(overflow) }) }
	stdout, stderr := newCapWriter(output, onExceed), newCapWriter(output, onExceed)
	defer agent.endRun()

	l.runs++
	before := cgroups.ReadStats(cgroups.Root, p.cgroup)
	peak := cgroups.StartPeak(cgroups.Root, p.cgroup)
	fail := func(err error) (Result, bool, error) {
		peak.Read()
		return Result{}, false, unavailable(err)
	}
	req := laneagent.Request{Args: append(runCommand(l.prog.lang), in.Args...), Stdin: stdinPath, Dir: "/tmp"}
	if err := agent.send(req, stdout, stderr, p.exitCh); err != nil {
		return fail(err)
	}

	x := &execution{}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var status laneagent.ExitStatus
	exited, gone, timerFired := false, false, false
	select {
	case status = <-agent.exit:
		exited = true
	case <-timer.C:
		timerFired = true
	case <-overflow:
	case <-ctx.Done():
		gone = true
	case <-agent.broken:
		return fail(errors.New("lane agent: protocol error"))
	case <-p.exitCh:
		return fail(errors.New("lane agent exited during a run"))
	}
	// Every process of the run, the first one too when it still runs.
	killErr := cgroups.KillExcept(cgroups.Root, p.cgroup, l.keep, 2*time.Second)
	wait := time.NewTimer(cleanupTimeout)
	defer wait.Stop()
	if !exited {
		var err error
		if status, err = awaitAgent(agent.exit, agent, p, wait.C, "run process did not exit after SIGKILL"); err != nil {
			return fail(err)
		}
	}
	// Output is complete once the agent saw every writer close it.
	if _, err := awaitAgent(agent.done, agent, p, wait.C, "run's output still open after its processes were killed"); err != nil {
		return fail(err)
	}
	if killErr != nil {
		peak.Read()
		return Result{}, false, killErr
	}
	x.stats = cgroups.Diff(before, cgroups.ReadStats(cgroups.Root, p.cgroup))
	x.stats.MemoryPeakBytes = peak.Read()
	if gone {
		return Result{}, false, context.Cause(ctx)
	}
	// A run the timer caught, unless it had ended on its own in time and
	// its exit was on its way.
	killed := status.Status.Signaled() && status.Status.Signal() == syscall.SIGKILL
	x.timedOut = timerFired && (killed || status.Elapsed > timeout)
	x.elapsed = status.Elapsed
	x.setExit(status.Code())
	x.stdout, x.stdoutTruncated = stdout.Result()
	x.stderr, x.stderrTruncated = stderr.Result()
	res := x.result()
	res.ID = p.id + "/run" + strconv.Itoa(l.runs)
	return res, peak.Own(), nil
}

// awaitAgent waits, at most until deadline, for what the lane's agent
// sends on c, as long as the agent lives and keeps to its protocol.
func awaitAgent[T any](c <-chan T, agent *agentConn, p *prepared, deadline <-chan time.Time, late string) (T, error) {
	var zero T
	select {
	case v := <-c:
		return v, nil
	case <-deadline:
		return zero, fmt.Errorf("%s in %s", late, cleanupTimeout)
	case <-agent.broken:
		return zero, errors.New("lane agent: protocol error")
	case <-p.exitCh:
		return zero, errors.New("lane agent exited during a run")
	}
}

// scrub removes what a run that agentRun finished without error left in
// the lane's sandbox: every file in the scratch directories and every
// System V IPC object (agentRun has already killed every process but the
// agent, or it would have failed). It reaches the sandbox's files
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
	// What the agent's next child would inherit, which the run could have
	// changed from outside (it runs as the same user).
	if state, err := agentState(l.root); err != nil || state != l.state {
		return fmt.Errorf("lane agent's state changed during a run: %v", err)
	}
	return nil
}
