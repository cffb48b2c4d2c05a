package lane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/laneagent"
	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

// agentPids is the lane agent, one thread, counted by the pids limit
// besides the run's own processes.
const agentPids = 1

// scratchDirs are the places inside a sandbox a run can write to, emptied
// after each run: the tmpfs mounts of oci.Sandbox and containerd's mqueue.
var scratchDirs = []string{"tmp", "dev/shm", "dev/mqueue"}

// Program is a built program that lanes run: its job directory holds the
// source and what the compiler made.
type Program struct {
	ID      string   // the job's UUID
	Image   string   // the sandbox image's name (sandbox.Config.Images)
	Run     []string // the language's run command
	Dir     string   // the job directory
	Limits  oci.Limits
	Timeout time.Duration // a run's default wall-clock limit
	Output  int           // a run's default cap on stdout and on stderr, each
	// Feedback gives each run a writable feedback directory
	// (oci.FeedbackMountPoint), emptied before the run and read after it
	// (Outcome.Feedback): a Kattis output validator's.
	Feedback bool
	// Fork names the forking parent the lane's agent forks each run from
	// (internal/runner/lane/fork): "" starts each run with exec.
	Fork string
}

// Env is what every lane of a service shares.
type Env struct {
	Sandboxes *sandbox.Manager
	JobsDir   string // where lanes' data directories go (sandbox.JobsDir)
	Agent     string // the lane agent's copy (InstallAgent); "" when there is none
	Log       *slog.Logger
}

// Input is one run in a lane.
type Input struct {
	Stdin       string            // the program's stdin, then EOF
	Args        []string          // appended to the program's run command
	Files       map[string]string // written, read-only, into oci.DataMountPoint before the run
	Timeout     time.Duration     // 0: the program's
	OutputBytes int               // 0: the program's
	// Talk, when set, makes the run one side of a conversation: its stdin
	// and stdout are FIFOs of the lane's data directory (Converse), not
	// Stdin and the captured stdout.
	Talk *Talk
}

// Talk names the FIFOs of one side of a conversation, in the data
// directory, and which it opens first (the side that speaks first opens
// its stdout first; see lane.c's open_fifos).
type Talk struct {
	In, Out     string
	StdoutFirst bool
}

// Outcome is what one run in a lane did.
type Outcome struct {
	*sandbox.Execution
	ID          string            // names the run: its sandbox, or the lane's sandbox and the run's number
	PrepareTime time.Duration     // creating a fresh sandbox for the run; 0 in the agent's
	Feedback    map[string]string // the feedback directory's files after the run (Program.Feedback), cut to FeedbackBytes each
	// End is when the run's first process was reaped, on the machine's
	// CLOCK_MONOTONIC: of two sides of a conversation, which ended first.
	End time.Duration
	// KilledAt is when the wall-clock limit ended a run that ran out of
	// time, on the same clock.
	KilledAt time.Duration
	// Exited is when the run's first process exited by the scheduler's
	// clock (laneagent.ExitStatus.Exited); 0 when unknown.
	Exited time.Duration
}

// Lane is one program's sandbox in one lane of a batch. Runs in it go one
// at a time.
type Lane struct {
	env   *Env
	prog  *Program
	n     int
	fresh bool // each run gets a fresh sandbox instead of a process the lane's agent starts

	mu       sync.Mutex
	runs     int
	dataDir  string
	feedback string           // the feedback directory, when the program has one
	box      *sandbox.Sandbox // the agent's sandbox; nil until prepared, or after a failed cleanup
	agent    *agentConn       // the service's end of the agent's protocol
	state    string           // the agent's inheritable state when it started (agentState)
	root     int              // host PID of the agent, the sandbox's init
	hostPids bool             // the service sees the agent by its host PID
	zygote   zygote           // the forking parent of the lane's sandbox, when it has one
}

// New returns lane number n of prog; fresh gives each run a sandbox of its
// own. Nothing is created until Start or the first Run.
func New(env *Env, prog *Program, n int, fresh bool) *Lane {
	return &Lane{env: env, prog: prog, n: n, fresh: fresh}
}

