// Package judge judges a submission: it builds the program once, runs it
// on every test case in a batch of the runner's (a fresh process each,
// which sees nothing of the tests before it), compares each output with
// the expected one or hands it to a checker, and sums the tests up in one
// verdict. Comparison, the checker protocol and the verdict rules are here;
// containers are the runner's, HTTP the api's.
package judge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/runner"
)

// Status is the verdict of one test, or of a whole submission.
type Status string

// The statuses. The run statuses keep the meaning they have in /run.
const (
	StatusAccepted            Status = "accepted"
	StatusWrongAnswer         Status = "wrong_answer"
	StatusPresentationError   Status = "presentation_error" // a checker's call only
	StatusCompileError        Status = "compile_error"      // the submission's verdict only
	StatusRuntimeError        Status = "runtime_error"
	StatusTimeout             Status = "timeout"
	StatusMemoryLimitExceeded Status = "memory_limit_exceeded"
	StatusOutputLimitExceeded Status = "output_limit_exceeded"
	StatusCheckerError        Status = "checker_error"
	StatusSkipped             Status = "skipped" // a test's only: not run, after a failure with StopOnFailure
)

// Verdicts lists every status a submission's verdict can have, for metrics.
var Verdicts = []Status{StatusAccepted, StatusWrongAnswer, StatusPresentationError, StatusCompileError,
	StatusRuntimeError, StatusTimeout, StatusMemoryLimitExceeded, StatusOutputLimitExceeded, StatusCheckerError}

// Sandboxes opens batches; *runner.Runner is one.
type Sandboxes interface {
	OpenBatch(ctx context.Context, progs []runner.Program, lanes int) (runner.Batch, []runner.Build, error)
}

// Request is one submission and its tests.
type Request struct {
	Language string
	Code     string
	Tests    []Test
	Limits   runner.Limits // for every test; a test's own Timeout and OutputBytes win
	Compare  Compare
	Checker  *Checker // compares instead of Compare when set
	// Validator, when set, judges each output by the Kattis format's
	// output validator protocol instead of Compare (validator.go).
	Validator *Validator
	// KattisDefault compares by the Kattis default validator's rules
	// with each test's ValidatorFlags, instead of Compare.
	KattisDefault bool
	// Problem, when set, is the package the tests come from (ForProblem):
	// the result is graded by its groups (GradeProblem).
	Problem       *problem.Problem
	ProblemID     string // its id in the service's store, for the answer
	StopOnFailure bool   // skip the tests after the first that is not accepted
	ReturnOutput  bool   // return every test's stdout and stderr, not only the failed ones'
	// Interaction returns, for an interactive problem, what the submission
	// and the validator said to each other (up to InteractionBytes per
	// test); it puts the service between them.
	Interaction bool
}

// Test is one test case.
type Test struct {
	Input          string
	ExpectedOutput string
	Timeout        time.Duration // 0: the request's
	OutputBytes    int           // 0: the request's
	// ValidatorFlags are a Kattis validator's flags for this test (the
	// package's validator_flags and its group's output_validator_flags).
	ValidatorFlags []string
}

// Checker is a program that judges each output (testlib's protocol, see
// checker.go).
type Checker struct {
	Language string
	Code     string
}

// Options are the service's settings for judging.
type Options struct {
	Lanes          int           // tests of one request run at once, at most
	OutputBytes    int           // the /run output cap: what a test's returned stdout and stderr are cut to
	CheckerTimeout time.Duration // each checker run's wall-clock limit
	DefaultTimeout time.Duration // a test's time limit when neither it nor the request sets one (the runner's)
	// Opened, when set, is called once the programs are built and the
	// batch is open, before the first test, with the number of lanes the
	// batch got (the runner may give fewer than Lanes when its sandbox
	// slots are taken).
	Opened func(lanes int)
}

// Result is the judgement of a submission.
type Result struct {
	Verdict       Status
	Passed, Total int
	CompileOutput string
	CompileTime   time.Duration
	CheckerOutput string // the checker's compiler output, when it did not compile
	Tests         []TestResult
	Score         *float64              // a scoring problem's (GradeProblem)
	Groups        []problem.GroupResult // a scoring problem's groups
}

