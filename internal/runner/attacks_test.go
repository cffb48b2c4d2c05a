package runner

// The adversarial suite of issue 3. Each TestAttack* covers one attack class
// (docs/security.md maps classes to defences and to these tests); each
// subtest is one attack program with an exact expectation: its status, and
// what it printed. The programs print what they observed (errno names,
// counts, signal names) so that a failure shows precisely what the sandbox
// let through.
//
// Class 10 (request-provided file names and paths) has no test: the API
// takes no name or path from the request. The runner writes the source to a
// fixed name per language (Language.SourceFile) inside a job directory named
// by a UUID it generates, with O_CREAT|O_EXCL|O_NOFOLLOW (job.writeSource).
// Class 18 (request-level abuse) belongs to the HTTP layer, internal/api.

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// timeoutMargin is how long after the wall-clock limit a killed run may
// still take to be reported (testtiming.KillMargin).
var timeoutMargin = testtiming.KillMargin

// attack is one adversarial program and the check of what it must observe.
type attack struct {
	name  string
	lang  string
	code  string
	input string
	// untimed marks an attack that must end by a limit other than the
	// wall-clock one (memory, a full tmpfs): it gets testtiming.LimitWait
	// as its time limit, so that on a far slower machine the time limit is
	// not what stops it. Attacks that assert the time limit keep it as it
	// is.
	untimed bool
	// timeout, when set, is the run's time limit in place of the
	// default one: for an attack that asserts the time limit but must
	// first reach another limit (a fork bomb its pids limit), with room
	// for that on a far slower machine.
	timeout time.Duration
	check   func(t *testing.T, res Result)
}

// attackRun runs a as its subtest's program.
func attackRun(t *testing.T, r *Runner, a attack) Result {
	t.Helper()
	switch {
	case a.untimed:
		return runUntimed(t, r, a.lang, a.code, a.input)
	case a.timeout > 0:
		res, err := r.Run(context.Background(), Request{Language: a.lang, Code: a.code, Input: a.input,
			Limits: Limits{Timeout: a.timeout}})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		return res
	}
	return run(t, r, a.lang, a.code, a.input)
}

// openAttackRunner opens a cold-path runner (see testConfig) whose queue
// timeout is long enough for attacks started together: they wait for one
// of the MaxConcurrent slots, and a 10 s compile bomb ahead of them must
// not turn the wait into ErrBusy.
func openAttackRunner(t *testing.T) *Runner {
	t.Helper()
	return MustOpenRunner(t, func(c *Config) { c.QueueTimeout = 5 * time.Minute })
}

// runAttacks runs each attack in its own subtest, all at once; the runner's
// MaxConcurrent slots bound how many sandboxes exist together. Subtests are
// started from goroutines instead of with t.Parallel, whose limit defaults
// to GOMAXPROCS (2 on the reference machine) and would serialise the suite.
func runAttacks(t *testing.T, r *Runner, attacks []attack) {
	t.Helper()
	var wg sync.WaitGroup
	for _, a := range attacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(a.name, func(t *testing.T) {
				a.check(t, attackRun(t, r, a))
			})
		}()
	}
	wg.Wait()
}

// runAttacksInTurn runs each attack in its own subtest, one after the other.
// It is for attacks whose outcome depends on having the machine to
// themselves: a memory bomb that reaches its limit while others thrash at
// theirs is slowed down by reclaim and may be stopped by the wall-clock
// limit before the OOM killer comes (see docs/security.md, known limits).
func runAttacksInTurn(t *testing.T, r *Runner, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			a.check(t, attackRun(t, r, a))
		})
	}
}

// wantStdout fails unless the program printed exactly want.
func wantStdout(t *testing.T, res Result, want string) {
	t.Helper()
	if res.Stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s\n(stderr: %.500s)", res.Stdout, want, res.Stderr)
	}
}

// wantTimeout fails unless the run was killed by SIGKILL at the default
// wall-clock limit, within timeoutMargin.
func wantTimeout(t *testing.T, res Result) {
	t.Helper()
	wantTimeoutAt(t, res, DefaultRunTimeout)
}

// wantTimeoutAt fails unless the run was killed by SIGKILL at the
// wall-clock limit limit, within timeoutMargin.
func wantTimeoutAt(t *testing.T, res Result, limit time.Duration) {
	t.Helper()
	wantStatus(t, res, StatusTimeout)
	if res.ExitCode != nil || res.Signal != "SIGKILL" {
		t.Errorf("exit %v signal %q, want no exit code and SIGKILL", res.ExitCode, res.Signal)
	}
	if res.Time < limit || res.Time > limit+timeoutMargin {
		t.Errorf("the run lasted %s, want between %s and %s", res.Time, limit, limit+timeoutMargin)
	}
}

// wantOOM fails unless the kernel's OOM killer ended the run.
func wantOOM(t *testing.T, res Result) {
	t.Helper()
	wantStatus(t, res, StatusMemoryLimitExceeded)
	if !res.OOMKilled || res.Signal != "SIGKILL" {
		t.Errorf("oom killed %v, signal %q; want true and SIGKILL", res.OOMKilled, res.Signal)
	}
	if limit := DefaultConfig().RunLimits.MemoryBytes; res.MemoryPeakBytes > limit {
		t.Errorf("memory peak %d bytes is above the %d byte limit", res.MemoryPeakBytes, limit)
	}
}

// wantNoProcessOf fails if any host process still lives in a cgroup of the
// run id (its compile or run sandbox).
func wantNoProcessOf(t *testing.T, id string) {
	t.Helper()
	if left := processesOfRun(id); len(left) > 0 {
		t.Errorf("processes of run %s still alive on the host: %v", id, left)
	}
}

// processesOfRun lists host processes whose cgroup names the run id.
func processesOfRun(id string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join(p, "cgroup"))
		if err != nil || !strings.Contains(string(b), "/"+id+"-") {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		out = append(out, filepath.Base(p)+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return out
}

// wantMatch fails unless s matches the regular expression re.
func wantMatch(t *testing.T, what, s, re string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Errorf("%s:\n%s\ndoes not match %s", what, s, re)
	}
	return m
}
