package judge

import (
	"context"

	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/runner"
)

// ForProblem returns the request that judges code against a problem
// package: its tests in judging order (samples, then secret, group by
// group), its time and memory limits (the package's, where it sets them,
// else lim's), and its validation: the Kattis default validator with each
// test's flags, or the package's output validator.
func ForProblem(p *problem.Problem, language, code string, lim runner.Limits) Request {
	if p.TimeLimit > 0 {
		lim.Timeout = p.TimeLimit
	}
	if p.MemoryBytes > 0 {
		lim.MemoryBytes = p.MemoryBytes
	}
	req := Request{Language: language, Code: code, Limits: lim, StopOnFailure: p.StopAtFirstRejection(), Problem: p}
	for _, t := range p.Tests() {
		req.Tests = append(req.Tests, Test{Input: string(t.Input), ExpectedOutput: string(t.Answer), ValidatorFlags: t.ValidatorFlags})
	}
	if v := p.Validator; v != nil {
		req.Validator = &Validator{Language: v.Language, Code: v.Code, Files: v.Files, Score: p.Validation.Score,
			Interactive: p.Validation.Interactive}
	} else {
		req.KattisDefault = true
	}
	return req
}

// Kattis verdicts of the statuses a test can have.
var kattisVerdicts = map[Status]problem.Verdict{
	StatusAccepted: problem.AC, StatusWrongAnswer: problem.WA, StatusPresentationError: problem.WA,
	StatusRuntimeError: problem.RTE, StatusTimeout: problem.TLE, StatusMemoryLimitExceeded: problem.MLE,
	StatusOutputLimitExceeded: problem.OLE, StatusCheckerError: problem.JE,
}

// KattisVerdict is the Kattis verdict of a status.
func KattisVerdict(s Status) problem.Verdict { return kattisVerdicts[s] }

// statuses are the statuses of the Kattis verdicts.
var statuses = map[problem.Verdict]Status{
	problem.AC: StatusAccepted, problem.WA: StatusWrongAnswer, problem.PE: StatusPresentationError,
	problem.RTE: StatusRuntimeError, problem.TLE: StatusTimeout, problem.MLE: StatusMemoryLimitExceeded,
	problem.OLE: StatusOutputLimitExceeded, problem.JE: StatusCheckerError,
}

// GradeProblem grades a judged submission as the package's graders do
// (problem.Grade): the verdict becomes the grade's, Score and Groups are
// set for a scoring problem, and a test whose result did not count (after
// a rejection in a group that breaks) is skipped, whether a lane had run
// it or not, so that the answer does not depend on the lanes' race.
func GradeProblem(p *problem.Problem, res *Result) {
	if res.Verdict == StatusCompileError || res.Verdict == StatusCheckerError && res.CheckerOutput != "" {
		return
	}
	outcomes := make([]problem.Outcome, len(res.Tests))
	for i, t := range res.Tests {
		outcomes[i] = problem.Outcome{Verdict: kattisVerdicts[t.Status], Score: t.Score}
		if t.Status == StatusSkipped {
			outcomes[i].Verdict = problem.JE // never graded: a skipped test is after a break
		}
	}
	g := p.Grade(outcomes)
	res.Passed = 0
	for i := range res.Tests {
		if !g.Counted[i] {
			res.Tests[i] = TestResult{Index: i, Status: StatusSkipped}
		} else if res.Tests[i].Status == StatusAccepted {
			res.Passed++
		}
	}
	res.Verdict = statuses[g.Verdict]
	if p.Validation.Scoring {
		score := g.Score
		res.Score, res.Groups = &score, g.Groups
	}
}

// BuildValidator builds a package's output validator, as a judgement
// would, and returns how the build went, with what it made: a package
// whose validator does not build is refused before any submission meets
// it, and one that builds is not built again (Validator.Products).
func BuildValidator(ctx context.Context, s Sandboxes, v *problem.Program) (runner.Build, error) {
	batch, builds, err := s.OpenBatch(ctx, []runner.Program{{Language: v.Language, Code: v.Code, Files: v.Files, Feedback: true, KeepProducts: true}}, 1)
	if err != nil {
		return runner.Build{}, err
	}
	if batch != nil {
		batch.Close()
	}
	if len(builds) == 0 {
		return runner.Build{Status: runner.StatusSuccess}, nil
	}
	return builds[0], nil
}
