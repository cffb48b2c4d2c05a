package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/codeexec/codeexec/internal/api/jsonbody"
	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/runner"
)

// problemView is what the API says of a stored package (docs/problems.md).
type problemView struct {
	ID          string               `json:"id"`
	Name        string               `json:"name"`
	Validation  string               `json:"validation"` // default, custom, custom interactive, custom score...
	Scoring     bool                 `json:"scoring"`
	TimeLimitMS *int64               `json:"time_limit_ms" jsonschema:"nullable"` // null: the request's or the service's
	MemoryMB    *int64               `json:"memory_mb" jsonschema:"nullable"`     // null: the request's or the service's
	Tests       int                  `json:"tests"`
	Groups      []problem.GroupCount `json:"groups"`
	Submissions int                  `json:"submissions"` // jury programs in the package
	License     string               `json:"license,omitempty"`
	Authors     string               `json:"authors,omitempty"`
	Source      string               `json:"source,omitempty"`
	Bytes       int                  `json:"bytes"` // the archive's
	CreatedAt   time.Time            `json:"created_at"`
}

// storedMeta is a package's meta in the store: its view, the owner who
// may delete it, and its validator's build.
type storedMeta struct {
	problemView
	Owner     string     `json:"owner"`
	Validator *builtFile `json:"validator_build,omitempty"`
}

// builtFile is what a validator's build made, on which image: judging
// writes it instead of building again, as long as the language's image
// is the same.
type builtFile struct {
	Image    string            `json:"image"`
	Products map[string][]byte `json:"products"` // base64 in JSON: binaries are not UTF-8
}

// problemEntry is a parsed package and its validator's build.
type problemEntry struct {
	p     *problem.Problem
	build *builtFile
}

func newProblemView(id string, p *problem.Problem, size int) problemView {
	v := problemView{ID: id, Name: p.Name, Validation: p.Validation.String(), Scoring: p.Validation.Scoring,
		Tests: len(p.Tests()), Groups: p.Groups(), Submissions: len(p.Submissions),
		License: p.License, Authors: p.Authors, Source: p.Source, Bytes: size, CreatedAt: time.Now().UTC()}
	if p.TimeLimit > 0 {
		ms := p.TimeLimit.Milliseconds()
		v.TimeLimitMS = &ms
	}
	if p.MemoryBytes > 0 {
		mb := p.MemoryBytes >> 20
		v.MemoryMB = &mb
	}
	return v
}

// problems keeps the store and a few parsed packages, so that a judgement
// of a package judged a moment ago does not unpack it again.
type problems struct {
	store problem.Store
	mu    sync.Mutex
	cache map[string]problemEntry
	order []string // least recently used first
}

// problemCacheSize is how many parsed packages a node keeps.
const problemCacheSize = 8

func (ps *problems) cached(id string) (problemEntry, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	e, ok := ps.cache[id]
	if ok {
		ps.order = append(slices.DeleteFunc(ps.order, func(s string) bool { return s == id }), id)
	}
	return e, ok
}

func (ps *problems) keep(id string, p problemEntry) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.cache == nil {
		ps.cache = map[string]problemEntry{}
	}
	if _, ok := ps.cache[id]; !ok {
		ps.order = append(ps.order, id)
	}
	ps.cache[id] = p
	for len(ps.order) > problemCacheSize {
		delete(ps.cache, ps.order[0])
		ps.order = ps.order[1:]
	}
}

func (ps *problems) forget(id string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.cache, id)
	ps.order = slices.DeleteFunc(ps.order, func(s string) bool { return s == id })
}

// WithProblems serves /problems and "problem" in /judge from store.
func WithProblems(store problem.Store) Option {
	return func(h *handler) { h.problems = &problems{store: store} }
}

// Option changes what New serves.
type Option func(*handler)

// problemLimits are the bounds of one package's unpacking.
func (h *handler) problemLimits() problem.Limits {
	return problem.Limits{MaxBytes: h.cfg.MaxProblemUnpacked, MaxFiles: h.cfg.MaxProblemFiles}
}

// errProblemNotFound is an id that names no stored package.
var errProblemNotFound = fmt.Errorf("%w: no problem with this id", errNotFound)

// storeFull is the store at one of its bounds: 507.
type storeFull string

func (e storeFull) Error() string { return string(e) }

// createProblem serves POST /problems: the body is a package's archive.
func (h *handler) createProblem(w http.ResponseWriter, r *http.Request) {
	archive, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxProblemBytes))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		h.writeError(w, r, tooLargeError(fmt.Sprintf("the package is over %s", jsonbody.FormatBytes(h.cfg.MaxProblemBytes))))
		return
	case err != nil:
		h.writeError(w, r, fmt.Errorf("%w: %w", errClientGone, err))
		return
	case len(archive) == 0:
		h.writeError(w, r, invalidError("the body must be a problem package: a zip, tar or tar.gz archive"))
		return
	}
	ctx := r.Context()
	id := problem.ID(archive)
	if m, err := h.meta(ctx, id); err == nil {
		writeJSON(w, http.StatusOK, m.problemView) // the same bytes again: the same package
		return
	}
	n, total, err := h.problems.store.Usage(ctx)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	switch {
	case n >= h.cfg.MaxProblems:
		h.writeError(w, r, storeFull(fmt.Sprintf("the service holds %d problems, its limit; delete some first", n)))
		return
	case total+int64(len(archive)) > h.cfg.MaxProblemStoreBytes:
		h.writeError(w, r, storeFull(fmt.Sprintf("the service's problems would pass %s; delete some first", jsonbody.FormatBytes(h.cfg.MaxProblemStoreBytes))))
		return
	}
	p, build, err := h.checkPackage(ctx, archive)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	view := newProblemView(id, p, len(archive))
	meta, err := json.Marshal(storedMeta{problemView: view, Owner: h.owner(r), Validator: build})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.problems.store.Put(ctx, id, archive, meta); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.problems.keep(id, problemEntry{p, build})
	h.log.LogAttrs(ctx, slog.LevelInfo, "problem stored", slog.String("id", id), slog.String("name", p.Name),
		slog.String("validation", view.Validation), slog.Int("tests", view.Tests))
	w.Header().Set("Location", "/problems/"+id)
	writeJSON(w, http.StatusCreated, view)
}

