package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/codeexec/codeexec/internal/api/jsonbody"
	"github.com/codeexec/codeexec/internal/compat"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// Judge0 CE's API (docs/compat.md), under Judge0BasePath: its clients move
// by setting their base URL to it. The same runner, limits, keys (also as
// X-Auth-Token) and rate limits as /run; its submissions without
// ?wait=true ride on the queue of /submissions. Judge0's errors are
// {"error": ...}, as codeexec's, and a refused submission is its 422 with
// each field's messages.

// Judge0BasePath is where Judge0's API is served: its routes
// (/submissions among them) would otherwise meet codeexec's own.
const Judge0BasePath = "/judge0"

// kindJudge0 is the kind of a queued Judge0 submission: its body is a
// compat.Judge0Job.
const kindJudge0 = "judge0"

// judge0Routes serves Judge0's API on mux.
func (h *handler) judge0Routes(mux chi.Router, limited func() []func(http.Handler) http.Handler) {
	mux.Route(Judge0BasePath, func(r chi.Router) {
		r.Use(judge0Token)
		r.With(h.requireKey).Get("/languages", h.judge0Languages)
		r.With(h.requireKey).Get("/languages/all", h.judge0Languages)
		r.With(h.requireKey).Get("/languages/{id}", h.judge0Language)
		r.With(h.requireKey).Get("/statuses", h.judge0Statuses)
		submitting := limited()
		r.With(submitting...).Post("/submissions", h.judge0Submit)
		r.With(submitting...).Post("/submissions/batch", h.judge0SubmitBatch)
		r.With(h.requireKey).Get("/submissions/batch", h.judge0GetBatch)
		r.With(h.requireKey).Get("/submissions/{token}", h.judge0Get)
	})
}

// judge0Token reads Judge0's X-Auth-Token as the request's API key, when
// the request has no Authorization of its own.
func judge0Token(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := r.Header.Get("X-Auth-Token"); t != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+t)
		}
		next.ServeHTTP(w, r)
	})
}

// describedRuntimes are the runner's runtimes with their limits, which the
// other runners' APIs describe and check requests against; a runner that
// cannot describe them gets the runner's default limits.
func (h *handler) describedRuntimes() []runner.Runtime {
	if rl, ok := h.runner.(RuntimeLister); ok {
		return rl.Runtimes()
	}
	return h.defaultRuntimes()
}

// describeRuntimes describes h.languages with the runner's default limits.
func (h *handler) describeRuntimes() []runner.Runtime {
	d := runner.DefaultConfig()
	out := make([]runner.Runtime, 0, len(h.languages))
	for _, l := range h.languages {
		rt := runner.Runtime{Language: l, Version: "0", Run: []string{}}
		rt.Limits.TimeoutMS, rt.Limits.MemoryBytes, rt.Limits.Pids, rt.Limits.OutputBytes =
			h.cfg.RunTimeout.Milliseconds(), d.RunLimits.MemoryBytes, d.RunLimits.Pids, h.cfg.OutputBytes
		m := d.MaxLimits
		rt.MaxLimits.TimeoutMS, rt.MaxLimits.MemoryBytes, rt.MaxLimits.Pids, rt.MaxLimits.OutputBytes =
			m.Timeout.Milliseconds(), m.MemoryBytes, m.Pids, m.OutputBytes
		out = append(out, rt)
	}
	return out
}

func (h *handler) judge0Languages(w http.ResponseWriter, r *http.Request) {
	langs := compat.Judge0LanguageList(h.describedRuntimes())
	if strings.HasSuffix(r.URL.Path, "/all") {
		all := make([]map[string]any, len(langs))
		for i, l := range langs {
			all[i] = map[string]any{"id": l.ID, "name": l.Name, "is_archived": false}
		}
		writeJSON(w, http.StatusOK, all)
		return
	}
	writeJSON(w, http.StatusOK, langs)
}

func (h *handler) judge0Language(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(chi.URLParam(r, "id"))
	d, ok := compat.Judge0LanguageByID(h.describedRuntimes(), id)
	if err != nil || !ok {
		h.writeError(w, r, fmt.Errorf("%w: language %s", errNotFound, chi.URLParam(r, "id")))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *handler) judge0Statuses(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, compat.Judge0Statuses)
}

// judge0Params are a request's query parameters: base64_encoded, wait
// and fields.
type judge0Params struct {
	b64, wait bool
	fields    []string
}

func judge0Query(r *http.Request) (judge0Params, error) {
	q := r.URL.Query()
	fields, err := compat.ParseJudge0Fields(q.Get("fields"))
	return judge0Params{b64: q.Get("base64_encoded") == "true", wait: q.Get("wait") == "true", fields: fields}, invalidIf(err)
}

