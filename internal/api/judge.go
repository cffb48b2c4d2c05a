package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/codeexec/codeexec/internal/api/jsonbody"
	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/runner"
)

// judgeRequest is the JSON body of POST /judge (docs/judge.md).
type judgeRequest struct {
	Language      *string        `json:"language"`
	Code          *string        `json:"code"`
	Tests         []judgeTest    `json:"tests,omitempty"`
	Limits        *limitFields   `json:"limits,omitempty" jsonschema:"nullable"`
	Compare       *compareFields `json:"compare,omitempty" jsonschema:"nullable"`
	Checker       *checkerFields `json:"checker,omitempty" jsonschema:"nullable"`
	StopOnFailure bool           `json:"stop_on_failure,omitempty"`
	ReturnOutput  bool           `json:"return_output,omitempty"`
	Problem       *string        `json:"problem,omitempty" jsonschema:"nullable"` // a stored package's id, instead of tests
	Interaction   bool           `json:"interaction,omitempty"`                   // an interactive problem's: return what was said
}

type judgeTest struct {
	Input          string           `json:"input,omitempty"`
	ExpectedOutput *string          `json:"expected_output,omitempty" jsonschema:"nullable"`
	Limits         *testLimitFields `json:"limits,omitempty" jsonschema:"nullable"`
}

// testLimitFields are the limits a single test may set.
type testLimitFields struct {
	TimeoutMS   *int64 `json:"timeout_ms,omitempty" jsonschema:"nullable"`
	OutputBytes *int64 `json:"output_bytes,omitempty" jsonschema:"nullable"`
}

type compareFields struct {
	Mode            judge.Mode `json:"mode,omitempty"`
	CaseInsensitive bool       `json:"case_insensitive,omitempty"`
	AbsTol          *float64   `json:"abs_tol,omitempty" jsonschema:"nullable"`
	RelTol          *float64   `json:"rel_tol,omitempty" jsonschema:"nullable"`
}

type checkerFields struct {
	Language *string `json:"language"`
	Code     *string `json:"code"`
}

const judgeFields = `"language", "code", "tests", "problem", "interaction", "limits", "compare", "checker", "stop_on_failure" and "return_output"`

// judgeResponse is the JSON answer of POST /judge.
type judgeResponse struct {
	ID            string         `json:"id"`
	Verdict       judge.Status   `json:"verdict"`
	Passed        int            `json:"passed"`
	Total         int            `json:"total"`
	CompileOutput string         `json:"compile_output"`
	CompileMS     int64          `json:"compile_ms"`
	CheckerOutput string         `json:"checker_output,omitempty"`
	Tests         []testResponse `json:"tests"`
	// A problem package's: its id, the score of a scoring problem and
	// its groups' results.
	Problem string                `json:"problem,omitempty"`
	Score   *float64              `json:"score,omitempty"`
	Groups  []problem.GroupResult `json:"groups,omitempty"`
}

type testResponse struct {
	Index           int          `json:"index"`
	Status          judge.Status `json:"status"`
	Message         string       `json:"message,omitempty"`
	Stdout          *string      `json:"stdout,omitempty"`
	Stderr          *string      `json:"stderr,omitempty"`
	StdoutTruncated bool         `json:"stdout_truncated,omitempty"`
	StderrTruncated bool         `json:"stderr_truncated,omitempty"`
	TimeMS          int64        `json:"time_ms"`
	CPUTimeMS       int64        `json:"cpu_time_ms"`
	MemoryPeakBytes int64        `json:"memory_peak_bytes"`
	ExitCode        *int         `json:"exit_code" jsonschema:"nullable"`
	Signal          string       `json:"signal,omitempty"`
	Name            string       `json:"name,omitempty"`             // a package's test: its name, "secret/group1/03"
	Score           *float64     `json:"score,omitempty"`            // a package validator's score.txt
	ValidatorCPUMS  *int64       `json:"validator_cpu_ms,omitempty"` // a package's output validator's CPU time on the test
	// An interactive test's conversation, when asked for: the
	// submission's lines marked ">", the validator's "<".
	Interaction          *string `json:"interaction,omitempty"`
	InteractionTruncated bool    `json:"interaction_truncated,omitempty"`
}