// checkPackage unpacks and checks a package: its format, its limits
// against the service's, its languages, and that its output validator
// builds. Every refusal is a 400 that names the file and the problem.
func (h *handler) checkPackage(ctx context.Context, archive []byte) (*problem.Problem, *builtFile, error) {
	files, err := problem.Unpack(archive, h.problemLimits())
	if err == nil {
		var p *problem.Problem
		if p, err = problem.Parse(files); err == nil {
			build, err := h.checkProblem(ctx, p)
			return p, build, err
		}
	}
	if errors.Is(err, problem.ErrInvalid) {
		return nil, nil, invalidError(err.Error())
	}
	return nil, nil, err
}

// checkProblem checks a parsed package against what the service can do,
// and builds its validator.
func (h *handler) checkProblem(ctx context.Context, p *problem.Problem) (*builtFile, error) {
	bad := func(format string, args ...any) error {
		return invalidError(fmt.Sprintf("invalid problem package %q: ", p.Name) + fmt.Sprintf(format, args...))
	}
	if n := len(p.Tests()); n > h.cfg.MaxProblemTests {
		return nil, bad("%d test cases; the limit is %d", n, h.cfg.MaxProblemTests)
	}
	if err := h.limitsCheck(runner.Limits{Timeout: p.TimeLimit, MemoryBytes: p.MemoryBytes}); err != nil {
		return nil, bad("its limits are beyond the service's: %s", strings.TrimPrefix(err.Error(), runner.ErrInvalidLimits.Error()+": "))
	}
	// A package no judgement of could finish within the ceiling is no
	// use stored: its tests, their limit and its validator's.
	if err := h.checkBound(judge.ForProblem(p, "", "", runner.Limits{})); err != nil {
		return nil, bad("%s", err)
	}
	v := p.Validator
	if v == nil {
		return nil, nil
	}
	if !slices.Contains(h.served(), v.Language) {
		return nil, bad("output validator %s: %s", v.Path, h.unknownLanguage(v.Language))
	}
	sb, ok := h.runner.(judge.Sandboxes)
	if !ok {
		return nil, bad("this service does not judge")
	}
	b, err := judge.BuildValidator(ctx, sb, v)
	if err != nil {
		return nil, err
	}
	if b.Status != runner.StatusSuccess {
		return nil, bad("output validator %s does not build:\n%s", v.Path, cutText(b.Output, 4096))
	}
	if b.Products == nil {
		return nil, nil // an interpreted validator: nothing to keep
	}
	built := &builtFile{Image: b.Image, Products: map[string][]byte{}}
	for name, body := range b.Products {
		built.Products[name] = []byte(body)
	}
	return built, nil
}

// cutText shortens s to at most n bytes.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n…"
}

// meta reads a stored package's meta.
func (h *handler) meta(ctx context.Context, id string) (storedMeta, error) {
	var m storedMeta
	raw, err := h.problems.store.Meta(ctx, id)
	if err != nil {
		return m, problemErr(err)
	}
	return m, json.Unmarshal(raw, &m)
}

// getProblem serves GET /problems/{id}.
func (h *handler) getProblem(w http.ResponseWriter, r *http.Request) {
	m, err := h.meta(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m.problemView)
}

// deleteProblem serves DELETE /problems/{id}: only the key that stored a
// package may delete it (anyone, with keys off).
func (h *handler) deleteProblem(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	ctx := r.Context()
	m, err := h.meta(ctx, id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if m.Owner != h.owner(r) {
		h.writeError(w, r, errProblemNotFound) // another key's: as if it did not exist
		return
	}
	if err := h.problems.store.Delete(ctx, id); err != nil {
		h.writeError(w, r, problemErr(err))
		return
	}
	h.problems.forget(id)
	w.WriteHeader(http.StatusNoContent)
}

// problemErr maps the store's not-found to the API's.
func problemErr(err error) error {
	if errors.Is(err, problem.ErrNotFound) {
		return errProblemNotFound
	}
	return err
}

// loadProblem returns a stored package, parsed, with its validator's
// build.
func (h *handler) loadProblem(ctx context.Context, id string) (problemEntry, error) {
	if h.problems == nil {
		return problemEntry{}, invalidError(`"problem" needs the service's problem store, which is off`)
	}
	if e, ok := h.problems.cached(id); ok {
		return e, nil
	}
	archive, err := h.problems.store.Archive(ctx, id)
	if err != nil {
		if errors.Is(err, problem.ErrNotFound) {
			return problemEntry{}, invalidError(fmt.Sprintf(`"problem": no problem %q; POST /problems stores one`, cutText(id, 80)))
		}
		return problemEntry{}, err
	}
	m, err := h.meta(ctx, id)
	if err != nil {
		return problemEntry{}, err
	}
	files, err := problem.Unpack(archive, h.problemLimits())
	if err != nil {
		return problemEntry{}, err // it was checked when stored
	}
	p, err := problem.Parse(files)
	if err != nil {
		return problemEntry{}, err
	}
	e := problemEntry{p, m.Validator}
	h.problems.keep(id, e)
	return e, nil
}
