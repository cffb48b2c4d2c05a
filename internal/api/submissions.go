package api

import (
	"bytes"
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

	"github.com/codeexec/codeexec/internal/api/jsonbody"
	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// Submissions is the queue of asynchronous submissions
// (submissions.Queue).
type Submissions interface {
	Submit(ctx context.Context, s submissions.Submission) (submissions.Record, error)
	Get(ctx context.Context, id string) (submissions.Record, uint64, error)
	Cancel(ctx context.Context, id, owner string) (submissions.Record, error)
	Wait(ctx context.Context, id string) (submissions.Record, error)
}

// The kinds of submission: the route whose body a submission carries.
const (
	kindRun   = "run"
	kindJudge = "judge"
)

// submissionFields are the fields a submission adds to a /run or /judge
// body.
const submissionFields = `"kind", "metadata" and "callback_url"`

// submissionView is a submission as GET /submissions/{id} shows it: the
// record without its owner.
type submissionView struct {
	ID          string                     `json:"id"`
	Kind        string                     `json:"kind"`
	Status      submissions.Status         `json:"status"`
	CreatedAt   time.Time                  `json:"created_at"`
	StartedAt   *time.Time                 `json:"started_at,omitempty"`
	FinishedAt  *time.Time                 `json:"finished_at,omitempty"`
	Attempts    int                        `json:"attempts"`
	Metadata    json.RawMessage            `json:"metadata,omitempty"`
	CallbackURL string                     `json:"callback_url,omitempty"`
	Callback    *submissions.CallbackState `json:"callback,omitempty"`
	Result      json.RawMessage            `json:"result,omitempty"`
	Error       json.RawMessage            `json:"error,omitempty"`
}

func viewOf(rec submissions.Record) submissionView {
	return submissionView{
		ID: rec.ID, Kind: rec.Kind, Status: rec.Status, CreatedAt: rec.CreatedAt,
		StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt, Attempts: rec.Attempts,
		Metadata: rec.Metadata, CallbackURL: rec.CallbackURL, Callback: rec.Callback, Result: rec.Result, Error: rec.Error,
	}
}

// acceptedView is the answer to a submission accepted and not yet final.
type acceptedView struct {
	ID        string             `json:"id"`
	Status    submissions.Status `json:"status"`
	CreatedAt time.Time          `json:"created_at"`
}

// owner is the owner token of r's API key ("" with keys off): the
// key's stable name, never the key.
func (h *handler) owner(r *http.Request) string {
	name, ok := h.apiKey(r)
	if !ok {
		return ""
	}
	return strings.TrimPrefix(name, "key:")
}

// submit serves POST /submissions.
func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	wait, err := h.waitParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in *map[string]json.RawMessage
	if err := jsonbody.Decode(w, r, h.cfg.MaxJudgeBodyBytes+MaxMetadataBytes, &in, ""); err != nil {
		h.writeError(w, r, err)
		return
	}
	if in == nil {
		h.writeError(w, r, invalidError("request body must be a JSON object, got null"))
		return
	}
	rec, err := h.store(r.Context(), *in, h.owner(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "submitted", slog.String("id", rec.ID), slog.String("kind", rec.Kind), requestIDAttr(r))
	if wait > 0 {
		h.extendWrite(w, r, wait)
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		if done, err := h.subs.Wait(ctx, rec.ID); err == nil {
			writeJSON(w, http.StatusOK, viewOf(done))
			return
		}
	}
	writeJSON(w, http.StatusAccepted, acceptedView{ID: rec.ID, Status: rec.Status, CreatedAt: rec.CreatedAt})
}

// waitParam reads ?wait=SECONDS: 0 when absent.
func (h *handler) waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	limit := int(h.cfg.MaxSubmissionWait / time.Second)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > limit {
		return 0, invalidError(fmt.Sprintf("wait must be a whole number of seconds from 0 to %d, got %q", limit, v))
	}
	return time.Duration(n) * time.Second, nil
}

