package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/spf13/cobra"
)

// verifyExitFailed is verify-problem's exit when a submission does not get
// its folder's verdict.
const verifyExitFailed = 10

// readProblem reads and parses a problem package's folder.
func readProblem(dir string) (*problem.Problem, error) {
	files, err := problem.ReadDir(dir, problem.DefaultLimits)
	if err != nil {
		return nil, err
	}
	return problem.Parse(files)
}

// problemLimits are the limits a problem runs with on the command line:
// the package's, else the flags'.
func problemLimits(cfg runner.Config) runner.Limits {
	return runner.Limits{Timeout: cfg.RunTimeout}
}

// judgeProblem judges one program file against a problem package, as
// `codeexec judge --problem DIR` does.
func judgeProblem(ctx context.Context, cfg runner.Config, lang, stateRoot, dir, file string, stdout, stderr io.Writer) error {
	p, err := readProblem(dir)
	if err != nil {
		return err
	}
	code, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	r, closeRunner, err := openCLIRunner(ctx, cfg, stateRoot, stderr)
	if err != nil {
		return err
	}
	defer closeRunner()
	res, err := judgeAgainst(ctx, r, p, lang, string(code), cfg, runner.Build{})
	if err != nil {
		return err
	}
	names := make([]string, len(res.Tests))
	for i, t := range p.Tests() {
		names[i] = t.Name
	}
	return printJudged(stdout, stderr, names, res)
}

// judgeAgainst judges code against p and grades it; a validator's build,
// when given, stands for building it again.
func judgeAgainst(ctx context.Context, r judge.Sandboxes, p *problem.Problem, lang, code string, cfg runner.Config, validator runner.Build) (judge.Result, error) {
	req := judge.ForProblem(p, lang, code, problemLimits(cfg))
	if req.Validator != nil {
		req.Validator.Products, req.Validator.ProductsImage = validator.Products, validator.Image
	}
	return judge.Judge(ctx, r, req, cliJudgeOptions(cfg))
}

// newVerifyProblemCommand is `codeexec verify-problem DIR`: every jury
// submission of a package judged against it, as Kattis problemtools'
// verifyproblem does for submissions.
func newVerifyProblemCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify-problem DIR",
		Short: "Judge every submission of a Kattis problem package against it",
		Long: "Reads the Kattis problem package in DIR, builds its output validator, and judges\n" +
			"every program under submissions/ against it, as POST /judge with \"problem\" would;\n" +
			"each must get its folder's verdict (accepted, wrong_answer, time_limit_exceeded,\n" +
			"run_time_error, partially_accepted). Programs in languages codeexec lacks are\n" +
			fmt.Sprintf("listed as skipped. Exits 0 when every judged one does, %d when one does not,\n1 when the command itself failed.", verifyExitFailed),
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	cfg, _, stateRoot := cliFlags(fs)
	fs.BoolVar(&cfg.BatchFreshSandboxes, "fresh-sandboxes", false, "a fresh container for every test")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return verifyProblem(cmd.Context(), *cfg, *stateRoot, args[0], stdout, stderr)
	}
	return cmd
}

// verifyProblem judges every submission of the package in dir.
func verifyProblem(ctx context.Context, cfg runner.Config, stateRoot, dir string, stdout, stderr io.Writer) error {
	p, err := readProblem(dir)
	if err != nil {
		return err
	}
	tl := "the service's default"
	if p.TimeLimit > 0 {
		tl = p.TimeLimit.String()
	}
	groups := []string{}
	for _, g := range p.Groups() {
		groups = append(groups, fmt.Sprintf("%s %d", g.Name, g.Tests))
	}
	fmt.Fprintf(stdout, "%s: %q, validation %s, time limit %s, tests: %s\n", filepath.Base(dir), p.Name, p.Validation, tl, strings.Join(groups, ", "))
	r, closeRunner, err := openCLIRunner(ctx, cfg, stateRoot, stderr)
	if err != nil {
		return err
	}
	defer closeRunner()
	// The validator is built once, for every submission.
	var validator runner.Build
	if p.Validator != nil {
		if validator, err = judge.BuildValidator(ctx, r, p.Validator); err != nil {
			return err
		}
		if validator.Status != runner.StatusSuccess {
			return fmt.Errorf("the output validator %s does not build:\n%s", p.Validator.Path, validator.Output)
		}
	}
	full := p.FullScore()
	judged, failed := 0, 0
	for _, s := range p.Submissions {
		if s.Skip != "" {
			fmt.Fprintf(stdout, "%s: skipped: %s\n", s.Path, s.Skip)
			continue
		}
		start := time.Now()
		res, err := judgeAgainst(ctx, r, p, s.Language, s.Code, cfg, validator)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Path, err)
		}
		if res.Verdict == judge.StatusCheckerError && res.CheckerOutput != "" {
			return fmt.Errorf("the output validator does not build:\n%s", res.CheckerOutput)
		}
		judged++
		v := judge.KattisVerdict(res.Verdict)
		if res.Verdict == judge.StatusCompileError {
			v = "CE"
		}
		score := 0.0
		got := string(res.Verdict)
		if res.Score != nil {
			score = *res.Score
			got += fmt.Sprintf(", score %g of %g", score, full)
		}
		mark := "OK"
		if !s.Meets(v, score, full, p.Validation.Scoring) {
			mark, failed = "FAILED", failed+1
		}
		why := ""
		for _, t := range res.Tests {
			if t.Status != judge.StatusAccepted && t.Status != judge.StatusSkipped && t.Message != "" {
				why = ": " + strings.ReplaceAll(t.Message, "\n", " ")
				break
			}
		}
		fmt.Fprintf(stdout, "%s: %s (%s, expected %s) in %.1f s%s\n", s.Path, mark, got, s.Expect, time.Since(start).Seconds(), why)
	}
	fmt.Fprintf(stdout, "%d submissions judged, %d did not get their folder's verdict\n", judged, failed)
	switch {
	case judged == 0:
		return errors.New("no submission could be judged")
	case failed > 0:
		return exitError{verifyExitFailed}
	}
	return nil
}
