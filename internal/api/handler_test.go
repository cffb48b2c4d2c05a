package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/runner"
)

func TestRoutes(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantBody   string
		wantAllow  string
	}{
		{name: "GET /healthz is 200 ok", method: "GET", path: "/healthz",
			wantStatus: 200, wantBody: `{"status":"ok"}`},
		{name: "an unknown path is a JSON 404", method: "GET", path: "/nope",
			wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "POST to an unknown path is a JSON 404", method: "POST", path: "/runs",
			wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "a trailing slash is another path", method: "POST", path: "/run/",
			wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "GET /run is a JSON 405 that allows POST", method: "GET", path: "/run",
			wantStatus: 405, wantBody: `{"error":"method not allowed"}`, wantAllow: "POST"},
		{name: "DELETE /run is a JSON 405 that allows POST", method: "DELETE", path: "/run",
			wantStatus: 405, wantBody: `{"error":"method not allowed"}`, wantAllow: "POST"},
		{name: "POST /healthz is a JSON 405 that allows GET", method: "POST", path: "/healthz",
			wantStatus: 405, wantBody: `{"error":"method not allowed"}`, wantAllow: "GET"},
		{name: "a method chi does not know is a 405 on a known path", method: "BREW", path: "/run",
			wantStatus: 405, wantBody: `{"error":"method not allowed"}`, wantAllow: "POST"},
		{name: "a method chi does not know is a 404 on an unknown path", method: "BREW", path: "/pot",
			wantStatus: 404, wantBody: `{"error":"not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestAPI(t, mustNotRun(t))
			w := serve(h, httptest.NewRequest(tt.method, tt.path, nil))

			if got := w.Code; got != tt.wantStatus {
				t.Errorf("got status %d, want %d", got, tt.wantStatus)
			}
			assertJSONContentType(t, w)
			assertJSONEqual(t, w.Body.Bytes(), tt.wantBody)
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("got Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name    string
		inbound string // X-Request-Id sent; "" for none
		keep    bool   // whether the response must echo it
	}{
		{name: "one is made when the client sends none", inbound: ""},
		{name: "a client's safe id is kept", inbound: "client-42/retry.1:a_b", keep: true},
		{name: "an id with a space is replaced", inbound: "a b"},
		{name: "an id with a quote is replaced", inbound: `x"y`},
		{name: "an id with a non-ASCII character is replaced", inbound: "idé"},
		{name: "an id longer than 128 bytes is replaced", inbound: strings.Repeat("a", 129)},
		{name: "an id of exactly 128 bytes is kept", inbound: strings.Repeat("a", 128), keep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, logs := newTestAPI(t, succeed)
			r := newRunRequest(`{"language":"python","code":"x"}`)
			if tt.inbound != "" {
				r.Header.Set("X-Request-Id", tt.inbound)
			}
			w := serve(h, r)

			got := w.Header().Get("X-Request-Id")
			switch {
			case tt.keep && got != tt.inbound:
				t.Errorf("got X-Request-Id %q, want the client's %q", got, tt.inbound)
			case !tt.keep && (got == "" || got == tt.inbound):
				t.Errorf("got X-Request-Id %q, want a fresh one", got)
			}
			if logged := logs.record(t, "run")["request_id"]; logged != got {
				t.Errorf("got logged request_id %v, want the header's %q", logged, got)
			}
			if r.Header.Get("X-Request-Id") != tt.inbound {
				t.Error("the handler changed the caller's request headers")
			}
		})
	}
}

func TestRequestIDOnErrors(t *testing.T) {
	h, _ := newTestAPI(t, mustNotRun(t))
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/nope", nil),
		httptest.NewRequest("GET", "/run", nil),
		newRunRequest(`{`),
	} {
		if w := serve(h, r); w.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s %s: got no X-Request-Id on a %d", r.Method, r.URL.Path, w.Code)
		}
	}
}

func TestNewHandlerPanicsOnAnInvalidConfig(t *testing.T) {
	defer func() {
		v := recover()
		msg, _ := v.(string)
		if !strings.Contains(msg, "MaxBodyBytes must be positive") {
			t.Errorf("got panic %v, want one naming MaxBodyBytes", v)
		}
	}()
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 0
	NewHandler(&fakeRunner{}, cfg, nil)
}

func TestNewHandlerCopiesLanguages(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Languages = []string{"python", "cpp"}
	h := NewHandler(&fakeRunner{run: succeed}, cfg, nil)
	cfg.Languages[0] = "ruby" // the caller reuses its slice

	w := serve(h, newRunRequest(`{"language":"python","code":"x"}`))
	if got, want := w.Code, http.StatusOK; got != want {
		t.Errorf("got status %d, want %d; body %s", got, want, w.Body)
	}
}

// readyRunner is a fake runner that also reports readiness.
type readyRunner struct {
	*fakeRunner
	ready func(context.Context) error
}

func (r readyRunner) Ready(ctx context.Context) error { return r.ready(ctx) }

func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		reason string
	}{
		{"a ready runner answers 200", nil, http.StatusOK, ""},
		{"a runner that is not ready answers 503 with its reason", errors.New("warm pool python: 0 of 2 ready"), http.StatusServiceUnavailable, "warm pool python: 0 of 2 ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(readyRunner{ready: func(context.Context) error { return tc.err }}, DefaultConfig(), nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.reason) {
				t.Fatalf("got %d %s, want %d with %q", w.Code, w.Body, tc.code, tc.reason)
			}
		})
	}
}

func TestMetricsCountRefusals(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit = 1
	calls := 0
	h := NewHandler(&fakeRunner{run: func(context.Context, runner.Request) (runner.Result, error) {
		calls++
		return runner.Result{}, runner.ErrBusy
	}}, cfg, nil)
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/run", strings.NewReader(`{"language":"python","code":"print(1)"}`))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`codeexec_errors_total{reason="busy"} 1`, `codeexec_rate_limited_total 1`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if calls != 1 {
		t.Errorf("runner called %d times, want 1", calls)
	}
}