// submission validates one submission's fields, the body of its kind
// included, as the route of that kind would.
func (h *handler) submission(ctx context.Context, in map[string]json.RawMessage, owner string) (submissions.Submission, error) {
	var s submissions.Submission
	kind, ok := in["kind"]
	if !ok {
		return s, invalidError(`"kind" is required: "run" or "judge"`)
	}
	if err := json.Unmarshal(kind, &s.Kind); err != nil || (s.Kind != kindRun && s.Kind != kindJudge) {
		return s, invalidError(fmt.Sprintf(`"kind" must be "run" or "judge", got %s`, clip(kind)))
	}
	if m, ok := in["metadata"]; ok && !bytes.Equal(m, []byte("null")) {
		if len(m) > MaxMetadataBytes {
			return s, tooLargeError(fmt.Sprintf("metadata is %d bytes; the limit is %d", len(m), MaxMetadataBytes))
		}
		if bytes.TrimSpace(m)[0] != '{' {
			return s, invalidError(`"metadata" must be a JSON object`)
		}
		s.Metadata = compactJSON(m)
	}
	if u, ok := in["callback_url"]; ok && !bytes.Equal(u, []byte("null")) {
		if err := json.Unmarshal(u, &s.CallbackURL); err != nil {
			return s, invalidError(`"callback_url" must be a string`)
		}
		if !h.cfg.Callbacks {
			return s, invalidError(`"callback_url": this service sends no callbacks (it has no --callback-secret)`)
		}
		if err := h.callbackAllow.Check(s.CallbackURL); err != nil {
			return s, invalidError(err.Error())
		}
	}
	delete(in, "kind")
	delete(in, "metadata")
	delete(in, "callback_url")
	body, err := json.Marshal(in)
	if err != nil {
		return s, invalidError("the submission cannot be encoded again: " + err.Error())
	}
	switch s.Kind {
	case kindRun:
		_, err = h.decodeRun(body, submissionFields)
	case kindJudge:
		if _, ok := h.runner.(judge.Sandboxes); !ok {
			return s, invalidError(`this service does not judge: "kind" must be "run"`)
		}
		_, err = h.decodeJudge(ctx, body, submissionFields)
	}
	if err != nil {
		return s, err
	}
	s.Body, s.Owner = body, owner
	return s, nil
}

// store validates one submission and stores it, with the queue's
// refusals as the client's errors.
func (h *handler) store(ctx context.Context, in map[string]json.RawMessage, owner string) (submissions.Record, error) {
	s, err := h.submission(ctx, in, owner)
	if err != nil {
		return submissions.Record{}, err
	}
	rec, err := h.subs.Submit(ctx, s)
	return rec, submitError(err)
}

// decodeRun decodes and validates a kept POST /run body; more names the
// fields allowed beside it, for the unknown-field message.
func (h *handler) decodeRun(body []byte, more string) (runner.Request, error) {
	var in *runRequest
	if err := jsonbody.Unmarshal(body, &in, withFields(runFields, more)); err != nil {
		return runner.Request{}, err
	}
	if in == nil {
		return runner.Request{}, invalidError("request body must be a JSON object, got null")
	}
	if int64(len(body)) > h.cfg.MaxBodyBytes {
		return runner.Request{}, tooLargeError(fmt.Sprintf("a run is %d bytes; the limit is %s", len(body), jsonbody.FormatBytes(h.cfg.MaxBodyBytes)))
	}
	return h.validate(in)
}

// decodeJudge decodes and validates a kept POST /judge body.
func (h *handler) decodeJudge(ctx context.Context, body []byte, more string) (judge.Request, error) {
	var in *judgeRequest
	if err := jsonbody.Unmarshal(body, &in, withFields(judgeFields, more)); err != nil {
		return judge.Request{}, err
	}
	return h.validateJudge(ctx, in)
}

// withFields joins two lists of field names ("a", "b" and "c") into one.
func withFields(fields, more string) string {
	if more == "" {
		return fields
	}
	return strings.Replace(fields, " and ", ", ", 1) + ", " + more
}