// Fresh reports whether each run gets a sandbox of its own.
func (l *Lane) Fresh() bool { return l.fresh }

// HostPids reports whether the service sees the lane's agent by its host
// PID, which it needs to scrub the sandbox between runs; without it every
// run must get a fresh sandbox (MakeFresh).
func (l *Lane) HostPids() bool { return l.hostPids }

// MakeFresh gives every later run a sandbox of its own, and removes the
// agent's.
func (l *Lane) MakeFresh() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fresh = true
	l.destroyBox()
}

// id is the lane's container ID; it ends in -run like every run sandbox.
func (l *Lane) id() string {
	return fmt.Sprintf("%s-l%d-%d-run", l.prog.ID, l.n, l.runs)
}

// ensureDataDir creates the lane's data directory: root's, read-only in
// the sandbox, so nothing in it can be changed or replaced by a run.
func (l *Lane) ensureDataDir() error {
	if l.dataDir != "" {
		return nil
	}
	dir := filepath.Join(l.env.JobsDir, fmt.Sprintf("%s-l%d-data", l.prog.ID, l.n))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Explicitly, whatever the service's umask: the sandbox user reads it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	l.dataDir = dir
	if l.prog.Feedback {
		if err := l.makeFeedbackDir(); err != nil {
			return err
		}
	}
	if l.env.Agent != "" && !l.fresh {
		if err := linkAgent(l.env.Agent, dir); err != nil {
			return err
		}
		return l.writeFork()
	}
	return nil
}

// limits are the lane's sandbox limits: the program's, with room in the
// pids limit for the agent.
func (l *Lane) limits() oci.Limits {
	lim := l.prog.Limits
	if !l.fresh {
		lim.Pids += agentPids
		if l.prog.Fork != "" {
			lim.Pids += zygotePids
		}
	}
	return lim
}

// Start creates and starts the lane's sandbox, whose init is the
// lane agent, running as the sandbox user like the runs it starts.
func (l *Lane) Start(ctx context.Context) error {
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
	p, err := l.env.Sandboxes.Prepare(ctx, sandbox.Spec{
		ID: l.id(), Job: l.prog.ID, Image: l.prog.Image, Args: []string{agentPath}, Cwd: "/",
		JobDir: l.prog.Dir, DataDir: l.dataDir, FeedbackDir: l.feedback, Prestart: true, Stdout: agent,
		Limits: l.limits(), Timeout: l.prog.Timeout, NoShimHost: true,
	})
	if err != nil {
		return err
	}
	l.box, l.agent = p, agent
	agent.stdin = p.Stdin()
	l.root = p.Pid()
	l.hostPids = sandbox.SeesHostPid(l.root, p.Cgroup())
	select {
	case <-agent.ready:
	case <-p.Exit():
		msg := p.StderrSoFar()
		err = fmt.Errorf("lane agent exited at start: %s", msg)
	case <-agent.broken:
		err = errors.New("lane agent: protocol error at start")
	case <-time.After(sandbox.CleanupTimeout):
		err = fmt.Errorf("lane agent not ready after %s", sandbox.CleanupTimeout)
	}
	if err == nil && l.hostPids {
		l.state, err = agentState(l.root)
	}
	if err == nil {
		err = l.startZygote()
	}
	if err != nil {
		l.destroyBox()
		return sandbox.Unavailable(err)
	}
	return nil
}

// destroyBox removes the lane's sandbox, if any.
func (l *Lane) destroyBox() {
	if l.box != nil {
		l.env.Sandboxes.Destroy(l.box)
		l.box, l.agent = nil, nil
	}
	l.zygote = zygote{}
}

// Destroy removes everything of the lane.
func (l *Lane) Destroy() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.destroyBox()
	for _, dir := range []string{l.dataDir, l.feedback} {
		if dir != "" {
			if err := os.RemoveAll(dir); err != nil {
				l.env.Log.Error("remove lane directory", "dir", dir, "err", err)
			}
		}
	}
}