// judge serves POST /judge: validate, judge under the request's context
// (a client that goes away stops every sandbox of the request), answer.
func (h *handler) judge(w http.ResponseWriter, r *http.Request) {
	sb, ok := h.runner.(judge.Sandboxes)
	if !ok {
		h.writeError(w, r, errNotFound)
		return
	}
	var in *judgeRequest
	if err := jsonbody.Decode(w, r, h.cfg.MaxJudgeBodyBytes, &in, judgeFields); err != nil {
		h.writeError(w, r, err)
		return
	}
	req, err := h.validateJudge(r.Context(), in)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	resp, err := h.judgeOne(r.Context(), sb, req, func(d time.Duration) { h.extendWrite(w, r, d) }, requestIDAttr(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// judgeOne judges a validated request under ctx, counts and logs it, and
// returns the answer of POST /judge. extend is told, before anything runs
// and again once the lanes are open, how long the rest may take; attrs go
// into the log record.
func (h *handler) judgeOne(ctx context.Context, sb judge.Sandboxes, req judge.Request, extend func(time.Duration), attrs ...slog.Attr) (judgeResponse, error) {
	// validateJudge made sure the worst case with the lanes asked for is
	// within the ceiling; once the batch is open, the deadlines follow the
	// lanes it got.
	bound := h.judgeBound(req, judgeLanes(h.cfg, req))
	extend(bound)
	start := time.Now()
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var overran atomic.Bool
	cut := time.AfterFunc(bound, func() { overran.Store(true); cancel() })
	defer cut.Stop()
	opt := h.judgeOptions()
	opt.Opened = func(got int) {
		rest := judge.TestsBound(req, opt, got)
		cut.Reset(rest)
		extend(rest)
	}
	res, err := judge.Judge(jctx, sb, req, opt)
	if err != nil {
		if overran.Load() && ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", errOverran, err)
		} else {
			err = h.runError(ctx, runner.Request{Language: req.Language}, judgeInvalid(err))
		}
		h.observeError(err)
		return judgeResponse{}, err
	}
	resp := newJudgeResponse(uuid.NewString(), res)
	if p := req.Problem; p != nil {
		resp.Problem, resp.Score, resp.Groups = req.ProblemID, res.Score, res.Groups
		tests := p.Tests()
		for i := range resp.Tests {
			resp.Tests[i].Name = tests[i].Name
		}
	}
	h.metrics.ObserveJudge(req.Language, res)
	h.log.LogAttrs(ctx, slog.LevelInfo, "judge", append([]slog.Attr{
		slog.String("id", resp.ID), slog.String("language", req.Language), slog.String("verdict", string(res.Verdict)),
		slog.Int("passed", res.Passed), slog.Int("total", res.Total),
		slog.Int64("compile_ms", resp.CompileMS), slog.Int64("judge_ms", time.Since(start).Milliseconds())},
		attrs...)...)
	return resp, nil
}

// judgeLanes is how many lanes a request asks for.
func judgeLanes(cfg Config, req judge.Request) int {
	return max(min(cfg.JudgeLanes, len(req.Tests)), 1)
}

func newJudgeResponse(id string, res judge.Result) judgeResponse {
	out := judgeResponse{ID: id, Verdict: res.Verdict, Passed: res.Passed, Total: res.Total,
		CompileOutput: res.CompileOutput, CompileMS: res.CompileTime.Milliseconds(),
		CheckerOutput: res.CheckerOutput, Tests: make([]testResponse, len(res.Tests))}
	for i, t := range res.Tests {
		tr := testResponse{Index: t.Index, Status: t.Status, Message: t.Message,
			TimeMS: t.Time.Milliseconds(), CPUTimeMS: t.CPUTime.Milliseconds(), MemoryPeakBytes: t.MemoryPeakBytes,
			ExitCode: t.ExitCode, Signal: t.Signal, Score: t.Score}
		if t.Interaction != "" || t.InteractionTruncated {
			tr.Interaction, tr.InteractionTruncated = &t.Interaction, t.InteractionTruncated
		}
		if t.ValidatorCPU > 0 {
			ms := t.ValidatorCPU.Milliseconds()
			tr.ValidatorCPUMS = &ms
		}
		if t.Returned {
			tr.Stdout, tr.Stderr = &t.Stdout, &t.Stderr
			tr.StdoutTruncated, tr.StderrTruncated = t.StdoutTruncated, t.StderrTruncated
		}
		out.Tests[i] = tr
	}
	return out
}

// validateJudge checks a decoded POST /judge body and builds the judge's
// request. Inputs and outputs are passed on verbatim.
func (h *handler) validateJudge(ctx context.Context, in *judgeRequest) (judge.Request, error) {
	if in == nil {
		return judge.Request{}, invalidError("request body must be a JSON object, got null")
	}
	if err := h.checkProgram("", in.Language, in.Code); err != nil {
		return judge.Request{}, err
	}
	if in.Problem != nil {
		return h.validateProblemJudge(ctx, in)
	}
	if in.Interaction {
		return judge.Request{}, invalidError(`"interaction" is for an interactive problem's package ("problem")`)
	}
	req := judge.Request{Language: *in.Language, Code: *in.Code, StopOnFailure: in.StopOnFailure, ReturnOutput: in.ReturnOutput}
	switch {
	case in.Tests == nil:
		return req, invalidError(`"tests" is required: an array of {"input": ..., "expected_output": ...}`)
	case len(in.Tests) == 0:
		return req, invalidError(`"tests" must hold at least one test`)
	case len(in.Tests) > h.cfg.MaxTests:
		return req, tooLargeError(fmt.Sprintf("%d tests; the limit is %d tests per request", len(in.Tests), h.cfg.MaxTests))
	}
	var err error
	if req.Limits, err = in.Limits.toRunner(); err != nil {
		return req, err
	}
	data := 0
	for i, t := range in.Tests {
		if t.ExpectedOutput == nil && in.Checker == nil {
			return req, invalidError(fmt.Sprintf(`tests[%d].expected_output is required`, i))
		}
		test := judge.Test{Input: t.Input}
		if t.ExpectedOutput != nil {
			test.ExpectedOutput = *t.ExpectedOutput
		}
		data += len(test.Input) + len(test.ExpectedOutput)
		if l := t.Limits; l != nil {
			if l.TimeoutMS != nil {
				if *l.TimeoutMS <= 0 || *l.TimeoutMS > 1<<40 {
					return req, invalidError(fmt.Sprintf("tests[%d].limits.timeout_ms must be a positive integer, got %d", i, *l.TimeoutMS))
				}
				test.Timeout = time.Duration(*l.TimeoutMS) * time.Millisecond
			}
			if l.OutputBytes != nil {
				if *l.OutputBytes <= 0 || *l.OutputBytes > 1<<40 {
					return req, invalidError(fmt.Sprintf("tests[%d].limits.output_bytes must be a positive integer, got %d", i, *l.OutputBytes))
				}
				test.OutputBytes = int(*l.OutputBytes)
			}
		}
		// A test's limits are checked against the maxima as the request's are.
		if err := h.limitsCheck(runner.Limits{Timeout: test.Timeout, OutputBytes: test.OutputBytes}); err != nil {
			return req, invalidError(fmt.Sprintf("tests[%d].limits.%s", i, strings.TrimPrefix(err.Error(), runner.ErrInvalidLimits.Error()+": ")))
		}
		req.Tests = append(req.Tests, test)
	}
	if data > h.cfg.MaxTestDataBytes {
		return req, tooLargeError(fmt.Sprintf("the tests' inputs and expected outputs are %d bytes; the limit is %s", data, jsonbody.FormatBytes(int64(h.cfg.MaxTestDataBytes))))
	}
	if c := in.Compare; c != nil {
		if in.Checker != nil {
			return req, invalidError(`"compare" and "checker" exclude each other: a checker does the comparing`)
		}
		req.Compare = judge.Compare{Mode: c.Mode, CaseInsensitive: c.CaseInsensitive}
		if c.AbsTol != nil {
			req.Compare.AbsTol = *c.AbsTol
		}
		if c.RelTol != nil {
			req.Compare.RelTol = *c.RelTol
		}
		if (c.AbsTol != nil && *c.AbsTol == 0) || (c.RelTol != nil && *c.RelTol == 0) {
			return req, invalidError("compare.abs_tol and compare.rel_tol must be positive")
		}
		if err := req.Compare.Validate(); err != nil {
			return req, invalidError(err.Error())
		}
	}
	if c := in.Checker; c != nil {
		if err := h.checkProgram("checker.", c.Language, c.Code); err != nil {
			return req, err
		}
		req.Checker = &judge.Checker{Language: *c.Language, Code: *c.Code}
	}
	return req, h.checkBound(req)
}

// checkBound refuses a request whose worst case with the lanes asked for
// is beyond the ceiling.
func (h *handler) checkBound(req judge.Request) error {
	lanes := judgeLanes(h.cfg, req)
	if bound := h.judgeBound(req, lanes); bound > h.cfg.MaxJudgeDuration {
		return invalidError(fmt.Sprintf(
			"the judgement may take up to %s (%d tests on %d lanes at up to %s each, with the queue and the build), past max_judge_duration %s: send fewer tests or lower time limits",
			bound.Round(time.Second), len(req.Tests), lanes, judge.TestsBound(req, h.judgeOptions(), 1)/time.Duration(len(req.Tests)),
			h.cfg.MaxJudgeDuration))
	}
	return nil
}

// validateProblemJudge builds the request that judges a program against
// a stored package: its tests, limits and validation are the package's;
// the request may set the limits the package leaves open, and
// return_output.
func (h *handler) validateProblemJudge(ctx context.Context, in *judgeRequest) (judge.Request, error) {
	switch {
	case in.Tests != nil:
		return judge.Request{}, invalidError(`"problem" and "tests" exclude each other: a problem's tests are its package's`)
	case in.Compare != nil || in.Checker != nil:
		return judge.Request{}, invalidError(`"problem" excludes "compare" and "checker": a problem's package says how outputs are judged`)
	case in.StopOnFailure:
		return judge.Request{}, invalidError(`"problem" excludes "stop_on_failure": the package's groups say when judging stops`)
	}
	e, err := h.loadProblem(ctx, *in.Problem)
	if err != nil {
		return judge.Request{}, err
	}
	lim, err := in.Limits.toRunner()
	if err != nil {
		return judge.Request{}, err
	}
	req := judge.ForProblem(e.p, *in.Language, *in.Code, lim)
	if b := e.build; b != nil && req.Validator != nil {
		req.Validator.ProductsImage, req.Validator.Products = b.Image, map[string]string{}
		for name, body := range b.Products {
			req.Validator.Products[name] = string(body)
		}
	}
	req.ReturnOutput, req.ProblemID = in.ReturnOutput, *in.Problem
	if in.Interaction {
		if !e.p.Validation.Interactive {
			return req, invalidError(fmt.Sprintf(`"interaction": problem %q is not interactive`, e.p.Name))
		}
		req.Interaction = true
	}
	if err := h.limitsCheck(req.Limits); err != nil {
		return req, err
	}
	return req, h.checkBound(req)
}

// checkProgram checks a language and code pair; prefix names where it is
// ("" or "checker.").
func (h *handler) checkProgram(prefix string, language, code *string) error {
	served := h.served()
	supported := strings.Join(served, ", ")
	switch {
	case language == nil || *language == "":
		return invalidError(fmt.Sprintf(`"%slanguage" is required; supported languages are %s`, prefix, supported))
	case !slices.Contains(served, *language):
		return h.unknownLanguage(*language)
	case code == nil:
		return invalidError(fmt.Sprintf(`"%scode" is required`, prefix))
	case len(*code) > h.cfg.MaxCodeBytes:
		return tooLargeError(fmt.Sprintf("%scode is %d bytes; the limit is %d", prefix, len(*code), h.cfg.MaxCodeBytes))
	case strings.TrimSpace(*code) == "":
		return invalidError(fmt.Sprintf(`"%scode" must not be empty or only whitespace`, prefix))
	case strings.IndexByte(*code, 0) >= 0:
		// No compiler or interpreter accepts NUL in source, and it has no
		// innocent use; refuse it rather than let each toolchain react.
		return invalidError(fmt.Sprintf(`"%scode" contains a NUL byte at byte %d; source code cannot contain NUL`, prefix, strings.IndexByte(*code, 0)))
	}
	return nil
}

// limitsCheck asks the runner, when it can tell, whether limits are within
// its maxima, so a bad test limit is a 400 before anything runs.
func (h *handler) limitsCheck(l runner.Limits) error {
	if c, ok := h.runner.(interface{ CheckLimits(runner.Limits) error }); ok {
		return c.CheckLimits(l)
	}
	return nil
}

// judgeInvalid maps the judge's own validation errors to 400.
func judgeInvalid(err error) error {
	if errors.Is(err, judge.ErrInvalid) {
		return invalidError(strings.TrimPrefix(err.Error(), judge.ErrInvalid.Error()+": "))
	}
	return err
}