// submitError maps the queue's refusals to the client's errors.
func submitError(err error) error {
	switch {
	case errors.Is(err, submissions.ErrTooMany):
		return rateLimitError(err.Error())
	case errors.Is(err, submissions.ErrTooLarge):
		return tooLargeError(err.Error())
	case errors.Is(err, submissions.ErrQueueFull):
		return fmt.Errorf("%w: %w", runner.ErrBusy, err)
	}
	return queueError(err)
}

// queueError marks an error of the queue that is none of its refusals:
// NATS unreachable or without quorum, a 503 the client may retry.
func queueError(err error) error {
	if err == nil || errors.Is(err, submissions.ErrNotFound) || errors.Is(err, submissions.ErrFinal) || errors.Is(err, errNotFound) {
		return err
	}
	return fmt.Errorf("%w: %w", errQueueDown, err)
}

// batchRequest is the body of POST /submissions/batch.
type batchRequest struct {
	Submissions []map[string]json.RawMessage `json:"submissions"`
}

// batchItem is one answer of a batch: the accepted submission, or why
// it was refused.
type batchItem struct {
	*acceptedView
	Error  string `json:"error,omitempty"`
	Status int    `json:"status_code,omitempty"`
}

// submitBatch serves POST /submissions/batch: each submission is
// validated and stored on its own, and the answers come in order.
func (h *handler) submitBatch(w http.ResponseWriter, r *http.Request) {
	var in *batchRequest
	limit := int64(h.cfg.MaxBatch) * (h.cfg.MaxJudgeBodyBytes + MaxMetadataBytes)
	if err := jsonbody.Decode(w, r, limit, &in, `"submissions"`); err != nil {
		h.writeError(w, r, err)
		return
	}
	switch {
	case in == nil || in.Submissions == nil:
		h.writeError(w, r, invalidError(`"submissions" is required: an array of submissions`))
		return
	case len(in.Submissions) == 0:
		h.writeError(w, r, invalidError(`"submissions" must hold at least one submission`))
		return
	case len(in.Submissions) > h.cfg.MaxBatch:
		h.writeError(w, r, tooLargeError(fmt.Sprintf("%d submissions; the limit is %d per batch", len(in.Submissions), h.cfg.MaxBatch)))
		return
	}
	owner := h.owner(r)
	out := make([]batchItem, len(in.Submissions))
	for i, item := range in.Submissions {
		var err error = invalidError("a submission must be a JSON object, got null")
		if item != nil {
			var rec submissions.Record
			if rec, err = h.store(r.Context(), item, owner); err == nil {
				out[i].acceptedView = &acceptedView{ID: rec.ID, Status: rec.Status, CreatedAt: rec.CreatedAt}
				continue
			}
		}
		status, msg := statusOf(err)
		if status >= 500 && !errors.Is(err, runner.ErrBusy) {
			h.log.LogAttrs(r.Context(), slog.LevelError, "batch submission failed", slog.Int("index", i), slog.String("error", err.Error()), requestIDAttr(r))
		}
		out[i].Error, out[i].Status = fmt.Sprintf("submissions[%d]: %s", i, msg), status
	}
	writeJSON(w, http.StatusAccepted, map[string][]batchItem{"submissions": out})
}

