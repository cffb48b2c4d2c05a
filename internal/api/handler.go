package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/codeexec/codeexec/internal/api/metrics"
	"github.com/codeexec/codeexec/internal/callback"
	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// Runner runs one program. A program that fails is a Result with a nil
// error; an error means the service could not run it (runner.ErrBusy,
// runner.ErrUnavailable, runner.ErrUnknownLanguage, or anything else, which
// becomes a 500).
type Runner interface {
	Run(ctx context.Context, req runner.Request) (runner.Result, error)
}

// ReadyChecker is implemented by a Runner that can tell whether it is
// ready to serve: its dependencies answer and its warm-up is done.
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

// RuntimeLister is implemented by a Runner that can describe its languages.
type RuntimeLister interface {
	Runtimes() []runner.Runtime
}

// LanguageWatcher is implemented by a Runner whose languages grow while it
// runs: it serves a language as soon as its image is imported.
type LanguageWatcher interface {
	ServedLanguages() []string  // sorted
	PendingLanguages() []string // sorted: configured, not served yet
}

var _ LanguageWatcher = (*runner.Runner)(nil)

// StackDescriber is implemented by a Runner that can say which containerd
// stack its sandboxes run on.
type StackDescriber interface {
	Stack() runner.Stack
}

// handler holds what the routes share. It is immutable after NewHandler.
type handler struct {
	runner    Runner
	cfg       Config
	languages []string          // cfg.Languages, sorted: all the service may serve (served lists those it does now)
	allow     map[string]string // route path → Allow header value
	log       *slog.Logger
	metrics   *metrics.Metrics
	trusted   []netip.Prefix
	subs      Submissions // nil: no asynchronous API
	problems  *problems   // nil: no problem store
	// callbackAllow is cfg.CallbackAllow, parsed.
	callbackAllow callback.Allow
	// defaultRuntimes describes the languages of a runner that cannot
	// (no RuntimeLister), with the runner's default limits; made once.
	defaultRuntimes func() []runner.Runtime
	// openAPI is the contract, made once (openapi.go).
	openAPI func() ([]byte, error)
}

// NewHandler returns the HTTP API in front of r. It panics if cfg.Validate
// fails or r is nil, since both are wiring mistakes to fix before serving;
// call cfg.Validate first to report them gracefully. A nil log discards.
func NewHandler(r Runner, cfg Config, log *slog.Logger) http.Handler {
	return New(r, cfg, log, nil).Handler
}

// Service is the HTTP API and, with a queue of submissions, the function
// that runs what the queue hands out.
type Service struct {
	Handler http.Handler
	// Execute runs a queued submission as POST /run or /judge would.
	Execute submissions.Exec
	// Callback is the method and body of a submission's callback.
	Callback func(submissions.Record) (method string, body []byte)
}

// New is NewHandler with the asynchronous API (POST, GET, DELETE
// /submissions) on subs, when subs is not nil.
func New(r Runner, cfg Config, log *slog.Logger, subs Submissions, opts ...Option) Service {
	if err := cfg.Validate(); err != nil {
		panic("api: invalid config: " + err.Error())
	}
	if r == nil {
		panic("api: nil Runner")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{
		runner:    r,
		cfg:       cfg,
		languages: slices.Sorted(slices.Values(cfg.Languages)), // a copy: the caller may reuse its slice
		log:       log,
		subs:      subs,
	}
	h.cfg.Languages = h.languages
	h.defaultRuntimes = sync.OnceValue(h.describeRuntimes)
	h.openAPI = sync.OnceValues(func() ([]byte, error) { return openAPIDocument(buildVersion()) })
	for _, o := range opts {
		o(h)
	}
	h.metrics = metrics.New(r, h.languages) // every language's series, from the start
	if st, ok := subs.(metrics.SubmissionStats); ok {
		h.metrics.WatchSubmissions(st)
	}
	for _, p := range cfg.TrustedProxies {
		h.trusted = append(h.trusted, netip.MustParsePrefix(p)) // Validate checked them
	}
	h.callbackAllow, _ = callback.ParseAllow(cfg.CallbackAllow) // Validate checked it
	return Service{Handler: h.routes(), Execute: h.Execute, Callback: h.Callback}
}

// routes is the API's router.
func (h *handler) routes() http.Handler {
	mux := chi.NewRouter()
	// Order matters: the request id exists before anything logs, and the
	// recoverer sits inside it so a panic's record and 500 carry the id.
	mux.Use(dropUnsafeRequestID, middleware.RequestID, echoRequestID, h.recoverer)
	mux.NotFound(h.notFound)
	mux.MethodNotAllowed(h.methodNotAllowed)

	mux.Get("/healthz", h.healthz)
	mux.Get("/readyz", h.readyz)
	mux.Method(http.MethodGet, "/metrics", h.metrics.Handler())
	mux.Get(OpenAPIPath, h.openapi)
	if h.cfg.Playground {
		mux.Get("/", h.playgroundPage)
		mux.Get("/playground/{file}", h.playgroundAsset)
	}
	mux.With(h.requireKey).Get("/runtimes", h.runtimes)
	// Each route that runs or queues something has a rate limiter of its
	// own; a submission and a batch share one.
	limited := func() []func(http.Handler) http.Handler {
		return append([]func(http.Handler) http.Handler{h.requireKey}, h.rateLimit()...)
	}
	mux.With(limited()...).Post("/run", h.run)
	if _, ok := h.runner.(judge.Sandboxes); ok {
		mux.With(limited()...).Post("/judge", h.judge)
	}
	// Piston v2's API, for its clients (docs/compat.md).
	mux.With(h.requireKey).Get("/api/v2/runtimes", h.pistonListRuntimes)
	mux.With(limited()...).Post("/api/v2/execute", h.pistonExecute)
	// Judge0 CE's, under /judge0 (docs/compat.md).
	h.judge0Routes(mux, limited)
	if h.problems != nil {
		mux.With(limited()...).Post("/problems", h.createProblem)
		mux.With(h.requireKey).Get("/problems/{id}", h.getProblem)
		mux.With(h.requireKey).Delete("/problems/{id}", h.deleteProblem)
	}
	if h.subs != nil {
		submitting := limited()
		mux.With(submitting...).Post("/submissions", h.submit)
		mux.With(submitting...).Post("/submissions/batch", h.submitBatch)
		mux.With(h.requireKey).Get("/submissions", h.listSubmissions)
		mux.With(h.requireKey).Get("/submissions/{id}", h.getSubmission)
		mux.With(h.requireKey).Delete("/submissions/{id}", h.cancelSubmission)
	}

	h.allow = allowHeaders(mux)
	return mux
}

// allowHeaders lists, for each route, the methods it serves, as an Allow
// header value. chi's own 405 sets Allow, but a custom one is not told the
// methods, so they are read back from the routes once here.
func allowHeaders(mux chi.Routes) map[string]string {
	methods := map[string][]string{}
	_ = chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		methods[route] = append(methods[route], method)
		return nil // never fails: only collects
	})
	allow := make(map[string]string, len(methods))
	for route, ms := range methods {
		slices.Sort(ms)
		allow[route] = strings.Join(ms, ", ")
	}
	return allow
}