// writeFiles replaces the data directory's files with files. No process
// of the lane runs meanwhile, and the directory is read-only inside.
func (l *Lane) writeFiles(files map[string]string) error {
	if err := l.ensureDataDir(); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dataDir)
	if err != nil {
		return fmt.Errorf("write data files: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // the agent, the stdin file, a conversation's FIFOs: not a run's files
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
func (l *Lane) writeStdin(input string) error {
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

// Run runs one run in the lane.
func (l *Lane) Run(ctx context.Context, in Input) (Outcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writeFiles(in.Files); err != nil {
		return Outcome{}, err
	}
	timeout, output := l.prog.Timeout, l.prog.Output
	if in.Timeout > 0 {
		timeout = in.Timeout
	}
	if in.OutputBytes > 0 {
		output = in.OutputBytes
	}
	if err := l.emptyFeedback(); err != nil {
		return Outcome{}, err
	}
	if l.fresh && in.Talk != nil {
		return Outcome{}, errors.New("a conversation needs the lane agent: a fresh sandbox per run has no FIFOs for its stdio")
	}
	if l.fresh {
		res, err := l.runFresh(ctx, in, timeout, output)
		if err == nil {
			res.Feedback, err = l.readFeedback()
		}
		return res, err
	}
	if l.box == nil {
		if err := l.Start(ctx); err != nil {
			return Outcome{}, err
		}
	}
	res, ownPeak, err := l.agentRun(ctx, in, timeout, output)
	if err == nil {
		// Every process of the run is dead: nothing writes any more.
		res.Feedback, err = l.readFeedback()
	}
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
func (l *Lane) runFresh(ctx context.Context, in Input, timeout time.Duration, output int) (Outcome, error) {
	l.runs++
	start := time.Now()
	p, err := l.env.Sandboxes.Prepare(ctx, sandbox.Spec{
		ID: l.id(), Job: l.prog.ID, Image: l.prog.Image, Args: append(slices.Clone(l.prog.Run), in.Args...),
		Cwd: "/tmp", JobDir: l.prog.Dir, DataDir: l.dataDir, FeedbackDir: l.feedback, Limits: l.limits(), Timeout: timeout,
	})
	if err != nil {
		return Outcome{}, err
	}
	defer l.env.Sandboxes.Destroy(p)
	p.SetLimits(timeout, output)
	x, err := l.env.Sandboxes.Run(ctx, p, in.Stdin)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Execution: x, ID: p.ID(), PrepareTime: time.Since(start) - x.Elapsed}, nil
}

// runCommand is the language's run command as a process the lane agent
// starts: without the init the command starts with (tini), since the
// agent is PID 1 and reaps for it; a second tini would only warn that it
// is not PID 1.
func runCommand(run []string) []string {
	args := run
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
func (l *Lane) agentRun(ctx context.Context, in Input, timeout time.Duration, output int) (_ Outcome, ownPeak bool, _ error) {
	p, agent := l.box, l.agent
	// The run's stdin is a file in the lane's data directory, which the
	// agent opens for it.
	req := laneagent.Request{Args: append(runCommand(l.prog.Run), in.Args...), Stdin: stdinPath, Dir: "/tmp"}
	// A test forked from the lane's forking parent; an interactive one is
	// always exec'd.
	forked := l.zygote.ns != 0 && in.Talk == nil
	if forked {
		req.Fork = l.forkCommand()
	}
	if t := in.Talk; t != nil {
		req.Stdin, req.Stdout = oci.DataMountPoint+"/"+t.In, oci.DataMountPoint+"/"+t.Out
		req.StdoutFirst = t.StdoutFirst
	} else if err := l.writeStdin(in.Stdin); err != nil {
		return Outcome{}, false, err
	}
	overflow := make(chan struct{})
	var once sync.Once
	onExceed := func() { once.Do(func() { close(overflow) }) }
	stdout, stderr := sandbox.NewCapWriter(output, onExceed), sandbox.NewCapWriter(output, onExceed)
	defer agent.endRun()

	l.runs++
	before := cgroups.ReadStats(cgroups.Root, p.Cgroup())
	// A forked test's memory is what it adds to the parent's: the usage
	// now (the agent and the parent) is taken off its peak.
	var base int64
	if forked {
		base = cgroups.MemoryUsage(cgroups.Root, p.Cgroup())
	}
	peak := cgroups.StartPeak(cgroups.Root, p.Cgroup())
	fail := func(err error) (Outcome, bool, error) {
		peak.Read()
		return Outcome{}, false, sandbox.Unavailable(err)
	}
	if err := agent.send(req, stdout, stderr, p.Exit()); err != nil {
		return fail(err)
	}
	// A parent other than the lane's forked it: a test killed the lane's,
	// and the agent started another, whose figures the service has not
	// taken. The lane is replaced after this run.
	lostParent := forked && agent.forkedBy() != l.zygote.ns

	x := &sandbox.Execution{}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var status laneagent.ExitStatus
	exited, gone, timerFired := false, false, false
	var killedAt time.Duration
	select {
	case status = <-agent.exit:
		exited = true
	case <-timer.C:
		timerFired = true
		killedAt = monotonic()
	case <-overflow:
	case <-ctx.Done():
		gone = true
	case <-agent.broken:
		return fail(errors.New("lane agent: protocol error"))
	case <-p.Exit():
		return fail(errors.New("lane agent exited during a run"))
	}
	// Every process of the run, the first one too when it still runs.
	killErr := cgroups.KillExcept(cgroups.Root, p.Cgroup(), l.kept(), 2*time.Second)
	wait := time.NewTimer(sandbox.CleanupTimeout)
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
		return Outcome{}, false, killErr
	}
	x.Stats = cgroups.Diff(before, cgroups.ReadStats(cgroups.Root, p.Cgroup()))
	x.Stats.MemoryPeakBytes = peak.Read()
	if forked {
		x.Stats.MemoryPeakBytes = max(x.Stats.MemoryPeakBytes-base, 0)
	}
	if gone {
		return Outcome{}, false, context.Cause(ctx)
	}
	// A run the timer caught, unless it had ended on its own in time and
	// its exit was on its way.
	killed := status.Status.Signaled() && status.Status.Signal() == syscall.SIGKILL
	x.TimedOut = timerFired && (killed || status.Elapsed > timeout)
	x.Elapsed = status.Elapsed
	x.SetExit(status.Code())
	x.Stdout, x.StdoutTruncated = stdout.Result()
	x.Stderr, x.StderrTruncated = stderr.Result()
	out := Outcome{Execution: x, ID: p.ID() + "/run" + strconv.Itoa(l.runs), End: status.End, Exited: status.Exited}
	if x.TimedOut {
		out.KilledAt = killedAt
	}
	return out, peak.Own() && !lostParent, nil
}

// awaitAgent waits, at most until deadline, for what the lane's agent
// sends on c, as long as the agent lives and keeps to its protocol.
func awaitAgent[T any](c <-chan T, agent *agentConn, p *sandbox.Sandbox, deadline <-chan time.Time, late string) (T, error) {
	var zero T
	select {
	case v := <-c:
		return v, nil
	case <-deadline:
		return zero, fmt.Errorf("%s in %s", late, sandbox.CleanupTimeout)
	case <-agent.broken:
		return zero, errors.New("lane agent: protocol error")
	case <-p.Exit():
		return zero, errors.New("lane agent exited during a run")
	}
}

// scrub removes what a run that agentRun finished without error left in
// the lane's sandbox: every file in the scratch directories and every
// System V IPC object (agentRun has already killed every process but the
// agent, or it would have failed). It reaches the sandbox's files
// through its init's root, /proc/PID/root: no process of a run is alive to
// race it, and os.RemoveAll does not follow symbolic links.
func (l *Lane) scrub() error {
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
	return l.zygote.check()
}
