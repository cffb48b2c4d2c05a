package api

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/api/jsonbody"
	"github.com/codeexec/codeexec/internal/api/metrics"
	"github.com/codeexec/codeexec/internal/runner"
)

// The client-facing error kinds. Each carries the message the client sees, so
// it must say what to change. statusOf is the only place that turns a kind
// into a status code.
type (
	invalidError   = jsonbody.Invalid   // the request is malformed or fails validation: 400
	tooLargeError  = jsonbody.TooLarge  // the body, code or input is over its limit: 413
	mediaTypeError = jsonbody.MediaType // the body is not declared as JSON: 415
	rateLimitError string               // the client address used up its rate limit: 429
	conflictError  string               // the request contradicts the resource's state: 409
)

func (e rateLimitError) Error() string { return string(e) }
func (e conflictError) Error() string  { return string(e) }

// languageError reports a language this service does not run. It matches
// runner.ErrUnknownLanguage with errors.Is, whether the API caught it during
// validation or the runner returned it.
type languageError struct {
	name      string
	supported []string // sorted
	pending   bool     // a configured language whose image has not arrived yet
}

func (e *languageError) Error() string {
	if e.pending {
		return fmt.Sprintf("language %q is not served yet: its image is not in containerd (it is served as soon as it is imported); supported languages are %s",
			e.name, strings.Join(e.supported, ", "))
	}
	return fmt.Sprintf("unknown language %q: supported languages are %s", e.name, strings.Join(e.supported, ", "))
}

func (e *languageError) Is(target error) bool { return target == runner.ErrUnknownLanguage }

var (
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
	// errClientGone marks a failure seen after the client closed the request.
	// The client cannot read the answer, so it is logged, not reported.
	errClientGone = errors.New("client closed request")
	// errPanic stands for a recovered panic; its details go only to the log.
	errPanic = errors.New("handler panicked")
	// errQueueDown is the submissions' queue not answering (NATS
	// unreachable, or a cluster without quorum).
	errQueueDown = errors.New("the submission queue is unavailable")
)

// statusClientClosedRequest is nginx's non-standard code for a request whose
// client went away before the answer; nobody reads it, but logs and proxies
// recognise it.
const statusClientClosedRequest = 499

// statusOf maps an error to the HTTP status and the message the client sees.
// It is the only place that does. Client-facing kinds show their own message;
// infrastructure failures get fixed messages, and anything unrecognised is a
// 500 whose message never carries the error's text, which may hold paths,
// container ids or other internals.
func statusOf(err error) (int, string) {
	var (
		invalid   invalidError
		tooLarge  tooLargeError
		mediaType mediaTypeError
		limited   rateLimitError
		conflict  conflictError
		full      storeFull
		language  *languageError
	)
	switch {
	// First: if the client is gone, what else went wrong is not its business.
	case errors.Is(err, errClientGone):
		return statusClientClosedRequest, "client closed request"
	case errors.As(err, &invalid):
		return http.StatusBadRequest, invalid.Error()
	case errors.As(err, &language):
		return http.StatusBadRequest, language.Error()
	case errors.Is(err, runner.ErrUnknownLanguage):
		return http.StatusBadRequest, "unknown language"
	case errors.Is(err, runner.ErrInvalidLimits):
		// The runner's message names the field and the allowed range.
		return http.StatusBadRequest, "limits." + strings.TrimPrefix(err.Error(), runner.ErrInvalidLimits.Error()+": ")
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, tooLarge.Error()
	case errors.As(err, &mediaType):
		return http.StatusUnsupportedMediaType, mediaType.Error()
	case errors.As(err, &limited):
		return http.StatusTooManyRequests, limited.Error()
	case errors.As(err, &conflict):
		return http.StatusConflict, conflict.Error()
	case errors.As(err, &full):
		return http.StatusInsufficientStorage, full.Error()
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, "a valid API key is required: send Authorization: Bearer <key>"
	case errors.Is(err, errNotFound):
		if msg, ok := strings.CutPrefix(err.Error(), errNotFound.Error()+": "); ok {
			return http.StatusNotFound, "not found: " + msg
		}
		return http.StatusNotFound, "not found"
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, "method not allowed"
	case errors.Is(err, runner.ErrBusy):
		return http.StatusServiceUnavailable, "all sandboxes are busy; retry later"
	case errors.Is(err, errOverran):
		return http.StatusServiceUnavailable, "the judgement did not end within the worst case its limits allow: the service is overloaded; retry later"
	case errors.Is(err, runner.ErrUnavailable):
		return http.StatusServiceUnavailable, "the container runtime is unavailable; try again later"
	case errors.Is(err, errQueueDown):
		return http.StatusServiceUnavailable, "the submission queue is unavailable; try again later"
	default:
		return http.StatusInternalServerError, "internal error"
	}
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// writeError logs err once, at a level that fits who must act on it, and
// writes the status and message statusOf chose.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err)
	// The 503s are passing states: say when to come back.
	if errors.Is(err, runner.ErrBusy) || errors.Is(err, runner.ErrUnavailable) || errors.Is(err, errOverran) || errors.Is(err, errQueueDown) {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(h.cfg.BusyRetryAfter)))
	}

	attrs := []slog.Attr{slog.Int("status", status), requestIDAttr(r), slog.String("path", r.URL.Path)}
	switch {
	case status == statusClientClosedRequest:
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "client went away", append(attrs, slog.String("error", err.Error()))...)
	case status >= 500:
		// The only record of what went wrong: the client was told "internal error".
		h.log.LogAttrs(r.Context(), slog.LevelError, "request failed", append(attrs, slog.String("error", err.Error()))...)
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed, status == http.StatusTooManyRequests:
		// Debug: these routes are not rate-limited (404, 405) or exist to shed
		// load (429), so an info record each would let a client flood the log.
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "request refused", attrs...)
	default:
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "request rejected", append(attrs, slog.String("reason", msg))...)
	}
	if strings.HasPrefix(r.URL.Path, pistonBasePath) {
		// Piston's routes answer every error in Piston's shape: its
		// clients read "message".
		writeJSON(w, status, map[string]string{"message": msg})
		return
	}
	writeJSON(w, status, errorBody{Error: msg})
}

// retryAfterSeconds rounds d up to whole seconds, at least 1, as Retry-After
// needs.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// errorReason is the label under which metrics counts a request the runner
// refused or failed, or "" for one that is not the service's failure (the
// client went away, or named an unknown language).
func errorReason(err error) string {
	switch {
	case errors.Is(err, runner.ErrUnavailable):
		return metrics.ReasonUnavailable
	case errors.Is(err, runner.ErrBusy):
		return metrics.ReasonBusy
	case errors.Is(err, errClientGone), errors.Is(err, runner.ErrUnknownLanguage):
		return ""
	default:
		return metrics.ReasonInternal
	}
}

// observeError counts err in the metrics (errorReason).
func (h *handler) observeError(err error) {
	if reason := errorReason(err); reason != "" {
		h.metrics.ObserveError(reason)
	}
}
