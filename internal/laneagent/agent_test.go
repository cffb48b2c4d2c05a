package laneagent

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/laneagent/agenttest"
)

// testAgent is a running agent and the frames it sent.
type testAgent struct {
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	mu    sync.Mutex
	cond  *sync.Cond
	frame []frame
	eof   bool
}

type frame struct {
	kind    byte
	payload []byte
}

// startAgent runs the agent as PID 1 of a PID namespace of its own, with a
// /proc of that namespace, as in a sandbox. It needs root.
func startAgent(t testing.TB) *testAgent {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, for a PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", agenttest.Path(t))
	cmd.Env = append(os.Environ(), "LANEAGENT_TEST_ENV=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &testAgent{t: t, cmd: cmd, in: in}
	a.cond = sync.NewCond(&a.mu)
	d := &Decoder{Frame: func(kind byte, p []byte) {
		a.mu.Lock()
		a.frame = append(a.frame, frame{kind, bytes.Clone(p)})
		a.cond.Broadcast()
		a.mu.Unlock()
	}}
	go func() {
		_, _ = io.Copy(d, out)
		a.mu.Lock()
		a.eof = true
		a.cond.Broadcast()
		a.mu.Unlock()
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent exit: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("agent did not exit when its stdin closed")
		}
	})
	if f := a.next(); f.kind != Ready {
		t.Fatalf("first frame %q, want Ready", f.kind)
	}
	return a
}

// next returns the next frame, failing the test after 10 s.
func (a *testAgent) next() frame {
	a.t.Helper()
	deadline := time.AfterFunc(10*time.Second, func() {
		a.mu.Lock()
		a.eof = true
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	defer deadline.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.frame) == 0 && !a.eof {
		a.cond.Wait()
	}
	if len(a.frame) == 0 {
		a.t.Fatal("no frame from the agent")
	}
	f := a.frame[0]
	a.frame = a.frame[1:]
	return f
}

// result is one test's frames, put together.
type result struct {
	failed         string
	stdout, stderr string
	exit           ExitStatus
	exitBeforeDone time.Duration // from Exit to Done
}

func (a *testAgent) run(stdin string, args ...string) result {
	a.t.Helper()
	dir := a.t.TempDir()
	in := filepath.Join(dir, "stdin")
	if err := os.WriteFile(in, []byte(stdin), 0o644); err != nil {
		a.t.Fatal(err)
	}
	a.send(Request{Args: args, Stdin: in, Dir: dir})
	return a.collect()
}

// send sends a request.
func (a *testAgent) send(req Request) {
	a.t.Helper()
	b, err := req.Frame()
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.in.Write(b); err != nil {
		a.t.Fatal(err)
	}
}

// collect reads one request's answer.
func (a *testAgent) collect() result {
	a.t.Helper()
	var res result
	var out, errOut strings.Builder
	var exitAt time.Time
	if f := a.next(); f.kind == Failed {
		res.failed = string(f.payload)
		return res
	} else if f.kind != Started {
		a.t.Fatalf("frame %q, want Started", f.kind)
	}
	for {
		f := a.next()
		switch f.kind {
		case Stdout:
			out.Write(f.payload)
		case Stderr:
			errOut.Write(f.payload)
		case Exit:
			e, err := ParseExit(f.payload)
			if err != nil {
				a.t.Fatal(err)
			}
			res.exit, exitAt = e, time.Now()
		case Done:
			if exitAt.IsZero() {
				a.t.Fatal("Done before Exit")
			}
			res.exitBeforeDone = time.Since(exitAt)
			res.stdout, res.stderr = out.String(), errOut.String()
			return res
		default:
			a.t.Fatalf("unexpected frame %q", f.kind)
		}
	}
}

func TestAgentRunsTests(t *testing.T) {
	a := startAgent(t)
	res := a.run("4 5\n", "sh", "-c", `read a b; echo $((a+b)); echo err >&2; exit 3`)
	if res.failed != "" || res.stdout != "9\n" || res.stderr != "err\n" || res.exit.Code() != 3 {
		t.Fatalf("got %+v", res)
	}
	if res.exit.Elapsed <= 0 || res.exit.Elapsed > 5*time.Second {
		t.Errorf("elapsed %s", res.exit.Elapsed)
	}
	res = a.run("", "sh", "-c", `kill -9 $$`)
	if res.exit.Code() != 128+9 {
		t.Errorf("killed test: code %d, want 137", res.exit.Code())
	}
	// Its working directory, its environment, its signals' default actions.
	res = a.run("", "sh", "-c", `pwd; echo "$LANEAGENT_TEST_ENV"; grep -E '^Sig(Ign|Blk)' /proc/self/status`)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], os.TempDir()) || lines[1] != "1" ||
		lines[2] != "SigBlk:\t0000000000000000" || lines[3] != "SigIgn:\t0000000000000000" {
		t.Errorf("test's state: %q", lines)
	}
	if res := a.run("", "no-such-command-here"); !strings.Contains(res.failed, "no-such-command-here") {
		t.Errorf("missing command: %+v", res)
	}
	if res := a.run("", "true"); res.failed != "" || res.exit.Code() != 0 {
		t.Errorf("after a failed start: %+v", res)
	}
}

