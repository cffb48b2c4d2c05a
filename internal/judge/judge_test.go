package judge

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

func intPtr(n int) *int { return &n }

func TestCheckerVerdict(t *testing.T) {
	tests := []struct {
		name   string
		res    runner.Result
		status Status
		msg    string
	}{
		{"exit 0 accepts, with testlib's message", runner.Result{Status: runner.StatusSuccess, ExitCode: intPtr(0), Stderr: "ok 3 numbers\n"}, StatusAccepted, "ok 3 numbers"},
		{"exit 1 is a wrong answer", runner.Result{Status: runner.StatusRuntimeError, ExitCode: intPtr(1), Stderr: "wrong answer 1st numbers differ"}, StatusWrongAnswer, "1st numbers differ"},
		{"exit 2 is a presentation error", runner.Result{Status: runner.StatusRuntimeError, ExitCode: intPtr(2)}, StatusPresentationError, ""},
		{"stdout is the message when stderr is empty", runner.Result{Status: runner.StatusRuntimeError, ExitCode: intPtr(1), Stdout: "no"}, StatusWrongAnswer, "no"},
		{"exit 3 is the checker's own failure", runner.Result{Status: runner.StatusRuntimeError, ExitCode: intPtr(3), Stderr: "FAIL bad answer file"}, StatusCheckerError, "exit 3"},
		{"another exit code is a checker error", runner.Result{Status: runner.StatusRuntimeError, ExitCode: intPtr(42)}, StatusCheckerError, "unknown code"},
		{"a crash is a checker error", runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGSEGV"}, StatusCheckerError, "SIGSEGV"},
		{"a timeout is a checker error", runner.Result{Status: runner.StatusTimeout, Signal: "SIGKILL"}, StatusCheckerError, "out of time"},
		{"running out of memory is a checker error", runner.Result{Status: runner.StatusMemoryLimitExceeded, Signal: "SIGKILL"}, StatusCheckerError, "out of memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := checkerVerdict(tc.res)
			if status != tc.status || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %s %q, want %s with %q", status, msg, tc.status, tc.msg)
			}
		})
	}
	if _, msg := checkerVerdict(runner.Result{Status: runner.StatusRuntimeError, ExitCode: intPtr(1), Stderr: strings.Repeat("x", 5000)}); len(msg) > maxMessage+4 {
		t.Errorf("a long message is kept whole: %d bytes", len(msg))
	}
}

// fakeSandboxes is a Sandboxes whose batch answers each run with a
// function of its program and input.
type fakeSandboxes struct {
	builds []runner.Build
	run    func(prog int, in runner.BatchRun) (runner.Result, error)
	lanes  int
	// validatorFirst is every conversation's Conversation.BFirst.
	validatorFirst bool

	mu     sync.Mutex
	progs  []runner.Program
	closed bool
	inputs []string // program runs, in the order they came
}

func (f *fakeSandboxes) OpenBatch(_ context.Context, progs []runner.Program, lanes int) (runner.Batch, []runner.Build, error) {
	f.progs = progs
	builds := f.builds
	if builds == nil {
		builds = make([]runner.Build, len(progs))
		for i := range builds {
			builds[i].Status = runner.StatusSuccess
		}
	}
	for _, b := range builds {
		if b.Status != runner.StatusSuccess {
			return nil, builds, nil
		}
	}
	if f.lanes > 0 {
		lanes = min(lanes, f.lanes)
	}
	return &fakeBatch{f: f, lanes: lanes}, builds, nil
}

type fakeBatch struct {
	f     *fakeSandboxes
	lanes int
}

func (b *fakeBatch) Lanes() int { return b.lanes }
func (b *fakeBatch) Close()     { b.f.mu.Lock(); b.f.closed = true; b.f.mu.Unlock() }
func (b *fakeBatch) Converse(ctx context.Context, lane, pa, pb int, inA, inB runner.BatchRun, _ int) (runner.Conversation, error) {
	a, err := b.Run(ctx, lane, pa, inA)
	if err != nil {
		return runner.Conversation{}, err
	}
	v, err := b.Run(ctx, lane, pb, inB)
	return runner.Conversation{A: a, B: v, BFirst: b.f.validatorFirst}, err
}

