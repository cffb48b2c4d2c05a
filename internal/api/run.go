package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/codeexec/codeexec/internal/runner"
)

// run serves POST /run: validate, run under the request's context, answer.
func (h *handler) run(w http.ResponseWriter, r *http.Request) {
	req, err := h.readRunRequest(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.extendWrite(w, r, h.runBound(req))

	// r.Context() ends when the client disconnects, so the runner can stop
	// the sandbox instead of running a program nobody will read.
	resp, err := h.runOne(r.Context(), req, requestIDAttr(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// runOne runs a validated request, counts and logs it, and returns the
// answer of POST /run; attrs go into its log record.
func (h *handler) runOne(ctx context.Context, req runner.Request, attrs ...slog.Attr) (runResponse, error) {
	res, err := h.runner.Run(ctx, req)
	if err != nil {
		err = h.runError(ctx, req, err)
		h.observeError(err)
		return runResponse{}, err
	}
	h.metrics.ObserveRun(req.Language, res)
	resp := newRunResponse(res)
	h.logRun(ctx, req, resp, attrs...)
	return resp, nil
}

// runError adds what only the handler knows to an error from the runner:
// whether the client had already gone, and the supported languages.
func (h *handler) runError(ctx context.Context, req runner.Request, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	if errors.Is(err, runner.ErrUnknownLanguage) {
		// Validation accepted the language, so Config.Languages and the
		// runner disagree: the client gets a 400, the operator this warning.
		h.log.LogAttrs(ctx, slog.LevelWarn, "runner refused a language the api accepts; check the configured languages",
			slog.String("language", req.Language), slog.String("error", err.Error()))
		return h.unknownLanguage(req.Language)
	}
	return err
}

// logRun writes the one record of a finished run.
func (h *handler) logRun(ctx context.Context, req runner.Request, resp runResponse, more ...slog.Attr) {
	attrs := []slog.Attr{
		slog.String("id", resp.ID),
		slog.String("language", req.Language),
		slog.String("status", string(resp.Status)),
	}
	if resp.ExitCode != nil {
		attrs = append(attrs, slog.Int("exit_code", *resp.ExitCode))
	}
	if resp.Signal != "" {
		attrs = append(attrs, slog.String("signal", resp.Signal))
	}
	attrs = append(attrs,
		slog.Int64("time_ms", resp.TimeMS),
		slog.Int64("run_ms", resp.RunMS),
		slog.Int64("compile_ms", resp.CompileMS),
		slog.Int64("queue_ms", resp.QueueMS),
		slog.Int64("prepare_ms", resp.PrepareMS),
	)
	h.log.LogAttrs(ctx, slog.LevelInfo, "run", append(attrs, more...)...)
}
