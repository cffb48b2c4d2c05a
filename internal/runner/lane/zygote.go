package lane

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/laneagent"
	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/codeexec/codeexec/internal/runner/lane/fork"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

// A forked interpreter (docs/judge.md): the lane's agent starts the
// program's forking parent once, when the lane starts, and has it fork
// each test. The service keeps the parent alive between tests (it kills
// everything else a test left), checks after each test that it is still
// the same process in the same state, and replaces the lane when it is
// not: a test runs as the same user as the parent, so it can kill it,
// stop it or change its limits, but not trace it or write its memory (it
// is not dumpable), so what it can do to it, it cannot hide.

// zygotePids is the forking parent, counted by the pids limit beside the
// test's own processes.
const zygotePids = 1

// zygote is a lane's forking parent as the service keeps it.
type zygote struct {
	ns    int    // its PID in the sandbox; 0: the lane has none
	host  int    // its host PID
	start string // its start time: another process with its PID is not it
	state string // what its children inherit (agentState), when it started
}

// forkFile is the forking parent's script in a lane's data directory.
func (l *Lane) forkFile() string { return ".fork-" + l.prog.Fork }

// writeFork puts the program's forking parent into the lane's data
// directory, read-only to the sandbox.
func (l *Lane) writeFork() error {
	if l.prog.Fork == "" {
		return nil
	}
	content, _, err := fork.Script(l.prog.Fork)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.dataDir, l.forkFile()), content, 0o644)
}

// forkCommand is the forking parent's command line: the interpreter of
// the run command, and the script.
func (l *Lane) forkCommand() []string {
	return []string{runCommand(l.prog.Run)[0], oci.DataMountPoint + "/" + l.forkFile()}
}

// startZygote has the agent start the forking parent ahead of the tests,
// and raises the sandbox's memory limit by what the parent uses, so that
// the limit is what a test adds. A parent that cannot start, or that the
// service cannot see by its host PID (to keep it between tests), leaves
// the lane's tests exec'd.
func (l *Lane) startZygote() error {
	if l.prog.Fork == "" || !l.hostPids {
		return nil
	}
	p, agent := l.box, l.agent
	before := cgroups.MemoryUsage(cgroups.Root, p.Cgroup())
	if err := agent.send(laneagent.Request{Fork: l.forkCommand(), Dir: "/", Stdin: "/dev/null"}, io.Discard, io.Discard, p.Exit()); err != nil {
		return err
	}
	defer agent.endRun()
	wait := time.NewTimer(sandbox.CleanupTimeout)
	defer wait.Stop()
	if _, err := awaitAgent(agent.exit, agent, p, wait.C, "forking parent's start did not end"); err != nil {
		return err
	}
	if _, err := awaitAgent(agent.done, agent, p, wait.C, "forking parent's start did not end"); err != nil {
		return err
	}
	ns := agent.forkedBy()
	if ns == 0 {
		l.env.Log.Warn("the forking parent did not start: the lane's tests are exec'd", "fork", l.prog.Fork, "stderr", p.StderrSoFar())
		return nil
	}
	host, err := hostPid(p.Cgroup(), ns)
	if err != nil {
		return fmt.Errorf("forking parent: %w", err)
	}
	z := zygote{ns: ns, host: host}
	if z.start, err = startTime(host); err != nil {
		return fmt.Errorf("forking parent: %w", err)
	}
	if z.state, err = agentState(host); err != nil {
		return fmt.Errorf("forking parent: %w", err)
	}
	if err := cgroups.RaiseMemoryLimit(cgroups.Root, p.Cgroup(), cgroups.MemoryUsage(cgroups.Root, p.Cgroup())-before); err != nil {
		return fmt.Errorf("forking parent: raise the memory limit: %w", err)
	}
	l.zygote = z
	return nil
}

// kept are the processes a run's end leaves alive: the agent, and the
// forking parent if it is still the one the lane started.
func (l *Lane) kept() map[int]bool {
	keep := map[int]bool{l.root: true}
	if z := l.zygote; z.ns != 0 {
		if start, err := startTime(z.host); err == nil && start == z.start {
			keep[z.host] = true
		}
	}
	return keep
}

// check says whether the forking parent is as it started: alive, not
// stopped, and with what its children inherit unchanged.
func (z zygote) check() error {
	if z.ns == 0 {
		return nil
	}
	f, err := procStat(z.host)
	if err != nil {
		return fmt.Errorf("forking parent gone: %w", err)
	}
	if len(f) < 20 || f[19] != z.start {
		return errors.New("forking parent gone")
	}
	if f[0] != "S" && f[0] != "R" && f[0] != "D" {
		return fmt.Errorf("forking parent in state %s", f[0])
	}
	if state, err := agentState(z.host); err != nil || state != z.state {
		return fmt.Errorf("forking parent's state changed during a run: %v", err)
	}
	return nil
}

// startTime is a process's start time, /proc/PID/stat's 22nd field.
func startTime(pid int) (string, error) {
	f, err := procStat(pid)
	if err != nil {
		return "", err
	}
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f[19], nil
}

// hostPid finds the host PID of the process of the cgroup whose PID in
// its namespace is ns (the last of /proc/PID/status's NSpid).
func hostPid(cgroup string, ns int) (int, error) {
	b, err := os.ReadFile(cgroups.ProcsFile(cgroups.Root, cgroup))
	if err != nil {
		return 0, err
	}
	want := strconv.Itoa(ns)
	for _, s := range strings.Fields(string(b)) {
		status, err := os.ReadFile("/proc/" + s + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 && f[len(f)-1] == want {
					return strconv.Atoi(s)
				}
			}
		}
	}
	return 0, fmt.Errorf("no process %d in the sandbox", ns)
}
