package lane

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeexec/codeexec/internal/laneagent"
	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"
)

// agentFile is the name of the lane agent (sandbox/lane/lane.c) in a
// lane's data directory, where the lane's sandbox runs it as its init.
const agentFile = ".lane"

// agentPath is where a lane's sandbox sees its agent.
var agentPath = oci.DataMountPoint + "/" + agentFile

// InstallAgent copies the lane agent into the state directory, from where
// every lane's data directory gets a hard link to it (the state directory
// is a path containerd sees, in a pod too). It returns the copy's path.
func InstallAgent(stateDir, src string) (string, error) {
	dst := filepath.Join(stateDir, "codeexec-lane")
	if err := sandbox.CopyExecutable(src, dst); err != nil {
		return "", fmt.Errorf("lane agent: %w", err)
	}
	return dst, nil
}

// linkAgent puts the agent into a lane's data directory: a hard link, or
// a copy where the data directory is on another file system.
func linkAgent(agent, dataDir string) error {
	dst := filepath.Join(dataDir, agentFile)
	if err := os.Link(agent, dst); err == nil {
		return nil
	}
	if err := sandbox.CopyExecutable(agent, dst); err != nil {
		return fmt.Errorf("link lane agent: %w", err)
	}
	return nil
}

// agentConn is the service's end of a lane agent's protocol: requests to
// its stdin, frames from its stdout (internal/laneagent).
type agentConn struct {
	stdin io.Writer
	dec   laneagent.Decoder

	ready     chan struct{}
	readyOnce sync.Once
	started   chan string // "" when the test started, why not when it did not
	exit      chan laneagent.ExitStatus
	done      chan struct{}
	broken    chan struct{} // the agent broke the protocol
	brokeOnce sync.Once

	mu             sync.Mutex
	stdout, stderr io.Writer // the current test's

	forker atomic.Int64 // the forking parent that forked the last test (Started), 0 for none
}

// forkedBy is the PID in the sandbox of the forking parent that forked the
// test that started last; 0 when it was exec'd.
func (c *agentConn) forkedBy() int { return int(c.forker.Load()) }

// newAgentConn returns a connection whose stdin is set once the agent's
// sandbox exists.
func newAgentConn() *agentConn {
	c := &agentConn{
		ready: make(chan struct{}), started: make(chan string, 1),
		exit: make(chan laneagent.ExitStatus, 1), done: make(chan struct{}, 1), broken: make(chan struct{}),
	}
	c.dec.Frame = c.frame
	return c
}

// Write takes the agent's stdout.
func (c *agentConn) Write(p []byte) (int, error) { return c.dec.Write(p) }

func (c *agentConn) breakProtocol() { c.brokeOnce.Do(func() { close(c.broken) }) }

// frame routes one frame; a frame that comes when none of its kind is
// awaited breaks the protocol.
func (c *agentConn) frame(kind byte, p []byte) {
	switch kind {
	case laneagent.Ready:
		c.readyOnce.Do(func() { close(c.ready) })
	case laneagent.Started, laneagent.Failed:
		why := ""
		if kind == laneagent.Failed {
			why = cmp.Or(string(p), "failed")
		} else {
			pid, err := laneagent.ParseStarted(p)
			if err != nil {
				c.breakProtocol()
				return
			}
			c.forker.Store(int64(pid))
		}
		select {
		case c.started <- why:
		default:
			c.breakProtocol()
		}
	case laneagent.Stdout, laneagent.Stderr:
		c.mu.Lock()
		w := c.stdout
		if kind == laneagent.Stderr {
			w = c.stderr
		}
		c.mu.Unlock()
		if w == nil {
			c.breakProtocol()
			return
		}
		_, _ = w.Write(p)
	case laneagent.Exit:
		e, err := laneagent.ParseExit(p)
		if err != nil {
			c.breakProtocol()
			return
		}
		select {
		case c.exit <- e:
		default:
			c.breakProtocol()
		}
	case laneagent.Done:
		select {
		case c.done <- struct{}{}:
		default:
			c.breakProtocol()
		}
	default:
		c.breakProtocol()
	}
}

// send asks the agent to start a test whose output goes to stdout and
// stderr, and waits until it started.
func (c *agentConn) send(req laneagent.Request, stdout, stderr io.Writer, agentGone <-chan client.ExitStatus) error {
	c.mu.Lock()
	c.stdout, c.stderr = stdout, stderr
	c.mu.Unlock()
	b, err := req.Frame()
	if err != nil {
		return err
	}
	written := make(chan error, 1)
	// A write to a dead agent is released by the sandbox's teardown.
	go func() { _, err := c.stdin.Write(b); written <- err }()
	timeout := time.NewTimer(sandbox.CleanupTimeout)
	defer timeout.Stop()
	for {
		select {
		case err := <-written:
			if err != nil {
				return fmt.Errorf("lane agent: send request: %w", err)
			}
			written = nil
		case why := <-c.started:
			if why != "" {
				return fmt.Errorf("lane agent: start run: %s", why)
			}
			return nil
		case <-c.broken:
			return errors.New("lane agent: protocol error")
		case <-agentGone:
			return errors.New("lane agent exited")
		case <-timeout.C:
			return fmt.Errorf("lane agent: no answer in %s", sandbox.CleanupTimeout)
		}
	}
}

// endRun detaches the finished test's output.
func (c *agentConn) endRun() {
	c.mu.Lock()
	c.stdout, c.stderr = nil, nil
	c.mu.Unlock()
}

// procStat is /proc/PID/stat's fields after the command's closing
// parenthesis: the line's third field (the state) first.
func procStat(pid int) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])), nil
}

// agentState is what the agent's children inherit that a test, running
// as the same user, can change from outside: its resource limits, its
// scheduling (nice, policy, real-time priority), its CPU affinity and its
// I/O priority. A lane whose agent's state changed during a test is
// replaced, so that no test inherits what an earlier one set.
func agentState(pid int) (string, error) {
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "", err
	}
	// Priority and nice are the 18th and 19th fields of the whole line,
	// rt_priority and policy the 40th and 41st.
	f, err := procStat(pid)
	if err != nil {
		return "", err
	}
	if len(f) < 39 {
		return "", fmt.Errorf("short /proc/%d/stat", pid)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	affinity := ""
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Cpus_allowed:") || strings.HasPrefix(line, "Mems_allowed:") {
			affinity += line + "\n"
		}
	}
	const ioprioWhoProcess = 1
	ioprio, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(pid), 0)
	if errno != 0 {
		return "", fmt.Errorf("ioprio_get: %w", errno)
	}
	return fmt.Sprintf("%s\nsched %s %s %s %s\n%sioprio %d\n", limits, f[15], f[16], f[37], f[38], affinity, ioprio), nil
}