func (b *fakeBatch) Run(_ context.Context, _, prog int, in runner.BatchRun) (runner.Result, error) {
	if prog == 0 {
		b.f.mu.Lock()
		b.f.inputs = append(b.f.inputs, in.Input)
		b.f.mu.Unlock()
	}
	return b.f.run(prog, in)
}

// echo is a program that prints its input.
func echo(_ int, in runner.BatchRun) (runner.Result, error) {
	return runner.Result{Status: runner.StatusSuccess, ExitCode: intPtr(0), Stdout: in.Input, Time: time.Millisecond}, nil
}

func tests(pairs ...string) []Test {
	var out []Test
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Test{Input: pairs[i], ExpectedOutput: pairs[i+1]})
	}
	return out
}

var opts = Options{Lanes: 2, OutputBytes: 64 << 10, CheckerTimeout: 5 * time.Second}

func TestJudge(t *testing.T) {
	t.Run("every test accepted is accepted", func(t *testing.T) {
		f := &fakeSandboxes{run: echo}
		res, err := Judge(context.Background(), f, Request{Language: "python", Code: "x", Tests: tests("1\n", "1\n", "2\n", "2\n")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != StatusAccepted || res.Passed != 2 || res.Total != 2 || !f.closed {
			t.Fatalf("%+v closed %v", res, f.closed)
		}
		if res.Tests[0].Returned || res.Tests[0].Stdout != "" {
			t.Errorf("an accepted test's output is returned unasked: %+v", res.Tests[0])
		}
	})
	t.Run("the verdict is the first failed test by index, and its output is returned", func(t *testing.T) {
		f := &fakeSandboxes{run: func(_ int, in runner.BatchRun) (runner.Result, error) {
			if in.Input == "crash" {
				return runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGSEGV", Stderr: "boom"}, nil
			}
			return echo(0, in)
		}}
		res, err := Judge(context.Background(), f, Request{Tests: tests("a", "a", "b", "c", "crash", "x")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != StatusWrongAnswer || res.Passed != 1 {
			t.Fatalf("verdict %s passed %d", res.Verdict, res.Passed)
		}
		if got := res.Tests[1]; !got.Returned || got.Stdout != "b" || !strings.Contains(got.Message, `expected "c", got "b"`) {
			t.Errorf("test 1: %+v", got)
		}
		if got := res.Tests[2]; got.Status != StatusRuntimeError || got.Stderr != "boom" || got.Signal != "SIGSEGV" {
			t.Errorf("test 2: %+v", got)
		}
	})
	t.Run("stop_on_failure skips every test after the first failure", func(t *testing.T) {
		f := &fakeSandboxes{run: echo, lanes: 1}
		res, err := Judge(context.Background(), f, Request{Tests: tests("a", "a", "b", "x", "c", "c", "d", "d"), StopOnFailure: true}, opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []Status
		for _, tr := range res.Tests {
			got = append(got, tr.Status)
		}
		if want := []Status{StatusAccepted, StatusWrongAnswer, StatusSkipped, StatusSkipped}; !slices.Equal(got, want) {
			t.Fatalf("statuses %v, want %v", got, want)
		}
		if len(f.inputs) != 2 {
			t.Errorf("ran %v with one lane; the tests after the failure must not run", f.inputs)
		}
	})
	t.Run("a submission that does not compile runs no test", func(t *testing.T) {
		f := &fakeSandboxes{builds: []runner.Build{{Status: runner.StatusCompileError, Output: "error: x"}}, run: echo}
		res, err := Judge(context.Background(), f, Request{Tests: tests("a", "a")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != StatusCompileError || res.CompileOutput != "error: x" || res.Tests[0].Status != StatusSkipped || len(f.inputs) != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("a checker that does not compile is a checker error, not the submission's", func(t *testing.T) {
		f := &fakeSandboxes{builds: []runner.Build{{Status: runner.StatusSuccess}, {Status: runner.StatusCompileError, Output: "checker.cpp: error"}}, run: echo}
		res, err := Judge(context.Background(), f, Request{Tests: tests("a", "a"), Checker: &Checker{Language: "cpp", Code: "x"}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != StatusCheckerError || res.CheckerOutput != "checker.cpp: error" {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("the checker gets the input, output and answer as files and decides", func(t *testing.T) {
		var files map[string]string
		var mu sync.Mutex
		f := &fakeSandboxes{run: func(prog int, in runner.BatchRun) (runner.Result, error) {
			if prog == 0 {
				return echo(0, in)
			}
			mu.Lock()
			files = in.Files
			mu.Unlock()
			if len(in.Args) != 3 || in.Args[0] != "/run/data/input" || in.Args[2] != "/run/data/answer" {
				t.Errorf("checker args %v", in.Args)
			}
			return runner.Result{Status: runner.StatusRuntimeError, ExitCode: intPtr(2), Stderr: "extra spaces"}, nil
		}}
		res, err := Judge(context.Background(), f, Request{Tests: tests("in", "ans"), Checker: &Checker{Language: "cpp", Code: "x"}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != StatusPresentationError || res.Tests[0].Message != "extra spaces" {
			t.Fatalf("%+v", res)
		}
		if files["input"] != "in" || files["output"] != "in" || files["answer"] != "ans" {
			t.Errorf("files %v", files)
		}
		if len(f.progs) != 2 || f.progs[1].Limits.Timeout != opts.CheckerTimeout {
			t.Errorf("programs %+v", f.progs)
		}
	})
	t.Run("return_output returns every test's output", func(t *testing.T) {
		f := &fakeSandboxes{run: echo}
		res, err := Judge(context.Background(), f, Request{Tests: tests("a", "a"), ReturnOutput: true}, opts)
		if err != nil || !res.Tests[0].Returned || res.Tests[0].Stdout != "a" {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("the output cap grows with the expected output, and returned output is cut to the request's cap", func(t *testing.T) {
		var caps []int
		var mu sync.Mutex
		f := &fakeSandboxes{run: func(_ int, in runner.BatchRun) (runner.Result, error) {
			mu.Lock()
			caps = append(caps, in.OutputBytes)
			mu.Unlock()
			return runner.Result{Status: runner.StatusSuccess, ExitCode: intPtr(0), Stdout: strings.Repeat("y", 200)}, nil
		}}
		big := strings.Repeat("x", 100<<10)
		res, err := Judge(context.Background(), f, Request{Tests: tests("", big), Limits: runner.Limits{OutputBytes: 100}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if caps[0] < 2*len(big) {
			t.Errorf("cap %d for an expected output of %d bytes", caps[0], len(big))
		}
		if got := res.Tests[0]; len(got.Stdout) != 100 || !got.StdoutTruncated {
			t.Errorf("returned %d bytes, truncated %v", len(got.Stdout), got.StdoutTruncated)
		}
	})
	t.Run("a service error fails the whole request", func(t *testing.T) {
		f := &fakeSandboxes{run: func(int, runner.BatchRun) (runner.Result, error) { return runner.Result{}, runner.ErrUnavailable }}
		if _, err := Judge(context.Background(), f, Request{Tests: tests("a", "a", "b", "b")}, opts); !errors.Is(err, runner.ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
		if !f.closed {
			t.Error("the batch was not closed")
		}
	})
	t.Run("an invalid comparison is refused before anything runs", func(t *testing.T) {
		f := &fakeSandboxes{run: echo}
		if _, err := Judge(context.Background(), f, Request{Tests: tests("a", "a"), Compare: Compare{Mode: "regex"}}, opts); !errors.Is(err, ErrInvalid) || f.progs != nil {
			t.Fatalf("got %v", err)
		}
	})
}