// healthz answers while the process serves HTTP. It does not probe
// containerd: a runtime outage shows as 503 on /run, and restarting this
// process would not fix it.
func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the runner is ready to serve, and 503 with the
// reason otherwise. A runner that cannot tell is always ready. Either way
// the body lists the languages whose image has not arrived yet
// ("pending"): the service is ready for the others, and serves each as
// soon as its image is imported.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	rc, ok := h.runner.(ReadyChecker)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := rc.Ready(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, readyView{Status: "not ready", Reason: err.Error(), Pending: h.pending()})
		return
	}
	writeJSON(w, http.StatusOK, readyView{Status: "ready", Pending: h.pending()})
}

// runtimes lists the languages with their images, commands and limits.
func (h *handler) runtimes(w http.ResponseWriter, _ *http.Request) {
	// A runner that cannot describe its runtimes gets them described with
	// the default limits: the answer has one shape (openapi.go).
	body := map[string]any{"runtimes": h.describedRuntimes(), "pending": h.pending()}
	if sd, ok := h.runner.(StackDescriber); ok {
		body["sandbox"] = sd.Stack()
	}
	if _, ok := h.runner.(judge.Sandboxes); ok {
		body["judge"] = judgeInfo{CompareModes: judge.Modes, CheckerLanguages: h.served(),
			MaxTests: h.cfg.MaxTests, MaxTestDataBytes: h.cfg.MaxTestDataBytes, Lanes: h.cfg.JudgeLanes,
			CheckerTimeoutMS: h.cfg.CheckerTimeout.Milliseconds(), MaxJudgeDurationMS: h.cfg.MaxJudgeDuration.Milliseconds()}
	}
	writeJSON(w, http.StatusOK, body)
}

// judgeInfo is what GET /runtimes says of POST /judge: any language of
// "runtimes" may be judged.
type judgeInfo struct {
	CompareModes     []judge.Mode `json:"compare_modes"`
	CheckerLanguages []string     `json:"checker_languages"`
	MaxTests         int          `json:"max_tests"`
	MaxTestDataBytes int          `json:"max_test_data_bytes"`
	Lanes            int          `json:"lanes"`
	CheckerTimeoutMS int64        `json:"checker_timeout_ms"`
	// MaxJudgeDurationMS caps a request's worst case (docs/judge.md).
	MaxJudgeDurationMS int64 `json:"max_judge_duration_ms"`
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, r, errNotFound)
}

// methodNotAllowed answers 405 with the route's Allow header. chi also sends
// methods it does not know (e.g. "FOO") here, on any path; on a path no route
// serves, that is a 404.
func (h *handler) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	path := r.URL.RawPath // what chi routed on
	if path == "" {
		path = r.URL.Path
	}
	allow, ok := h.allow[path]
	if !ok {
		h.writeError(w, r, errNotFound)
		return
	}
	w.Header().Set("Allow", allow)
	h.writeError(w, r, errMethodNotAllowed)
}

// served lists, sorted, the languages a request may name now: those of
// Config.Languages the runner serves (all of them, for a runner that is
// not a LanguageWatcher).
func (h *handler) served() []string {
	lw, ok := h.runner.(LanguageWatcher)
	if !ok {
		return h.languages
	}
	now := lw.ServedLanguages()
	return slices.DeleteFunc(slices.Clone(h.languages), func(l string) bool {
		_, found := slices.BinarySearch(now, l)
		return !found
	})
}

// pending lists, sorted, the languages of Config.Languages that the runner
// does not serve yet (their image is not imported); never nil.
func (h *handler) pending() []string {
	out := []string{}
	if lw, ok := h.runner.(LanguageWatcher); ok {
		for _, l := range lw.PendingLanguages() {
			if _, found := slices.BinarySearch(h.languages, l); found {
				out = append(out, l)
			}
		}
	}
	return out
}

// unknownLanguage is the error for a language a request names that is not
// served now: one the service does not know, or one whose image has not
// arrived yet.
func (h *handler) unknownLanguage(name string) *languageError {
	_, pending := slices.BinarySearch(h.pending(), name)
	return &languageError{name: name, supported: h.served(), pending: pending}
}