func invalidIf(err error) error {
	if err == nil {
		return nil
	}
	return invalidError(err.Error())
}

// judge0Job validates one submission: Judge0's rules, then the service's
// bounds on its texts and its callback.
func (h *handler) judge0Job(in compat.Judge0Request, b64 bool) (compat.Judge0Job, string, error) {
	rts := h.describedRuntimes()
	j, err := in.Job(rts, b64, time.Now())
	if err != nil {
		return j, "", err
	}
	lang, _ := j.Language(rts)
	switch {
	case len(j.SourceCode) > h.cfg.MaxCodeBytes:
		return j, "", tooLargeError(fmt.Sprintf("source_code is %d bytes; the limit is %d", len(j.SourceCode), h.cfg.MaxCodeBytes))
	case len(j.Stdin) > h.cfg.MaxInputBytes:
		return j, "", tooLargeError(fmt.Sprintf("stdin is %d bytes; the limit is %d", len(j.Stdin), h.cfg.MaxInputBytes))
	case len(j.Expected) > h.cfg.MaxInputBytes:
		return j, "", tooLargeError(fmt.Sprintf("expected_output is %d bytes; the limit is %d", len(j.Expected), h.cfg.MaxInputBytes))
	}
	if j.CallbackURL != "" {
		switch {
		case h.subs == nil || !h.cfg.Callbacks:
			return j, "", compat.Judge0Invalid{"callback_url": {"setting callback is not allowed"}}
		}
		if err := h.callbackAllow.Check(j.CallbackURL); err != nil {
			return j, "", compat.Judge0Invalid{"callback_url": {err.Error()}}
		}
	}
	if err := h.limitsCheck(j.RunRequest(lang).Limits); err != nil {
		return j, "", err
	}
	return j, lang, nil
}

