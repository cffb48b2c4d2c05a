package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/codeexec/codeexec/internal/compat"
	"github.com/codeexec/codeexec/internal/runner"
)

// Piston v2's API (docs/compat.md): GET /api/v2/runtimes and POST
// /api/v2/execute, on the same runner, limits, keys and rate limits as
// /run. Its errors are Piston's: {"message": ...}.

// pistonRuntimes describes the languages as Piston would: name to its
// version description, whether it compiles, its source file.
func (h *handler) pistonRuntimes() (versions map[string]string, compiled map[string]bool, source map[string]string) {
	versions, compiled, source = map[string]string{}, map[string]bool{}, map[string]string{}
	for _, rt := range h.describedRuntimes() {
		versions[rt.Language], compiled[rt.Language], source[rt.Language] = rt.Version, len(rt.Compile) > 0, rt.SourceFile
	}
	return
}

// pistonListRuntimes serves GET /api/v2/runtimes.
func (h *handler) pistonListRuntimes(w http.ResponseWriter, _ *http.Request) {
	versions, _, _ := h.pistonRuntimes()
	writeJSON(w, http.StatusOK, compat.PistonRuntimes(versions))
}

// pistonExecute serves POST /api/v2/execute.
func (h *handler) pistonExecute(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		h.writePistonError(w, r, tooLargeError(fmt.Sprintf("the body is over %d bytes", h.cfg.MaxBodyBytes)))
		return
	case err != nil:
		h.writePistonError(w, r, fmt.Errorf("%w: %w", errClientGone, err))
		return
	}
	// Piston's clients send fields of their own; unknown ones are ignored,
	// as Piston does.
	var in compat.PistonRequest
	if err := json.Unmarshal(raw, &in); err != nil {
		h.writePistonError(w, r, compat.PistonError{Message: "the body is not a JSON object of Piston's execute request: " + err.Error()})
		return
	}
	versions, compiled, source := h.pistonRuntimes()
	req, lang, version, err := in.ToRun(versions, func(l string) string { return source[l] })
	if err == nil {
		err = h.checkPistonSizes(req)
	}
	if err == nil {
		err = h.limitsCheck(req.Limits)
	}
	if err != nil {
		h.writePistonError(w, r, err)
		return
	}
	h.extendWrite(w, r, h.runBound(req))
	res, err := h.runner.Run(r.Context(), req)
	if err != nil {
		err = h.runError(r.Context(), req, err)
		h.observeError(err)
		h.writePistonError(w, r, err)
		return
	}
	h.metrics.ObserveRun(req.Language, res)
	h.logRun(r.Context(), req, newRunResponse(res), requestIDAttr(r), slog.String("api", "piston"))
	writeJSON(w, http.StatusOK, compat.PistonAnswer(lang, version, compiled[req.Language], res))
}

// checkPistonSizes applies /run's bounds: the files together as the code,
// stdin as the input.
func (h *handler) checkPistonSizes(req runner.Request) error {
	code := len(req.Code)
	for _, f := range req.Files {
		code += len(f)
	}
	switch {
	case code > h.cfg.MaxCodeBytes:
		return tooLargeError(fmt.Sprintf("the files are %d bytes; the limit is %d", code, h.cfg.MaxCodeBytes))
	case len(req.Input) > h.cfg.MaxInputBytes:
		return tooLargeError(fmt.Sprintf("stdin is %d bytes; the limit is %d", len(req.Input), h.cfg.MaxInputBytes))
	case len(req.Files) > maxPistonFiles:
		return compat.PistonError{Message: fmt.Sprintf("%d files; the limit is %d", len(req.Files)+1, maxPistonFiles+1)}
	case strings.TrimSpace(req.Code) == "":
		return compat.PistonError{Message: "files[0].content must not be empty"}
	}
	return nil
}

// maxPistonFiles bounds the files beside the first.
const maxPistonFiles = 31

// pistonBasePath prefixes Piston's routes; writeError answers their
// errors in Piston's shape.
const pistonBasePath = "/api/v2/"

// writePistonError answers an error in Piston's shape, {"message": ...}:
// a refused request is a 400, anything else has /run's status (401, 413,
// 429, 503 with Retry-After).
func (h *handler) writePistonError(w http.ResponseWriter, r *http.Request, err error) {
	var pe compat.PistonError
	if errors.As(err, &pe) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": pe.Message})
		return
	}
	h.writeError(w, r, err)
}