// TestResult is the judgement of one test.
type TestResult struct {
	Index           int
	Status          Status
	Message         string // where the output first differs, or the checker's message
	Returned        bool   // Stdout and Stderr are returned (a failed test, or ReturnOutput)
	Stdout, Stderr  string
	StdoutTruncated bool // more was written than Stdout holds
	StderrTruncated bool
	ExitCode        *int
	Signal          string
	Time            time.Duration
	CPUTime         time.Duration
	MemoryPeakBytes int64
	Score           *float64      // a Kattis validator's score.txt, when it wrote one on an accepted output
	ValidatorCPU    time.Duration // a Kattis validator's CPU time on this test
	// Interaction is what an interactive test's two sides said
	// (Request.Interaction): lines of the submission marked ">", of the
	// validator "<".
	Interaction          string
	InteractionTruncated bool
}

// Judge judges req. A submission that fails (does not compile, crashes,
// answers wrong) is a Result with a nil error; errors are the service's
// (runner.ErrBusy, runner.ErrUnavailable, ctx's, ...).
func Judge(ctx context.Context, s Sandboxes, req Request, opt Options) (Result, error) {
	if err := req.Compare.Validate(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	progs := []runner.Program{{Language: req.Language, Code: req.Code, Limits: req.Limits}}
	switch {
	case req.Checker != nil && req.Validator != nil:
		return Result{}, fmt.Errorf("%w: a checker and a validator at once", ErrInvalid)
	case req.Checker != nil:
		progs = append(progs, runner.Program{Language: req.Checker.Language, Code: req.Checker.Code,
			Limits: runner.Limits{Timeout: opt.CheckerTimeout}})
	case req.Validator != nil:
		v := req.Validator
		progs = append(progs, runner.Program{Language: v.Language, Code: v.Code, Files: v.Files, Feedback: true,
			Products: v.Products, ProductsImage: v.ProductsImage, Limits: runner.Limits{Timeout: opt.CheckerTimeout}})
	}
	lanes := max(min(opt.Lanes, len(req.Tests)), 1)
	batch, builds, err := s.OpenBatch(ctx, progs, lanes)
	if err != nil {
		return Result{}, err
	}
	res := Result{Total: len(req.Tests), Tests: make([]TestResult, len(req.Tests))}
	for i := range res.Tests {
		res.Tests[i] = TestResult{Index: i, Status: StatusSkipped}
	}
	if len(builds) > 0 {
		res.CompileOutput, res.CompileTime = builds[0].Output, builds[0].Time
		if builds[0].Status != runner.StatusSuccess {
			res.Verdict = StatusCompileError
			return res, nil
		}
		if len(builds) > 1 && builds[1].Status != runner.StatusSuccess {
			res.Verdict, res.CheckerOutput = StatusCheckerError, builds[1].Output
			return res, nil
		}
	}
	defer batch.Close()
	if opt.Opened != nil {
		opt.Opened(batch.Lanes())
	}

	// Each lane takes the next test in index order until none is left or,
	// with StopOnFailure, a test before it failed.
	var (
		mu       sync.Mutex
		next     int
		failedAt = len(req.Tests) // the lowest index that failed
		firstErr error
	)
	var wg sync.WaitGroup
	for lane := range batch.Lanes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				stop := i >= len(req.Tests) || firstErr != nil || (req.StopOnFailure && failedAt < i)
				next++
				mu.Unlock()
				if stop {
					return
				}
				tr, err := judgeTest(ctx, batch, lane, req, opt, i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					res.Tests[i] = tr
					if tr.Status != StatusAccepted {
						failedAt = min(failedAt, i)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return Result{}, firstErr
	}
	summarize(&res, req.StopOnFailure)
	if req.Problem != nil {
		GradeProblem(req.Problem, &res)
	}
	return res, nil
}

// summarize sets the verdict and the count of passed tests. With
// stopOnFailure, every test after the first failed one (by index) is
// skipped, whether a lane had run it or not, so that the answer does not
// depend on how the lanes happened to race.
func summarize(res *Result, stopOnFailure bool) {
	res.Verdict, res.Passed = StatusAccepted, 0
	failed := false
	for i := range res.Tests {
		t := &res.Tests[i]
		if failed && stopOnFailure {
			*t = TestResult{Index: i, Status: StatusSkipped}
			continue
		}
		switch t.Status {
		case StatusAccepted:
			res.Passed++
		default:
			if !failed {
				res.Verdict = t.Status
			}
			failed = true
		}
	}
}

// judgeTest runs test i in lane and judges its output.
func judgeTest(ctx context.Context, b runner.Batch, lane int, req Request, opt Options, i int) (TestResult, error) {
	t := req.Tests[i]
	if req.Validator != nil && req.Validator.Interactive {
		return converse(ctx, b, lane, req, opt, i)
	}
	// The program may write the expected output and some more: the cap
	// grows with the expected output, whatever the request's cap.
	capBytes := max(outputCap(req, opt, t), 2*len(t.ExpectedOutput)+4096)
	run, err := b.Run(ctx, lane, 0, runner.BatchRun{Input: t.Input, Timeout: t.Timeout, OutputBytes: capBytes})
	if err != nil {
		return TestResult{}, err
	}
	tr := TestResult{Index: i, ExitCode: run.ExitCode, Signal: run.Signal, Time: run.Time,
		CPUTime: run.CPUTime, MemoryPeakBytes: run.MemoryPeakBytes}
	switch run.Status {
	case runner.StatusSuccess:
		if req.Validator != nil {
			val, err := b.Run(ctx, lane, 1, validatorRun(t, run.Stdout))
			if err != nil {
				return TestResult{}, err
			}
			tr.Status, tr.Message, tr.Score = validatorVerdict(val, req.Validator.Score)
			tr.ValidatorCPU = val.CPUTime
		} else if req.KattisDefault {
			k, err := ParseKattisFlags(t.ValidatorFlags)
			if err != nil {
				tr.Status, tr.Message = StatusCheckerError, err.Error()
			} else if msg := k.Diff(t.ExpectedOutput, run.Stdout); msg != "" {
				tr.Status, tr.Message = StatusWrongAnswer, cut(msg, maxMessage)
			} else {
				tr.Status = StatusAccepted
			}
		} else if req.Checker != nil {
			chk, err := b.Run(ctx, lane, 1, runner.BatchRun{Args: checkerArgs, Files: map[string]string{
				CheckerInput: t.Input, CheckerOutput: run.Stdout, CheckerAnswer: t.ExpectedOutput}})
			if err != nil {
				return TestResult{}, err
			}
			tr.Status, tr.Message = checkerVerdict(chk)
		} else if msg := req.Compare.Diff(t.ExpectedOutput, run.Stdout); msg != "" {
			tr.Status, tr.Message = StatusWrongAnswer, msg
		} else {
			tr.Status = StatusAccepted
		}
	case runner.StatusTimeout:
		tr.Status = StatusTimeout
	case runner.StatusMemoryLimitExceeded:
		tr.Status = StatusMemoryLimitExceeded
	case runner.StatusOutputLimitExceeded:
		tr.Status, tr.Message = StatusOutputLimitExceeded, fmt.Sprintf("the output passed %d bytes", capBytes)
	case runner.StatusRuntimeError:
		tr.Status = StatusRuntimeError
	default:
		return TestResult{}, fmt.Errorf("judge: unexpected run status %q", run.Status)
	}
	if tr.Status != StatusAccepted || req.ReturnOutput {
		shown := outputCap(req, opt, t)
		tr.Returned = true
		tr.Stdout, tr.StdoutTruncated = keep(run.Stdout, shown, run.StdoutTruncated)
		tr.Stderr, tr.StderrTruncated = keep(run.Stderr, shown, run.StderrTruncated)
	}
	return tr, nil
}

// outputCap is the test's output cap as the request sets it: the test's,
// else the request's, else the service's (validation keeps each positive
// or unset).
func outputCap(req Request, opt Options, t Test) int {
	return cmp.Or(t.OutputBytes, req.Limits.OutputBytes, opt.OutputBytes)
}

// keep returns at most n bytes of s (all of it when n is 0), and whether
// anything is missing.
func keep(s string, n int, truncated bool) (string, bool) {
	if n <= 0 || len(s) <= n {
		return s, truncated
	}
	return s[:n], true
}

// ErrInvalid is wrapped by the errors of a request that cannot be judged.
var ErrInvalid = errors.New("invalid judge request")
