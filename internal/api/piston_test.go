package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

func pistonRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v2/execute", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestPistonExecuteMapsOntoTheRunner(t *testing.T) {
	var got runner.Request
	h, _ := newTestAPI(t, func(_ context.Context, req runner.Request) (runner.Result, error) {
		got = req
		return runner.Result{Status: runner.StatusSuccess, Stdout: "3\n", ExitCode: intPtr(0), Time: 20 * time.Millisecond}, nil
	})
	w := serve(h, pistonRequest(`{"language":"py","version":"*","files":[{"name":"a.py","content":"import lib"},{"name":"lib.py","content":"print(3)"}],
		"stdin":"x","args":["1"],"run_timeout":2500,"run_memory_limit":-1,"compile_timeout":10000,"extra_field_of_a_client":true}`))
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got.Language != "python" || got.Code != "import lib" || got.Files["lib.py"] != "print(3)" || got.Input != "x" ||
		len(got.Args) != 1 || got.Limits.Timeout != 2500*time.Millisecond || got.Limits.MemoryBytes != 0 {
		t.Fatalf("runner got %+v", got)
	}
	var resp map[string]any
	json.Unmarshal(w.Body.Bytes(), &resp)
	run, _ := resp["run"].(map[string]any)
	if resp["language"] != "python" || run == nil || run["stdout"] != "3\n" || run["output"] != "3\n" || run["code"] != 0.0 ||
		run["signal"] != nil || run["wall_time"] != 20.0 || resp["compile"] != nil {
		t.Fatalf("answer %s", w.Body)
	}
}

func TestPistonErrorsAreInPistonsShape(t *testing.T) {
	h, _ := newTestAPI(t, func(_ context.Context, req runner.Request) (runner.Result, error) {
		if req.Limits.Timeout > 10*time.Second { // as the runner's default maxima
			return runner.Result{}, fmt.Errorf("%w: timeout_ms is %d; it must be between 1 and 10000", runner.ErrInvalidLimits, req.Limits.Timeout.Milliseconds())
		}
		return runner.Result{}, runner.ErrBusy
	})
	for _, tc := range []struct {
		name, body string
		status     int
		message    string
	}{
		{"an unknown runtime", `{"language":"cobol","version":"*","files":[{"content":"x"}]}`, 400, "cobol-* runtime is unknown"},
		{"no files", `{"language":"python","version":"*"}`, 400, "files is required"},
		{"not JSON", `{`, 400, "not a JSON object"},
		{"a timeout over the maximum", `{"language":"python","files":[{"content":"x"}],"run_timeout":99999999}`, 400, "timeout_ms"},
		{"code over the limit", `{"language":"python","files":[{"content":"` + strings.Repeat("x", DefaultMaxCodeBytes+1) + `"}]}`, 413, "the limit is"},
		{"busy", `{"language":"python","files":[{"content":"print(1)"}]}`, 503, "busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, pistonRequest(tc.body))
			var e struct{ Message string }
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tc.status || !strings.Contains(e.Message, tc.message) || strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}
}

func TestPistonRuntimesListOurLanguages(t *testing.T) {
	h, _ := newTestAPI(t, nil)
	w := serve(h, httptest.NewRequest(http.MethodGet, "/api/v2/runtimes", nil))
	var rts []struct {
		Language string   `json:"language"`
		Version  string   `json:"version"`
		Aliases  []string `json:"aliases"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rts); err != nil || w.Code != http.StatusOK || len(rts) != 2 || rts[0].Language != "python" || rts[1].Language != "c++" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestPistonKeysAndRateLimitsAnswerInPistonsShape(t *testing.T) {
	h, _ := newTestAPI(t, succeed, func(c *Config) { c.APIKeys, c.RateLimit = []string{key1}, 1 })
	body := `{"language":"python","version":"*","files":[{"content":"print(1)"}]}`
	for _, tc := range []struct {
		name, key string
		status    int
		message   string
	}{
		{"no key", "", 401, "a valid API key is required"},
		{"the key", key1, 200, ""},
		{"over the rate", key1, 429, "rate limit exceeded"},
	} {
		r := pistonRequest(body)
		if tc.key != "" {
			r.Header.Set("Authorization", "Bearer "+tc.key)
		}
		w := serve(h, r)
		var e struct{ Message string }
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != tc.status || !strings.Contains(e.Message, tc.message) || strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("%s: %d %s", tc.name, w.Code, w.Body)
		}
		if tc.status == 429 && w.Header().Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After")
		}
	}
	if w := serve(h, httptest.NewRequest(http.MethodGet, "/api/v2/runtimes", nil)); w.Code != 401 || !strings.Contains(w.Body.String(), `"message"`) {
		t.Fatalf("runtimes without a key: %d %s", w.Code, w.Body)
	}
}