// getSubmission serves GET /submissions/{id}.
func (h *handler) getSubmission(w http.ResponseWriter, r *http.Request) {
	rec, err := h.lookup(r.Context(), chi.URLParam(r, "id"), h.owner(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(rec))
}

// lookup returns owner's submission id; another owner's is not found.
func (h *handler) lookup(ctx context.Context, id, owner string) (submissions.Record, error) {
	rec, _, err := h.subs.Get(ctx, id)
	if errors.Is(err, submissions.ErrNotFound) || (err == nil && !rec.OwnedBy(owner)) {
		return rec, fmt.Errorf("%w: submission %s", errNotFound, id)
	}
	return rec, queueError(err)
}

// listSubmissions serves GET /submissions?ids=a,b,c: each in order, null
// for an id unknown (or another key's).
func (h *handler) listSubmissions(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("ids")
	if v == "" {
		h.writeError(w, r, invalidError("ids is required: GET /submissions?ids=ID,ID,..."))
		return
	}
	ids := strings.Split(v, ",")
	if len(ids) > h.cfg.MaxBatch {
		h.writeError(w, r, invalidError(fmt.Sprintf("%d ids; the limit is %d per request", len(ids), h.cfg.MaxBatch)))
		return
	}
	owner := h.owner(r)
	out := make([]*submissionView, len(ids))
	for i, id := range ids {
		rec, err := h.lookup(r.Context(), strings.TrimSpace(id), owner)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		view := viewOf(rec)
		out[i] = &view
	}
	writeJSON(w, http.StatusOK, map[string][]*submissionView{"submissions": out})
}

// cancelSubmission serves DELETE /submissions/{id}: a queued submission
// never runs, a running one is killed; a finished one is a 409.
func (h *handler) cancelSubmission(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rec, err := h.subs.Cancel(r.Context(), id, h.owner(r))
	switch {
	case errors.Is(err, submissions.ErrNotFound):
		h.writeError(w, r, fmt.Errorf("%w: submission %s", errNotFound, id))
		return
	case errors.Is(err, submissions.ErrFinal):
		h.writeError(w, r, conflictError(fmt.Sprintf("submission %s has already finished (%s); it cannot be cancelled", id, rec.Status)))
		return
	case err != nil:
		h.writeError(w, r, queueError(err))
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "cancelled", slog.String("id", id), requestIDAttr(r))
	writeJSON(w, http.StatusOK, viewOf(rec))
}

// compactJSON is m without insignificant space (m is valid JSON).
func compactJSON(m json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, m) != nil {
		return m
	}
	return b.Bytes()
}

// clip is at most 40 bytes of b, for a message.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// Callback is what a submission's callback sends: a POST of the same JSON
// as GET /submissions/{id}, or for a Judge0 submission what Judge0 sends.
func (h *handler) Callback(rec submissions.Record) (string, []byte) {
	if rec.Kind == kindJudge0 {
		return http.MethodPut, h.judge0Callback(rec)
	}
	b, _ := json.Marshal(viewOf(rec)) // a view always encodes
	return http.MethodPost, b
}

// Execute runs a queued submission as its route would, and returns what
// that route answers: the body of a 200 as the result, the body of a 4xx
// (or a 500) as the error. A 503 (busy, runtime down, overloaded) is an
// error: the submission goes back to the queue.
func (h *handler) Execute(ctx context.Context, j submissions.Job) (submissions.Outcome, error) {
	attr := slog.String("submission", j.ID)
	var (
		resp any
		err  error
	)
	switch j.Kind {
	case kindRun:
		var req runner.Request
		if req, err = h.decodeRun(j.Body, submissionFields); err == nil {
			resp, err = h.runOne(ctx, req, attr)
		}
	case kindJudge:
		sb, ok := h.runner.(judge.Sandboxes)
		var req judge.Request
		switch {
		case !ok:
			err = invalidError("this service does not judge")
		default:
			if req, err = h.decodeJudge(ctx, j.Body, submissionFields); err == nil {
				resp, err = h.judgeOne(ctx, sb, req, func(time.Duration) {}, attr)
			}
		}
	case kindJudge0:
		resp, err = h.judge0Execute(ctx, j.Body, attr)
	default:
		err = invalidError(fmt.Sprintf("unknown kind %q", j.Kind))
	}
	if err != nil {
		status, msg := statusOf(err)
		if status == http.StatusServiceUnavailable {
			return submissions.Outcome{}, err
		}
		if status >= 500 {
			h.log.LogAttrs(ctx, slog.LevelError, "submission failed", attr, slog.String("error", err.Error()))
		}
		b, _ := json.Marshal(errorView{Status: status, Error: msg})
		return submissions.Outcome{Error: b}, nil
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return submissions.Outcome{}, err
	}
	return submissions.Outcome{Result: b}, nil
}

// errorView is a failed submission's error: what its route would have
// answered, with the status.
type errorView struct {
	Status int    `json:"status_code"`
	Error  string `json:"error"`
}
