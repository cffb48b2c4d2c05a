package judge

import (
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
}

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
