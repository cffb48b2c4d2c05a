package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/codeexec/codeexec/internal/api"
	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/spf13/cobra"
)

// Exit codes of `codeexec judge`: 0 only when every test is accepted.
const (
	judgeExitRejected     = 10 // some test was not accepted
	judgeExitCompileError = 11
)

// judgeCmd runs `codeexec judge args`.
func judgeCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return execute(ctx, append([]string{"judge"}, args...), os.Stdin, stdout, stderr, getenv)
}

// judgeOptions are the flags of codeexec judge beyond cliFlags.
type judgeOptions struct {
	checkerFile, checkerLang, mode string
	stop                           bool
	problem                        string // a Kattis problem package's folder
}

// newJudgeCommand is `codeexec judge`: one program file against a folder
// of tests through the same runner and judge as POST /judge; it prints a
// line per test and a summary.
func newJudgeCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "judge --language LANG [--checker FILE] FILE TESTS | judge --language LANG --problem DIR FILE",
		Short: "Judge a program against a folder of tests, or a problem package, as POST /judge",
		Long: fmt.Sprintf("Judges FILE against the tests in the folder TESTS (NAME.in with NAME.out or\nNAME.ans, or a Kattis data/sample and data/secret), as POST /judge would;\n"+
			"with --problem, against a Kattis problem package (its limits, validation and\ngroups) as POST /judge with \"problem\" would.\n"+
			"Exits 0 when the verdict is accepted, %d when it is not, %d on a compile\nerror, 1 when the command itself failed.", judgeExitRejected, judgeExitCompileError),
		Args: cobra.RangeArgs(1, 2),
	}
	fs := cmd.Flags()
	cfg, lang, stateRoot := cliFlags(fs)
	var o judgeOptions
	fs.StringVar(&o.checkerFile, "checker", "", "a checker program (testlib's protocol: checker input output answer)")
	fs.StringVar(&o.checkerLang, "checker-language", "cpp", "language of the checker")
	fs.StringVar(&o.mode, "compare", string(judge.ModeLines), "comparison without a checker: exact, lines, tokens or float")
	fs.BoolVar(&o.stop, "stop-on-failure", false, "skip the tests after the first that is not accepted")
	fs.StringVar(&o.problem, "problem", "", "a Kattis problem package's folder to judge against, instead of TESTS")
	fs.BoolVar(&cfg.BatchFreshSandboxes, "fresh-sandboxes", false, "a fresh container for every test")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case *lang == "":
			return errors.New("give --language, a program file and a tests folder (or --problem DIR)")
		case o.problem != "" && len(args) == 1:
			return judgeProblem(cmd.Context(), *cfg, *lang, *stateRoot, o.problem, args[0], stdout, stderr)
		case o.problem != "":
			return errors.New("give a program file and --problem DIR, without a tests folder")
		case len(args) != 2:
			return errors.New("give a program file and a tests folder")
		}
		return judgeFiles(cmd.Context(), *cfg, *lang, *stateRoot, o, args[0], args[1], stdout, stderr)
	}
	return cmd
}

// judgeFiles judges the program in file against the tests in dir, as
// `codeexec judge` does.
func judgeFiles(ctx context.Context, cfg runner.Config, lang, stateRoot string, o judgeOptions, file, dir string, stdout, stderr io.Writer) error {
	code, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	tests, err := judge.LoadTests(dir)
	if err != nil {
		return err
	}
	req := judge.Request{Language: lang, Code: string(code), Compare: judge.Compare{Mode: judge.Mode(o.mode)}, StopOnFailure: o.stop}
	if err := req.Compare.Validate(); err != nil {
		return err
	}
	for _, t := range tests {
		req.Tests = append(req.Tests, t.Test)
	}
	if o.checkerFile != "" {
		b, err := os.ReadFile(o.checkerFile)
		if err != nil {
			return err
		}
		req.Checker = &judge.Checker{Language: o.checkerLang, Code: string(b)}
		req.Compare = judge.Compare{}
	}

	names := make([]string, len(tests))
	for i, t := range tests {
		names[i] = t.Name
	}
	r, closeRunner, err := openCLIRunner(ctx, cfg, stateRoot, stderr)
	if err != nil {
		return err
	}
	defer closeRunner()
	res, err := judge.Judge(ctx, r, req, cliJudgeOptions(cfg))
	if err != nil {
		return err
	}
	return printJudged(stdout, stderr, names, res)
}

// cliJudgeOptions are the judge's options on the command line: the
// service's defaults.
func cliJudgeOptions(cfg runner.Config) judge.Options {
	return judge.Options{Lanes: api.DefaultJudgeLanes, OutputBytes: cfg.OutputBytes, CheckerTimeout: api.DefaultCheckerTimeout}
}

// printJudged prints a line per test and the verdict, and returns the
// command's exit.
func printJudged(stdout, stderr io.Writer, names []string, res judge.Result) error {
	switch {
	case res.Verdict == judge.StatusCompileError:
		fmt.Fprint(stderr, res.CompileOutput)
	case res.CheckerOutput != "":
		fmt.Fprint(stderr, "checker: ", res.CheckerOutput)
	}
	for i, t := range res.Tests {
		line := fmt.Sprintf("%s: %s", names[i], t.Status)
		if t.Status != judge.StatusSkipped {
			line += fmt.Sprintf(" (%d ms, %.1f MiB)", t.Time.Milliseconds(), float64(t.MemoryPeakBytes)/(1<<20))
		}
		if t.Score != nil {
			line += fmt.Sprintf(" score %g", *t.Score)
		}
		if t.Message != "" {
			line += ": " + strings.ReplaceAll(t.Message, "\n", " ")
		}
		fmt.Fprintln(stdout, line)
	}
	for _, g := range res.Groups {
		fmt.Fprintf(stdout, "group %s: %s, score %g\n", g.Name, g.Verdict, g.Score)
	}
	score := ""
	if res.Score != nil {
		score = fmt.Sprintf(", score %g", *res.Score)
	}
	fmt.Fprintf(stdout, "verdict: %s (%d of %d tests accepted%s)\n", res.Verdict, res.Passed, res.Total, score)
	switch res.Verdict {
	case judge.StatusAccepted:
		return nil
	case judge.StatusCompileError:
		return exitError{judgeExitCompileError}
	default:
		return exitError{judgeExitRejected}
	}
}
