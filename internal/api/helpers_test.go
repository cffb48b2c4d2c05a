package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/codeexec/codeexec/internal/runner"
)

// fakeRunner is a Runner made of a function field, so each test says exactly
// what the runner does.
type fakeRunner struct {
	run func(ctx context.Context, req runner.Request) (runner.Result, error)
}

func (f *fakeRunner) Run(ctx context.Context, req runner.Request) (runner.Result, error) {
	return f.run(ctx, req)
}

// mustNotRun is a runner for requests that validation must stop.
func mustNotRun(tb testing.TB) func(context.Context, runner.Request) (runner.Result, error) {
	return func(_ context.Context, req runner.Request) (runner.Result, error) {
		tb.Helper()
		tb.Errorf("runner called with %+v, want the request refused before it", req)
		return runner.Result{}, nil
	}
}

// succeed is a runner that returns a plain successful result.
func succeed(context.Context, runner.Request) (runner.Result, error) {
	return runner.Result{ID: "run-1", Status: runner.StatusSuccess, ExitCode: intPtr(0)}, nil
}

func intPtr(n int) *int { return &n }

// logBuffer collects the JSON log records a handler writes. It is safe for
// concurrent use, as handlers log from their own goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records decodes every log record written so far.
func (b *logBuffer) records(tb testing.TB) []map[string]any {
	tb.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q is not JSON: %v", line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// record returns the only record with message msg.
func (b *logBuffer) record(tb testing.TB, msg string) map[string]any {
	tb.Helper()
	var found []map[string]any
	for _, rec := range b.records(tb) {
		if rec[slog.MessageKey] == msg {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("got %d log records %q, want 1; log:\n%s", len(found), msg, b.String())
	}
	return found[0]
}

// newTestAPI returns the handler in front of a fake runner, with the default
// config changed by configure, and the buffer it logs to at debug level.
func newTestAPI(tb testing.TB, run func(context.Context, runner.Request) (runner.Result, error), configure ...func(*Config)) (http.Handler, *logBuffer) {
	tb.Helper()
	cfg := DefaultConfig()
	for _, c := range configure {
		c(&cfg)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewHandler(&fakeRunner{run: run}, cfg, log), logs
}

// newRunRequest is a POST /run with a JSON body from 192.0.2.1.
func newRunRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/run", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// serve runs one request through h.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorMessage checks that w is a JSON error response and returns its message.
func errorMessage(tb testing.TB, w *httptest.ResponseRecorder) string {
	tb.Helper()
	assertJSONContentType(tb, w)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		tb.Fatalf("body %q is not JSON: %v", w.Body.String(), err)
	}
	msg, ok := body["error"].(string)
	if !ok || len(body) != 1 {
		tb.Fatalf("got body %s, want exactly {\"error\": \"...\"}", w.Body.String())
	}
	return msg
}

func assertJSONContentType(tb testing.TB, w *httptest.ResponseRecorder) {
	tb.Helper()
	if got, want := w.Header().Get("Content-Type"), "application/json"; got != want {
		tb.Errorf("got Content-Type %q, want %q", got, want)
	}
	if got, want := w.Header().Get("X-Content-Type-Options"), "nosniff"; got != want {
		tb.Errorf("got X-Content-Type-Options %q, want %q", got, want)
	}
}

// assertJSONEqual compares two JSON documents by value, so key order and
// spacing do not matter but a missing or extra key does.
func assertJSONEqual(tb testing.TB, got []byte, want string) {
	tb.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		tb.Fatalf("got body %q, which is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		tb.Errorf("got body\n\t%s\nwant\n\t%s", bytes.TrimSpace(got), want)
	}
}

// tripwire yields data but fails the test if more than limit bytes of it are
// read: it proves the handler stops reading a body it refuses.
type tripwire struct {
	tb    testing.TB
	data  io.Reader
	limit int64
	read  int64
}

func (t *tripwire) Read(p []byte) (int, error) {
	n, err := t.data.Read(p)
	t.read += int64(n)
	if t.read > t.limit {
		t.tb.Errorf("handler read %d bytes of the body, want at most %d", t.read, t.limit)
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}
