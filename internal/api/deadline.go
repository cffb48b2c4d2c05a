package api

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/runner"
)

// The answer to a request that runs something must be written before its
// write deadline, or the client gets nothing at all: the server's
// WriteTimeout is AnswerMargin, the bound of a route that runs nothing,
// and each POST /run and /judge moves its own deadline to its worst case
// (http.ResponseController), which its limits give. A /judge whose worst
// case passes MaxJudgeDuration is refused before anything runs.
//
// The read deadline need not move: once a body is read, net/http clears
// it for the read it keeps pending to notice a client that goes away.

// errOverran is a judgement that was still running at the end of its
// worst case, which only an overloaded machine explains; it is cut and
// answered (503) while the client is still there to read it.
var errOverran = errors.New("the judgement did not end within its worst case")

// extendWrite lets the answer to w be written until d from now plus
// the margin for writing it.
func (h *handler) extendWrite(w http.ResponseWriter, r *http.Request, d time.Duration) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(d + h.cfg.AnswerMargin)
	err := rc.SetWriteDeadline(deadline)
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "cannot extend the write deadline", slog.String("error", err.Error()), requestIDAttr(r))
	}
}

// compileBound is the longest a build of a program with limits l may take
// (validation keeps each limit positive or unset).
func (h *handler) compileBound(l runner.Limits) time.Duration {
	return cmp.Or(l.CompileTimeout, h.cfg.CompileTimeout)
}

// runBound is the worst case of a POST /run: waiting for a slot, the
// build, the run.
func (h *handler) runBound(req runner.Request) time.Duration {
	return h.cfg.QueueTimeout + h.compileBound(req.Limits) + cmp.Or(req.Limits.Timeout, h.cfg.RunTimeout)
}

// judgeOptions are the judge's options for the service's configuration.
func (h *handler) judgeOptions() judge.Options {
	return judge.Options{Lanes: h.cfg.JudgeLanes, OutputBytes: h.cfg.OutputBytes,
		CheckerTimeout: h.cfg.CheckerTimeout, DefaultTimeout: h.cfg.RunTimeout}
}

// judgeBound is the worst case of a POST /judge whose batch gets lanes
// lanes: waiting for slots, the builds (the program's and the checker's
// run side by side), then the tests (judge.TestsBound).
func (h *handler) judgeBound(req judge.Request, lanes int) time.Duration {
	build := h.compileBound(req.Limits)
	if req.Checker != nil || req.Validator != nil {
		build = max(build, h.cfg.CompileTimeout)
	}
	return h.cfg.QueueTimeout + build + judge.TestsBound(req, h.judgeOptions(), lanes)
}
