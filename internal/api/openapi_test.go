package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/codeexec/codeexec/internal/api/openapitest"
	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/runner"
)

// noQueue is a Submissions that is there only for its routes.
type noQueue struct{ Submissions }

// fullService is the handler with every optional part: a judge, a problem
// store and a queue.
func fullService(t *testing.T, run func(context.Context, runner.Request) (runner.Result, error)) (Service, *handler) {
	t.Helper()
	var got *handler
	svc := New(&fakeJudgeRunner{fakeRunner: fakeRunner{run: run}}, DefaultConfig(), slog.New(slog.DiscardHandler), noQueue{},
		WithProblems(problem.DirStore{Dir: t.TempDir()}), func(h *handler) { got = h })
	return svc, got
}

// TestOpenAPIDescribesEveryRoute holds the contract's operations to the
// router's: none missing, none extra.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	svc, _ := fullService(t, succeed)
	var served, described []string
	err := chi.Walk(svc.Handler.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route != "/" {
			route = strings.TrimSuffix(route, "/")
		}
		served = append(served, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range apiRoutes() {
		described = append(described, rt.method+" "+rt.path)
	}
	slices.Sort(served)
	slices.Sort(described)
	if !slices.Equal(served, described) {
		t.Errorf("routes served:\n%s\ndescribed in the contract:\n%s", strings.Join(served, "\n"), strings.Join(described, "\n"))
	}
}

// TestOpenAPIHoldsTheHandlers sends requests of every kind through the
// checking transport to the real handler, and checks that the checker
// can fail: an answer missing a required field, and a request the
// contract refuses answered 200, are caught.
func TestOpenAPIHoldsTheHandlers(t *testing.T) {
	svc, _ := fullService(t, func(_ context.Context, req runner.Request) (runner.Result, error) {
		if strings.Contains(req.Code, "kill") {
			return runner.Result{ID: "r", Status: runner.StatusRuntimeError, Signal: "SIGKILL"}, nil
		}
		return runner.Result{ID: "r", Status: runner.StatusSuccess, ExitCode: intPtr(0), Stdout: "3\n"}, nil
	})
	srv := httptest.NewServer(svc.Handler)
	defer srv.Close()
	tr := &openapitest.Transport{Base: http.DefaultTransport}
	tr.Watch(srv.URL)
	client := &http.Client{Transport: tr}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/metrics", ""},
		{"GET", "/runtimes", ""},
		{"GET", "/openapi.json", ""},
		{"GET", "/", ""},
		{"GET", "/playground/app.js", ""},
		{"GET", "/playground/style.css", ""},
		{"GET", "/playground/LICENSES.txt", ""},
		{"GET", "/playground/nope.js", ""},
		{"POST", "/run", `{"language":"python","code":"print(3)"}`},
		{"POST", "/run", `{"language":"python","code":"kill","input":"","limits":{"timeout_ms":500,"memory_mb":null}}`},
		{"POST", "/run", `{"language":"python"}`},
		{"POST", "/run", `{"language":"python","code":"x","extra":1}`},
		{"POST", "/run", `{"language":"cobol","code":"x"}`},
		{"POST", "/run", `not json`},
		{"POST", "/judge", `{"language":"python","code":"print(3)","tests":[{"input":"1 2\n","expected_output":"3\n"},{"input":"","expected_output":"4\n","limits":{"timeout_ms":100}}],"compare":{"mode":"tokens"}}`},
		{"POST", "/judge", `{"language":"python","code":"print(3)","tests":[],"compare":{"mode":"nope"}}`},
		{"GET", "/problems/nope", ""},
		{"GET", "/nowhere", ""},
		{"PUT", "/run", `{}`},
		{"GET", "/api/v2/runtimes", ""},
		{"POST", "/api/v2/execute", `{"language":"python","version":"*","files":[{"content":"print(3)"}],"stdin":"","args":[],"run_timeout":-1}`},
		{"POST", "/api/v2/execute", `{"language":"cobol","version":"*","files":[{"content":"x"}]}`},
		{"GET", "/judge0/languages", ""},
		{"GET", "/judge0/languages/71", ""},
		{"GET", "/judge0/statuses", ""},
		{"POST", "/judge0/submissions?wait=true", `{"source_code":"print(3)","language_id":71,"stdin":null,"expected_output":"3","cpu_time_limit":"2"}`},
		{"POST", "/judge0/submissions?wait=true", `{"source_code":"print(3)","language_id":9999}`},
	} {
		req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, err := range tr.Broken(srv.URL) {
		t.Error(err)
	}

	// The checker itself: a contract it can break.
	spec, err := openAPIDocument("dev")
	if err != nil {
		t.Fatal(err)
	}
	checker, err := openapitest.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/run", strings.NewReader(`{"language":"python","code":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	answer := func(status int) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}}
	}
	if err := checker.Check(req, []byte(`{"language":"python","code":"x"}`), answer(200), []byte(`{"id":"r","status":"success"}`)); err == nil {
		t.Error("an answer without most of runResponse's fields passed the contract")
	}
	if err := checker.Check(req, []byte(`{"language":"python","code":"x"}`), answer(200), []byte(`{"id":"r","status":"finished","stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false,"exit_code":0,"time_ms":1,"run_ms":1,"queue_ms":0,"cpu_time_ms":0,"memory_peak_bytes":0,"oom_killed":false}`)); err == nil || !strings.Contains(err.Error(), "status") {
		t.Errorf("a status outside the enum passed the contract: %v", err)
	}
	if err := checker.Check(req, []byte(`{"code":"x"}`), answer(200), []byte(`{}`)); err == nil {
		t.Error("a request without language answered 200 passed the contract")
	}
}

// TestOpenAPISchemasAreObjects: no schema in the contract is a boolean
// (JSON Schema's true), which client generators such as ogen refuse.
func TestOpenAPISchemasAreObjects(t *testing.T) {
	spec, err := openAPIDocument("dev")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any, schemas bool)
	walk = func(path string, v any, schemas bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				switch {
				case schemas: // every value is a schema
					if _, ok := c.(bool); ok {
						t.Errorf("%s.%s is a boolean schema", path, k)
					}
					walk(path+"."+k, c, false)
				case k == "properties" || k == "schemas":
					walk(path+"."+k, c, true)
				case k == "items" || k == "schema" || k == "additionalProperties" && c != false:
					if _, ok := c.(bool); ok && k != "additionalProperties" {
						t.Errorf("%s.%s is a boolean schema", path, k)
					}
					walk(path+"."+k, c, false)
				default:
					walk(path+"."+k, c, false)
				}
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), c, false)
			}
		}
	}
	walk("", doc, false)
}
