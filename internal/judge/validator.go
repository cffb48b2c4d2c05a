package judge

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner"
)

// Validator is a Kattis output validator
// (https://www.kattis.com/problem-package-format/spec/legacy.html#output-validators):
// it runs as `validator input answer feedback_dir [flags] < output`, in a
// sandbox of its own per lane with the test's input and answer read-only
// and a writable feedback directory, and says its verdict by its exit
// code: 42 accepted, 43 wrong answer, anything else a failure of the
// validator (checker_error), never the submission's. Its
// judgemessage.txt is the test's message; with Score, its score.txt is
// the test's score.
type Validator struct {
	Language string
	Code     string
	Files    map[string]string // beside the source: its headers
	Score    bool              // it may write score.txt
	// Interactive runs it beside the submission, its stdout the
	// submission's stdin and the submission's stdout its stdin.
	Interactive bool
	// Products, built on the image ProductsImage, stand for its build
	// (BuildValidator): the validator is not built again.
	Products      map[string]string
	ProductsImage string
}

// InteractionBytes is how much of an interactive test's conversation is
// kept when it is asked for.
const InteractionBytes = 64 << 10

// The validator's exit codes.
const (
	exitValidatorAC = 42
	exitValidatorWA = 43
)

// validatorRun is one run of the validator on a test's output: its
// arguments and files, and the output on its stdin.
func validatorRun(t Test, output string) runner.BatchRun {
	args := append([]string{runner.DataDir + "/" + CheckerInput, runner.DataDir + "/" + CheckerAnswer,
		oci.FeedbackMountPoint + "/"}, t.ValidatorFlags...)
	return runner.BatchRun{Input: output, Args: args,
		Files: map[string]string{CheckerInput: t.Input, CheckerAnswer: t.ExpectedOutput}}
}

// validatorVerdict maps a validator's run to the test's status, message
// and score.
func validatorVerdict(res runner.Result, scored bool) (Status, string, *float64) {
	msg := cut(strings.TrimSpace(res.Feedback["judgemessage.txt"]), maxMessage)
	scoreText, wroteScore := res.Feedback["score.txt"]
	fail := func(why string) (Status, string, *float64) {
		if msg != "" {
			why += ": " + msg
		} else if e := cut(strings.TrimSpace(res.Stderr), maxMessage); e != "" {
			why += ": " + e
		}
		return StatusCheckerError, why, nil
	}
	exited := res.Status == runner.StatusSuccess || res.Status == runner.StatusRuntimeError && res.ExitCode != nil
	switch {
	case res.Status == runner.StatusTimeout:
		return fail("validator ran out of time")
	case res.Status == runner.StatusMemoryLimitExceeded:
		return fail("validator ran out of memory")
	case res.Signal != "":
		return fail("validator was killed by " + res.Signal)
	case !exited:
		return fail("validator failed")
	case *res.ExitCode == exitValidatorWA:
		if wroteScore {
			return fail("validator wrote score.txt on a wrong answer")
		}
		return StatusWrongAnswer, msg, nil
	case *res.ExitCode != exitValidatorAC:
		return fail(fmt.Sprintf("validator exited with %d, not 42 or 43", *res.ExitCode))
	}
	if !wroteScore {
		return StatusAccepted, msg, nil
	}
	if !scored {
		return fail("validator wrote score.txt, but the problem's validation is not custom score")
	}
	s, err := strconv.ParseFloat(strings.TrimSpace(scoreText), 64)
	if err != nil || math.IsNaN(s) || math.IsInf(s, 0) {
		return fail(fmt.Sprintf("validator's score.txt %q is not a number", cut(scoreText, 40)))
	}
	return StatusAccepted, msg, &s
}

// converse judges test i of an interactive problem: the submission and
// the validator run at once in their own sandboxes of the lane, each
// one's stdout the other's stdin (runner.Batch.Converse). The validator
// may run for the submission's time limit and its own besides. The
// verdict follows Kattis problemtools: the validator's, when it failed or
// when it found a wrong answer and ended first; else the submission's
// timeout or crash; else the validator's. A validator killed by SIGPIPE
// after the submission ended found the submission gone: a wrong answer,
// not its own failure.
func converse(ctx context.Context, b runner.Batch, lane int, req Request, opt Options, i int) (TestResult, error) {
	t := req.Tests[i]
	limit := testTimeout(req, opt, t)
	val := validatorRun(t, "")
	val.Timeout = limit + opt.CheckerTimeout
	record := 0
	if req.Interaction {
		record = InteractionBytes
	}
	conv, err := b.Converse(ctx, lane, 0, 1, runner.BatchRun{Timeout: t.Timeout, OutputBytes: outputCap(req, opt, t)}, val, record)
	if err != nil {
		return TestResult{}, err
	}
	run := conv.A
	tr := TestResult{Index: i, ExitCode: run.ExitCode, Signal: run.Signal, Time: run.Time,
		CPUTime: run.CPUTime, MemoryPeakBytes: run.MemoryPeakBytes, ValidatorCPU: conv.B.CPUTime,
		Interaction: conv.Said, InteractionTruncated: conv.SaidTruncated}
	status, msg, score := validatorVerdict(conv.B, req.Validator.Score)
	if conv.B.Signal == "SIGPIPE" && !conv.BFirst {
		// The validator wrote after the submission, its only reader, was
		// gone: the submission stopped listening, not the validator failing.
		status, msg, score = StatusWrongAnswer, "the submission stopped reading before the validator was done", nil
	}
	switch {
	case status == StatusCheckerError || status == StatusWrongAnswer && conv.BFirst:
		tr.Status, tr.Message, tr.Score = status, msg, score
	case run.Status == runner.StatusTimeout:
		tr.Status = StatusTimeout
	case run.Status == runner.StatusMemoryLimitExceeded:
		tr.Status = StatusMemoryLimitExceeded
	case run.Status == runner.StatusRuntimeError:
		tr.Status = StatusRuntimeError
	case run.Status == runner.StatusOutputLimitExceeded:
		tr.Status = StatusOutputLimitExceeded // its stderr: its stdout went to the validator
	default:
		tr.Status, tr.Message, tr.Score = status, msg, score
	}
	if tr.Status != StatusAccepted || req.ReturnOutput {
		tr.Returned = true
		tr.Stderr, tr.StderrTruncated = run.Stderr, run.StderrTruncated
	}
	return tr, nil
}