func TestAgentReportsExitBeforeOutputEnds(t *testing.T) {
	a := startAgent(t)
	// A background process keeps stdout open after the first one exits:
	// the exit comes first (the service then kills the rest), the output
	// ends when the last writer is gone.
	res := a.run("", "sh", "-c", `(sleep 2; echo late) & echo now`)
	if res.stdout != "now\nlate\n" || res.exit.Code() != 0 {
		t.Fatalf("got %+v", res)
	}
	// The exit came without waiting for the background process: well
	// before its 2 s, on however busy a machine.
	if res.exit.Elapsed >= 2*time.Second {
		t.Errorf("exit took %s: it waited for the background process", res.exit.Elapsed)
	}
	if res.exitBeforeDone <= 0 {
		t.Errorf("Done %s after Exit", res.exitBeforeDone)
	}
}

func TestAgentSurvivesItsTests(t *testing.T) {
	a := startAgent(t)
	// From inside its PID namespace no signal reaches PID 1 unless it has
	// a handler, and the agent's handlers drop them all.
	res := a.run("", "sh", "-c", `for s in TERM INT HUP USR1 PIPE SEGV TSTP STOP KILL; do kill -s $s 1; done; echo sent`)
	if res.stdout != "sent\n" || res.exit.Code() != 0 {
		t.Fatalf("got %+v", res)
	}
	// Orphans are reaped: no zombie is left once they exit.
	a.run("", "sh", "-c", `for i in 1 2 3 4 5; do sleep 0.05 & done; exit 0`)
	// Once the orphans have exited (they sleep 50 ms), none is a zombie.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res = a.run("", "sh", "-c", `ps=$(grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l); sleepers=$(grep -l '^Name:.*sleep' /proc/[0-9]*/status | xargs -r grep -L '^State:.*Z' | wc -l); echo $sleepers $ps`)
		f := strings.Fields(res.stdout)
		if len(f) == 2 && f[0] == "0" {
			if f[1] != "0" {
				t.Errorf("zombies left: %s", f[1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orphans still run after 10 s: %q", res.stdout)
		}
	}
	if res := a.run("", "echo", "alive"); res.stdout != "alive\n" {
		t.Errorf("after the signals: %+v", res)
	}
}

func TestAgentRelaysLargeOutput(t *testing.T) {
	a := startAgent(t)
	res := a.run("", "sh", "-c", `head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2`)
	if len(res.stdout) != 1000000 || len(res.stderr) != 300000 {
		t.Fatalf("got %d and %d bytes", len(res.stdout), len(res.stderr))
	}
}

func TestAgentBadRequest(t *testing.T) {
	a := startAgent(t)
	for _, bad := range [][]byte{
		appendFrame(nil, Stdout, []byte("not a request")),
		appendFrame(nil, RequestFrame, []byte("/tmp\x00/dev/null\x00")),     // no command
		appendFrame(nil, RequestFrame, []byte("/tmp\x00/dev/null\x00true")), // not ended by NUL
	} {
		if _, err := a.in.Write(bad); err != nil {
			t.Fatal(err)
		}
		if f := a.next(); f.kind != Failed || !strings.Contains(string(f.payload), "bad request") {
			t.Fatalf("got %q %q", f.kind, f.payload)
		}
	}
	if _, err := (Request{Dir: "/"}).Frame(); err == nil {
		t.Error("a request without a command was encoded")
	}
	if res := a.run("", "true"); res.exit.Code() != 0 {
		t.Errorf("after a bad request: %+v", res)
	}
}

func TestDecoder(t *testing.T) {
	var got []frame
	d := &Decoder{Frame: func(k byte, p []byte) { got = append(got, frame{k, bytes.Clone(p)}) }}
	var stream []byte
	stream = appendFrame(stream, Stdout, []byte("hello"))
	stream = appendFrame(stream, Exit, exitPayload(ExitStatus{Elapsed: 3 * time.Millisecond, Status: 7 << 8, End: time.Hour, Exited: time.Minute}))
	stream = appendFrame(stream, Done, nil)
	// Byte by byte: frames split anywhere still come out whole.
	for i := range stream {
		if _, err := d.Write(stream[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 || got[0].kind != Stdout || string(got[0].payload) != "hello" || got[2].kind != Done {
		t.Fatalf("frames %+v", got)
	}
	e, err := ParseExit(got[1].payload)
	if err != nil || e.Elapsed != 3*time.Millisecond || e.Code() != 7 || e.End != time.Hour || e.Exited != time.Minute {
		t.Errorf("exit %+v %v", e, err)
	}
	if _, err := d.Write([]byte{Stdout, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Error("a frame over the limit was accepted")
	}
	if _, err := ParseExit([]byte{1, 2}); err == nil {
		t.Error("a short exit frame was accepted")
	}
}

// TestAgentJoinsAConversation runs the two sides of an interactive test in
// two agents, their stdin and stdout two FIFOs: each opens its ends in the
// order that cannot deadlock, they talk, and the side that asks ends
// after the side that answers, by the reaps' shared clock.
func TestAgentJoinsAConversation(t *testing.T) {
	sub, val := startAgent(t), startAgent(t)
	dir := t.TempDir()
	toSub, fromSub := filepath.Join(dir, "to-sub"), filepath.Join(dir, "from-sub")
	for _, f := range []string{toSub, fromSub} {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sub.send(Request{Args: []string{"sh", "-c", `read a; echo $((a*2)); read b; echo $((b*2))`},
		Stdin: toSub, Stdout: fromSub, Dir: dir})
	val.send(Request{Args: []string{"sh", "-c", `echo 21; read x; echo 50; read y; echo "$x $y" >&2; [ "$x $y" = "42 100" ] && exit 42; exit 43`},
		Stdin: fromSub, Stdout: toSub, StdoutFirst: true, Dir: dir})
	done := make(chan result)
	go func() { done <- sub.collect() }()
	v := val.collect()
	s := <-done
	if v.exit.Code() != 42 || v.stderr != "42 100\n" || s.exit.Code() != 0 {
		t.Fatalf("validator %+v, submission %+v", v, s)
	}
	if s.stdout != "" || v.stdout != "" {
		t.Errorf("output went to the agents, not the FIFOs: %q %q", s.stdout, v.stdout)
	}
	if s.exit.End <= 0 || v.exit.End <= 0 {
		t.Errorf("no end times: %v %v", s.exit.End, v.exit.End)
	}
	// The validator exits after reading the submission's last line, and
	// the submission after reading the end of its stdin: the kernel says
	// so, when it says.
	if s.exit.Exited > 0 && v.exit.Exited > 0 && s.exit.Exited < v.exit.Exited {
		t.Logf("exits by the scheduler: submission %v, validator %v", s.exit.Exited, v.exit.Exited)
	}
	if _, err := os.Stat("/proc/self/sched"); err == nil && (s.exit.Exited <= 0 || v.exit.Exited <= 0) {
		t.Errorf("the kernel has /proc/PID/sched, but no exit times: %v %v", s.exit.Exited, v.exit.Exited)
	}

	// A side that cannot open its FIFO ends with 127 and says why.
	sub.send(Request{Args: []string{"true"}, Stdin: filepath.Join(dir, "missing"), Stdout: fromSub, Dir: dir})
	if r := sub.collect(); r.exit.Code() != 127 || !strings.Contains(r.stderr, "missing") {
		t.Fatalf("a missing FIFO: %+v", r)
	}
}