// judge0Submit serves POST /submissions: with ?wait=true (and no
// callback) the run is made at once, as POST /run's; otherwise the
// submission is queued and its token answered.
func (h *handler) judge0Submit(w http.ResponseWriter, r *http.Request) {
	p, err := judge0Query(r)
	if err != nil {
		h.writeJudge0Error(w, r, err)
		return
	}
	// Fields Judge0 does not know are ignored, as Judge0 ignores them.
	var in *compat.Judge0Request
	if err := jsonbody.DecodeLoose(w, r, h.cfg.MaxBodyBytes, &in); err != nil {
		h.writeJudge0Error(w, r, err)
		return
	}
	if in == nil {
		h.writeJudge0Error(w, r, invalidError("request body must be a JSON object, got null"))
		return
	}
	j, lang, err := h.judge0Job(*in, p.b64)
	if err != nil {
		h.writeJudge0Error(w, r, err)
		return
	}
	if p.wait && j.CallbackURL == "" {
		token := uuid.NewString()
		req := j.RunRequest(lang)
		h.extendWrite(w, r, h.runBound(req))
		res, err := h.runner.Run(r.Context(), req)
		if err != nil {
			err = h.runError(r.Context(), req, err)
			h.observeError(err)
			h.writeJudge0Error(w, r, err)
			return
		}
		h.metrics.ObserveRun(req.Language, res)
		h.logRun(r.Context(), req, newRunResponse(res), requestIDAttr(r), slog.String("api", "judge0"), slog.String("token", token))
		out := compat.Judge0Outcome(j, res, time.Now())
		h.writeJudge0View(w, r, http.StatusCreated, token, j, &out, p)
		return
	}
	if h.subs == nil {
		h.writeJudge0Error(w, r, invalidError("this service queues nothing (it runs with --submissions=false): send ?wait=true"))
		return
	}
	rec, err := h.judge0Store(r.Context(), j, h.owner(r))
	if err != nil {
		h.writeJudge0Error(w, r, err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "submitted", slog.String("id", rec.ID), slog.String("kind", rec.Kind), requestIDAttr(r))
	if p.wait {
		bound := h.runBound(j.RunRequest(lang)) + h.cfg.QueueTimeout
		h.extendWrite(w, r, bound)
		ctx, cancel := context.WithTimeout(r.Context(), bound)
		defer cancel()
		if done, err := h.subs.Wait(ctx, rec.ID); err == nil {
			st, res := judge0Record(done)
			h.writeJudge0Status(w, r, http.StatusCreated, done.ID, j, st, res, p)
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": rec.ID})
}

// judge0Store queues a validated submission; its record's metadata is
// the job without its texts, so that a queued one can be shown.
func (h *handler) judge0Store(ctx context.Context, j compat.Judge0Job, owner string) (submissions.Record, error) {
	body, err := json.Marshal(j)
	if err != nil {
		return submissions.Record{}, err
	}
	meta, err := json.Marshal(j.Texts())
	if err != nil {
		return submissions.Record{}, err
	}
	rec, err := h.subs.Submit(ctx, submissions.Submission{Kind: kindJudge0, Body: body, Owner: owner, Metadata: meta, CallbackURL: j.CallbackURL})
	return rec, submitError(err)
}

// judge0Record is a Judge0 submission's status and, once it ran, its
// result; one the queue gave up on (or cancelled) is an internal error.
func judge0Record(rec submissions.Record) (int, *compat.Judge0Result) {
	switch rec.Status {
	case submissions.Queued:
		return compat.J0InQueue, nil
	case submissions.Running:
		return compat.J0Processing, nil
	case submissions.Done:
		var res compat.Judge0Result
		if json.Unmarshal(rec.Result, &res) == nil {
			return res.StatusID, &res
		}
	}
	var e errorView
	_ = json.Unmarshal(rec.Error, &e)
	msg := cmp.Or(e.Error, string(rec.Status))
	return compat.J0InternalError, &compat.Judge0Result{StatusID: compat.J0InternalError, Message: msg, FinishedAt: finishedAt(rec)}
}

func finishedAt(rec submissions.Record) time.Time {
	if rec.FinishedAt != nil {
		return *rec.FinishedAt
	}
	return rec.CreatedAt
}

// judge0Job of a record: its metadata, the job without its texts.
func judge0JobOf(rec submissions.Record) (compat.Judge0Job, bool) {
	var j compat.Judge0Job
	return j, rec.Kind == kindJudge0 && json.Unmarshal(rec.Metadata, &j) == nil
}

// judge0Get serves GET /submissions/{token}.
func (h *handler) judge0Get(w http.ResponseWriter, r *http.Request) {
	p, err := judge0Query(r)
	if err != nil {
		h.writeJudge0Error(w, r, err)
		return
	}
	token := chi.URLParam(r, "token")
	if h.subs == nil {
		h.writeError(w, r, fmt.Errorf("%w: submission %s", errNotFound, token))
		return
	}
	rec, err := h.lookup(r.Context(), token, h.owner(r))
	j, ok := judge0JobOf(rec)
	if err == nil && !ok {
		err = fmt.Errorf("%w: submission %s", errNotFound, token)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	st, res := judge0Record(rec)
	h.writeJudge0Status(w, r, http.StatusOK, rec.ID, j, st, res, p)
}

// judge0View is a submission as Judge0 shows it.
func (h *handler) judge0View(token string, j compat.Judge0Job, status int, res *compat.Judge0Result, p judge0Params) (map[string]any, error) {
	return compat.Judge0View(token, j, status, res, h.describedRuntimes(), p.fields, p.b64)
}

func (h *handler) writeJudge0Status(w http.ResponseWriter, r *http.Request, code int, token string, j compat.Judge0Job, status int, res *compat.Judge0Result, p judge0Params) {
	if res == nil {
		v, _ := h.judge0View(token, j, status, nil, p) // no texts yet: always UTF-8
		writeJSON(w, code, v)
		return
	}
	h.writeJudge0View(w, r, code, token, j, res, p)
}

// writeJudge0View answers a finished submission; one whose texts are not
// UTF-8, asked without base64, is Judge0's error (with its token when it
// was just made, as Judge0's 201 has it).
func (h *handler) writeJudge0View(w http.ResponseWriter, r *http.Request, code int, token string, j compat.Judge0Job, res *compat.Judge0Result, p judge0Params) {
	v, err := h.judge0View(token, j, res.StatusID, res, p)
	switch {
	case err != nil && code == http.StatusCreated:
		writeJSON(w, code, map[string]string{"token": token, "error": err.Error()})
	case err != nil:
		h.writeError(w, r, invalidError(err.Error()))
	default:
		writeJSON(w, code, v)
	}
}

// writeJudge0Error answers an error: a refused submission as Judge0's
// 422, anything else as codeexec's {"error": ...}, the shape Judge0's
// other errors have too.
func (h *handler) writeJudge0Error(w http.ResponseWriter, r *http.Request, err error) {
	var bad compat.Judge0Invalid
	if errors.As(err, &bad) {
		writeJSON(w, http.StatusUnprocessableEntity, bad)
		return
	}
	h.writeError(w, r, err)
}

// judge0SubmitBatch serves POST /submissions/batch: each submission is
// validated and queued on its own; the answer has a token or the
// submission's errors for each, in order, as Judge0's.
func (h *handler) judge0SubmitBatch(w http.ResponseWriter, r *http.Request) {
	p, err := judge0Query(r)
	if err != nil {
		h.writeJudge0Error(w, r, err)
		return
	}
	if h.subs == nil {
		h.writeError(w, r, invalidError("batched submissions are not allowed: this service queues nothing (it runs with --submissions=false)"))
		return
	}
	var in *struct {
		Submissions []*compat.Judge0Request `json:"submissions"`
	}
	if err := jsonbody.DecodeLoose(w, r, int64(h.cfg.MaxBatch)*h.cfg.MaxBodyBytes, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	switch {
	case in == nil || len(in.Submissions) == 0:
		h.writeError(w, r, invalidError("there should be at least one submission in a batch"))
		return
	case len(in.Submissions) > h.cfg.MaxBatch:
		h.writeError(w, r, invalidError(fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", h.cfg.MaxBatch)))
		return
	}
	owner := h.owner(r)
	out := make([]any, len(in.Submissions))
	created := false
	for i, s := range in.Submissions {
		var err error = compat.Judge0Invalid{"submission": {"must be a JSON object"}}
		if s != nil {
			var j compat.Judge0Job
			if j, _, err = h.judge0Job(*s, p.b64); err == nil {
				var rec submissions.Record
				if rec, err = h.judge0Store(r.Context(), j, owner); err == nil {
					out[i], created = map[string]string{"token": rec.ID}, true
					continue
				}
			}
		}
		var bad compat.Judge0Invalid
		if errors.As(err, &bad) {
			out[i] = bad
			continue
		}
		status, msg := statusOf(err)
		if status >= 500 && !errors.Is(err, runner.ErrBusy) {
			h.log.LogAttrs(r.Context(), slog.LevelError, "batch submission failed", slog.Int("index", i), slog.String("error", err.Error()), requestIDAttr(r))
		}
		out[i] = map[string]string{"error": msg}
	}
	code := http.StatusCreated
	if !created {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, out)
}

// judge0GetBatch serves GET /submissions/batch?tokens=a,b: each in order,
// null for a token unknown (or another key's).
func (h *handler) judge0GetBatch(w http.ResponseWriter, r *http.Request) {
	p, err := judge0Query(r)
	if err != nil {
		h.writeJudge0Error(w, r, err)
		return
	}
	v := strings.TrimSpace(cmp.Or(r.Header.Get("tokens"), r.URL.Query().Get("tokens")))
	var tokens []string
	if v != "" {
		tokens = strings.Split(v, ",")
	}
	switch {
	case len(tokens) == 0:
		h.writeError(w, r, invalidError("there should be at least one submission in a batch"))
		return
	case len(tokens) > h.cfg.MaxBatch:
		h.writeError(w, r, invalidError(fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", h.cfg.MaxBatch)))
		return
	}
	owner := h.owner(r)
	out := make([]map[string]any, len(tokens))
	for i, t := range tokens {
		if h.subs == nil {
			continue
		}
		rec, err := h.lookup(r.Context(), strings.TrimSpace(t), owner)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		j, ok := judge0JobOf(rec)
		if !ok {
			continue
		}
		st, res := judge0Record(rec)
		view, err := h.judge0View(rec.ID, j, st, res, p)
		if err != nil {
			h.writeError(w, r, invalidError("some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter"))
			return
		}
		out[i] = view
	}
	writeJSON(w, http.StatusOK, map[string][]map[string]any{"submissions": out})
}

// judge0Execute runs a queued Judge0 submission: its result is
// compat.Judge0Result's JSON.
func (h *handler) judge0Execute(ctx context.Context, body []byte, attr slog.Attr) (any, error) {
	var j compat.Judge0Job
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, invalidError("the submission cannot be read: " + err.Error())
	}
	lang, ok := j.Language(h.describedRuntimes())
	if !ok {
		return nil, invalidError(fmt.Sprintf("language with id %d doesn't exist", j.LanguageID))
	}
	req := j.RunRequest(lang)
	res, err := h.runner.Run(ctx, req)
	if err != nil {
		err = h.runError(ctx, req, err)
		h.observeError(err)
		return nil, err
	}
	h.metrics.ObserveRun(req.Language, res)
	h.logRun(ctx, req, newRunResponse(res), attr, slog.String("api", "judge0"))
	return compat.Judge0Outcome(j, res, time.Now()), nil
}

// judge0Callback is the body of a Judge0 submission's callback: as Judge0
// sends it, a PUT of the default fields, Base64.
func (h *handler) judge0Callback(rec submissions.Record) []byte {
	j, _ := judge0JobOf(rec)
	st, res := judge0Record(rec)
	v, _ := h.judge0View(rec.ID, j, st, res, judge0Params{b64: true, fields: compat.Judge0DefaultFields})
	b, _ := json.Marshal(v) // a view always encodes
	return b
}
