package problem

import (
	"slices"
)

// Verdict is a test's or a group's result in the format's codes.
type Verdict string

// The verdicts, as the format's default grader orders them from worst.
const (
	JE  Verdict = "JE" // judge error: the validator failed
	RTE Verdict = "RTE"
	MLE Verdict = "MLE"
	TLE Verdict = "TLE"
	OLE Verdict = "OLE"
	WA  Verdict = "WA"
	PE  Verdict = "PE"
	AC  Verdict = "AC"
)

var worstFirst = []Verdict{JE, "IF", RTE, MLE, TLE, OLE, WA, PE, AC}

// Outcome is how one test case went: its verdict and, when the output
// validator wrote score.txt, its score.
type Outcome struct {
	Verdict Verdict
	Score   *float64
}

// Graded is the result of a judged package.
type Graded struct {
	Verdict Verdict
	Score   float64 // meaningful for scoring problems
	Groups  []GroupResult
	// Counted is, per test, whether its result entered the grade: false
	// after an earlier rejection in a group whose on_reject is break.
	Counted []bool
}

// GroupResult is a group's verdict and score.
type GroupResult struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Score   float64 `json:"score"`
}

// Grade grades the package's tests as the format's default grader does,
// given each test's outcome by index (Problem.Tests): each group's
// sub-results in order, up to the first rejection where on_reject is
// break; a test without a score gets its group's accept_score or
// reject_score; a group with a judge error is a judge error; otherwise
// its grader_flags choose how verdicts (worst_error, first_error,
// always_accept, accept_if_any_accepted) and scores (sum, avg, min, max)
// combine, and ignore_sample grades the root by secret alone.
func (p *Problem) Grade(outcomes []Outcome) Graded {
	g := Graded{Counted: make([]bool, len(outcomes))}
	var grade func(gr *Group) (Verdict, float64)
	grade = func(gr *Group) (Verdict, float64) {
		var verdicts []Verdict
		var scores []float64
		for _, it := range gr.Items {
			var v Verdict
			var s float64
			if it.Test != nil {
				o := outcomes[it.Test.Index]
				g.Counted[it.Test.Index] = true
				v = o.Verdict
				switch {
				case o.Score != nil && v == AC:
					s = *o.Score
				case v == AC:
					s = gr.Config.AcceptScore
				default:
					s = gr.Config.RejectScore
				}
			} else {
				v, s = grade(it.Group)
				if v == "" {
					continue // a group with nothing in it
				}
			}
			verdicts, scores = append(verdicts, v), append(scores, s)
			if v != AC && gr.Config.OnReject == "break" {
				break
			}
		}
		if len(verdicts) == 0 {
			return "", 0
		}
		v, s := defaultGrader(verdicts, scores, gr.Config.GraderFlags)
		if slices.Contains(verdicts, JE) {
			v = JE
		}
		if gr.Name != "" {
			g.Groups = append(g.Groups, GroupResult{Name: gr.Name, Verdict: v, Score: s})
		}
		return v, s
	}
	g.Verdict, g.Score = grade(p.Root)
	if !p.Validation.Scoring {
		g.Score = 0
	}
	// Groups in judging order: a group was appended after its subgroups.
	order := map[string]int{}
	for i, gc := range p.Groups() {
		order[gc.Name] = i
	}
	slices.SortStableFunc(g.Groups, func(a, b GroupResult) int { return order[a.Name] - order[b.Name] })
	return g
}

// defaultGrader combines sub-results as the format's default grader.
func defaultGrader(verdicts []Verdict, scores []float64, flags []string) (Verdict, float64) {
	verdictMode, scoreMode := "worst_error", "sum"
	ignoreSample, anyAccepted := false, false
	for _, f := range flags {
		switch f {
		case "worst_error", "no_errors", "first_error", "always_accept":
			verdictMode = f
		case "sum", "avg", "min", "max":
			scoreMode = f
		case "ignore_sample":
			ignoreSample = true
		case "accept_if_any_accepted":
			anyAccepted = true
		}
	}
	if ignoreSample && len(verdicts) == 2 {
		verdicts, scores = verdicts[1:], scores[1:]
	}
	var v Verdict
	switch {
	case anyAccepted && slices.Contains(verdicts, AC):
		v = AC
	case verdictMode == "always_accept":
		v = AC
	case verdictMode == "first_error":
		v = AC
		for _, x := range verdicts {
			if x != AC {
				v = x
				break
			}
		}
	default:
		v = AC
		for _, x := range verdicts {
			if slices.Index(worstFirst, x) < slices.Index(worstFirst, v) {
				v = x
			}
		}
	}
	var s float64
	switch scoreMode {
	case "avg":
		for _, x := range scores {
			s += x
		}
		s /= float64(len(scores))
	case "min":
		s = slices.Min(scores)
	case "max":
		s = slices.Max(scores)
	default:
		for _, x := range scores {
			s += x
		}
	}
	return v, s
}

// StopAtFirstRejection reports whether judging may stop at the first
// test that is not accepted, in order, without changing the grade: a
// pass-fail problem whose every group breaks on a rejection and whose
// graders look at verdicts in order.
func (p *Problem) StopAtFirstRejection() bool {
	if p.Validation.Scoring {
		return false
	}
	ok := true
	var walk func(g *Group)
	walk = func(g *Group) {
		if g.Config.OnReject != "break" {
			ok = false
		}
		for _, f := range g.Config.GraderFlags {
			if f == "always_accept" || f == "accept_if_any_accepted" || f == "ignore_sample" {
				ok = false
			}
		}
		for _, it := range g.Items {
			if it.Group != nil {
				walk(it.Group)
			}
		}
	}
	walk(p.Root)
	return ok
}
