package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/runner/runnertest"
)

// kattisExamples are problemtools' example packages (MIT licence; see
// internal/problem/testdata/kattis/README.md); domjudgeExamples two of
// DOMjudge's (GPL-2.0-or-later; testdata/domjudge/README.md).
const (
	kattisExamples   = "../../internal/problem/testdata/kattis"
	domjudgeExamples = "../../internal/problem/testdata/domjudge"
)

// cliRun runs the codeexec command line against the test containerd and
// returns its stdout and exit code.
func cliRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cfg := runnertest.Config(t)
	env := map[string]string{"CODEEXEC_CONTAINERD_SOCKET": cfg.Socket, "CODEEXEC_NAMESPACE": cfg.Namespace,
		"CODEEXEC_LANE_AGENT": cfg.LaneAgent, "CODEEXEC_STATE_DIR": filepath.Join(cfg.StateDir, "cli")}
	var stdout, stderr bytes.Buffer
	err := execute(context.Background(), args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	code := 0
	var exit exitError
	if errors.As(err, &exit) {
		code = exit.code
	} else if err != nil {
		t.Fatalf("codeexec %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), code
}

// TestVerifyProblem judges every jury submission of real packages through
// `codeexec verify-problem`: each must get its folder's verdict, through
// a C++ output validator with its header (different), the default
// validator (hello) and scored groups with shared test cases (oddecho).
func TestVerifyProblem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		judged int
		lines  []string
		dir    string // kattisExamples when empty
	}{
		{"different", nil, 14, []string{
			"validation custom",
			"submissions/accepted/different.cc: OK (accepted, expected accepted)",
			"submissions/accepted/different.cs: OK (accepted, expected accepted)",
			"submissions/time_limit_exceeded/different_linear_search.cc: OK (timeout, expected time_limit_exceeded)",
			"submissions/wrong_answer/different_no_abs.cc: OK (wrong_answer, expected wrong_answer)",
			"judge answer = 2 but submission output = -2", // the validator's judgemessage.txt
			"submissions/accepted/different_py2.py: skipped: Python 2",
		}, ""},
		// hello has no time limit of its own; its memory hog needs time to
		// reach 512 MiB on a slow machine before the wall clock ends it.
		{"hello", []string{"--run-timeout", "10s"}, 6, []string{
			"submissions/run_time_error/memory_limit.cc: OK (memory_limit_exceeded, expected run_time_error)",
			`String tokens mismatch Judge: "Hello" User: "Hello!"`,
		}, ""},
		// guess is interactive: the validator is the other side of a
		// conversation, and its own rules decide who is at fault.
		{"guess", nil, 10, []string{
			"validation custom interactive",
			"submissions/accepted/guess.cc: OK (accepted, expected accepted)",
			"submissions/run_time_error/guess_rte_after_correct.cc: OK (runtime_error, expected run_time_error)",
			"submissions/time_limit_exceeded/guess_no_flush.cc: OK (timeout, expected time_limit_exceeded)",
			"submissions/time_limit_exceeded/guess_tle_after_correct.cc: OK (timeout, expected time_limit_exceeded)",
			"submissions/wrong_answer/guess_tle.cc: OK (wrong_answer, expected wrong_answer)",
			"Guess 6 is out of range: 1007", // the validator's judgemessage.txt
		}, ""},
		{"oddecho", nil, 3, []string{
			"tests: sample 2, secret 16, secret/subtask1 3, secret/subtask2 13",
			"submissions/accepted/echo.cpp: OK (accepted, score 100 of 100, expected accepted)",
			"submissions/partially_accepted/sol.py: OK (accepted, score 50 of 100, expected partially_accepted)",
		}, ""},
		// A second interactive problem, its C++ validator on DOMjudge's
		// validate.h, and a default validation with a float tolerance.
		{"boolfind", nil, 11, []string{
			"validation custom interactive, time limit 5s",
			"submissions/accepted/boolfind-test-correct.py: OK (accepted, expected accepted)",
			"submissions/time_limit_exceeded/boolfind-test-loop.cc: OK (timeout, expected time_limit_exceeded)",
			"submissions/wrong_answer/boolfind-test-no-output.c: OK (wrong_answer, expected wrong_answer)",
			"Trailing output: '0'", // the validator's judgemessage.txt
		}, domjudgeExamples},
		{"fltcmp", nil, 3, []string{
			"submissions/wrong_answer/fltcmp-test-wrong1.c: OK (wrong_answer, expected wrong_answer)",
			"Absolute error: 1.670000e-05 (abs tolerance 1.000000e-06)",
		}, domjudgeExamples},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := cmp.Or(tc.dir, kattisExamples)
			out, code := cliRun(t, append(append([]string{"verify-problem"}, tc.args...), filepath.Join(dir, tc.name))...)
			if code != 0 {
				t.Errorf("exit %d\n%s", code, out)
			}
			for _, want := range append(tc.lines, "0 did not get their folder's verdict") {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if n := strings.Count(out, ": OK ("); n != tc.judged {
				t.Errorf("%d submissions OK, want %d:\n%s", n, tc.judged, out)
			}
		})
	}
}

// TestVerifyProblemFailsAWrongFolder puts an accepted program where a
// wrong answer is expected: verify-problem must say so and exit 10.
func TestVerifyProblemFailsAWrongFolder(t *testing.T) {
	dir := writePackage(t, map[string]string{
		"problem.yaml":                    "name: Sum\nvalidator_flags: float_tolerance 1e-6\n",
		"data/secret/1.in":                "1 2\n",
		"data/secret/1.ans":               "3.0\n",
		"submissions/wrong_answer/sum.py": "a, b = map(int, input().split())\nprint(a + b)\n",
	})
	out, code := cliRun(t, "verify-problem", dir)
	if code != verifyExitFailed || !strings.Contains(out, "sum.py: FAILED (accepted, expected wrong_answer)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = cliRun(t, "judge", "--language", "python", "--problem", dir, filepath.Join(dir, "submissions/wrong_answer/sum.py"))
	if code != 0 || !strings.Contains(out, "secret/1: accepted") {
		t.Fatalf("judge --problem: exit %d:\n%s", code, out)
	}
}
