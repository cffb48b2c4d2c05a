package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/codeexec/codeexec/internal/api"
	"github.com/codeexec/codeexec/internal/judge"
)

// Exit codes of `codeexec judge`: 0 only when every test is accepted.
const (
	judgeExitRejected     = 10 // some test was not accepted
	judgeExitCompileError = 11
)

// judgeCmd judges one program file against a folder of tests through the
// same runner and judge as POST /judge, and prints a line per test and a
// summary.
func judgeCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfg, lang, stateRoot := cliFlags("judge", stderr, getenv)
	checkerFile := fs.String("checker", "", "a checker program (testlib's protocol: checker input output answer)")
	checkerLang := fs.String("checker-language", "cpp", "language of the checker")
	mode := fs.String("compare", string(judge.ModeLines), "comparison without a checker: exact, lines, tokens or float")
	stop := fs.Bool("stop-on-failure", false, "skip the tests after the first that is not accepted")
	fs.BoolVar(&cfg.BatchFreshSandboxes, "fresh-sandboxes", false, "a fresh container for every test")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: codeexec judge --language LANG [--checker FILE] FILE TESTS\n\n"+
			"Judges FILE against the tests in the folder TESTS (NAME.in with NAME.out or\nNAME.ans, or a Kattis data/sample and data/secret), as POST /judge would.\n"+
			"Exits 0 when every test is accepted, %d when one is not, %d on a compile\nerror, 1 when the command itself failed.\n\n", judgeExitRejected, judgeExitCompileError)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 2 || *lang == "" {
		fs.Usage()
		return errors.New("give --language, a program file and a tests folder")
	}
	code, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	tests, err := judge.LoadTests(fs.Arg(1))
	if err != nil {
		return err
	}
	req := judge.Request{Language: *lang, Code: string(code), Compare: judge.Compare{Mode: judge.Mode(*mode)}, StopOnFailure: *stop}
	if err := req.Compare.Validate(); err != nil {
		return err
	}
	for _, t := range tests {
		req.Tests = append(req.Tests, t.Test)
	}
	if *checkerFile != "" {
		b, err := os.ReadFile(*checkerFile)
		if err != nil {
			return err
		}
		req.Checker = &judge.Checker{Language: *checkerLang, Code: string(b)}
		req.Compare = judge.Compare{}
	}

	r, closeRunner, err := openCLIRunner(ctx, *cfg, *stateRoot, stderr)
	if err != nil {
		return err
	}
	defer closeRunner()
	res, err := judge.Judge(ctx, r, req, judge.Options{Lanes: api.DefaultJudgeLanes, OutputBytes: cfg.OutputBytes, CheckerTimeout: api.DefaultCheckerTimeout})
	if err != nil {
		return err
	}
	switch {
	case res.Verdict == judge.StatusCompileError:
		fmt.Fprint(stderr, res.CompileOutput)
	case res.CheckerOutput != "":
		fmt.Fprint(stderr, "checker: ", res.CheckerOutput)
	}
	for i, t := range res.Tests {
		line := fmt.Sprintf("%s: %s", tests[i].Name, t.Status)
		if t.Status != judge.StatusSkipped {
			line += fmt.Sprintf(" (%d ms, %.1f MiB)", t.Time.Milliseconds(), float64(t.MemoryPeakBytes)/(1<<20))
		}
		if t.Message != "" {
			line += ": " + strings.ReplaceAll(t.Message, "\n", " ")
		}
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "verdict: %s (%d of %d tests accepted)\n", res.Verdict, res.Passed, res.Total)
	switch res.Verdict {
	case judge.StatusAccepted:
		return nil
	case judge.StatusCompileError:
		return exitError{judgeExitCompileError}
	default:
		return exitError{judgeExitRejected}
	}
}
