package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantMsg    string
	}{
		{"an invalid request is 400 with its message", invalidError(`"code" is required`), 400, `"code" is required`},
		{"a wrapped invalid request is still 400", fmt.Errorf("decode: %w", invalidError("bad")), 400, "bad"},
		{"an unknown language is 400 and lists the supported ones",
			&languageError{name: "ruby", supported: []string{"cpp", "python"}}, 400,
			`unknown language "ruby": supported languages are cpp, python`},
		{"the runner's bare unknown language is 400", runner.ErrUnknownLanguage, 400, "unknown language"},
		{"an oversize request is 413", tooLargeError("code is 2 bytes; the limit is 1"), 413, "code is 2 bytes; the limit is 1"},
		{"a wrong media type is 415", mediaTypeError("Content-Type must be application/json"), 415, "Content-Type must be application/json"},
		{"a rate-limited request is 429", rateLimitError("rate limit exceeded: x"), 429, "rate limit exceeded: x"},
		{"an unknown route is 404", errNotFound, 404, "not found"},
		{"a wrong method is 405", errMethodNotAllowed, 405, "method not allowed"},
		{"busy sandboxes are 503", fmt.Errorf("acquire: %w", runner.ErrBusy), 503, "all sandboxes are busy; retry later"},
		{"an unreachable runtime is 503", fmt.Errorf("dial: %w", runner.ErrUnavailable), 503,
			"the container runtime is unavailable; try again later"},
		{"a client that left is 499, whatever else failed",
			fmt.Errorf("%w: %w", errClientGone, runner.ErrUnavailable), statusClientClosedRequest, "client closed request"},
		{"a panic is 500", errPanic, 500, "internal error"},
		{"a bare context.Canceled from the runner is 500", context.Canceled, 500, "internal error"},
		{"anything else is 500 without its text", errors.New("open /var/lib/secret: denied"), 500, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg := statusOf(tt.err)
			if status != tt.wantStatus || msg != tt.wantMsg {
				t.Errorf("got %d %q, want %d %q", status, msg, tt.wantStatus, tt.wantMsg)
			}
			if status >= 500 && status != statusClientClosedRequest && strings.Contains(msg, tt.err.Error()) && msg != tt.err.Error() {
				t.Errorf("5xx message %q carries the error's text", msg)
			}
		})
	}
}

func TestLanguageErrorMatchesTheRunnerSentinel(t *testing.T) {
	err := fmt.Errorf("validate: %w", &languageError{name: "go", supported: []string{"python"}})
	if !errors.Is(err, runner.ErrUnknownLanguage) {
		t.Error("got errors.Is false, want a languageError to match runner.ErrUnknownLanguage")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want int
	}{
		{5 * time.Second, 5}, {1500 * time.Millisecond, 2}, {time.Millisecond, 1}, {time.Minute, 60},
	} {
		if got := retryAfterSeconds(tt.in); got != tt.want {
			t.Errorf("retryAfterSeconds(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{15 * time.Minute, "15m"}, {time.Hour, "1h"}, {90 * time.Minute, "1h30m"}, {30 * time.Second, "30s"},
		{10 * time.Second, "10s"}, {time.Hour + 30*time.Second, "1h0m30s"},
	} {
		if got := shortDuration(tt.in); got != tt.want {
			t.Errorf("shortDuration(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteErrorLogLevels(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantMsg   string
		wantLevel string
	}{
		{"a validation failure is info, with the reason", invalidError("bad"), "request rejected", "INFO"},
		{"a 404 is debug, so unlimited routes cannot flood the log", errNotFound, "request refused", "DEBUG"},
		{"a 429 is debug", rateLimitError("slow down"), "request refused", "DEBUG"},
		{"an internal failure is an error", errors.New("boom"), "request failed", "ERROR"},
		{"a client that left is info", errClientGone, "client went away", "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logBuffer{}
			h := &handler{cfg: DefaultConfig(), log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			h.writeError(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/run", nil), tt.err)

			if got := logs.record(t, tt.wantMsg)["level"]; got != tt.wantLevel {
				t.Errorf("got level %v, want %v", got, tt.wantLevel)
			}
			if n := len(logs.records(t)); n != 1 {
				t.Errorf("got %d log records, want exactly 1", n)
			}
		})
	}
}
