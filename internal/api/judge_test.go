package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

// fakeJudgeRunner is a Runner that also opens batches: each run of the
// program echoes its input; the openBatch field can replace that.
type fakeJudgeRunner struct {
	fakeRunner
	openBatch func(progs []runner.Program, lanes int) (runner.Batch, []runner.Build, error)
}

func (f *fakeJudgeRunner) OpenBatch(_ context.Context, progs []runner.Program, lanes int) (runner.Batch, []runner.Build, error) {
	if f.openBatch != nil {
		return f.openBatch(progs, lanes)
	}
	builds := make([]runner.Build, len(progs))
	for i := range builds {
		builds[i] = runner.Build{Status: runner.StatusSuccess, Time: 5 * time.Millisecond}
	}
	return echoBatch{}, builds, nil
}

// CheckLimits refuses timeouts over 10 s, as the runner's default maxima do.
func (f *fakeJudgeRunner) CheckLimits(l runner.Limits) error {
	if l.Timeout > 10*time.Second {
		return fmt.Errorf("%w: timeout_ms is %d; it must be between 1 and 10000", runner.ErrInvalidLimits, l.Timeout.Milliseconds())
	}
	return nil
}

type echoBatch struct{ noConversations }

// noConversations is a fake batch's Converse: these fakes judge no
// interactive problem.
type noConversations struct{}

func (noConversations) Converse(context.Context, int, int, int, runner.BatchRun, runner.BatchRun, int) (runner.Conversation, error) {
	return runner.Conversation{}, errors.New("a fake batch holds no conversations")
}

func (echoBatch) Lanes() int { return 1 }
func (echoBatch) Close()     {}
func (echoBatch) Run(_ context.Context, _, _ int, in runner.BatchRun) (runner.Result, error) {
	return runner.Result{Status: runner.StatusSuccess, ExitCode: intPtr(0), Stdout: in.Input,
		Time: 3 * time.Millisecond, CPUTime: 2 * time.Millisecond, MemoryPeakBytes: 1 << 20}, nil
}

func newJudgeAPI(tb testing.TB, f *fakeJudgeRunner, configure ...func(*Config)) http.Handler {
	tb.Helper()
	cfg := DefaultConfig()
	for _, c := range configure {
		c(&cfg)
	}
	if f.run == nil {
		f.run = mustNotRun(tb)
	}
	return NewHandler(f, cfg, slog.New(slog.DiscardHandler))
}

func newJudgeRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/judge", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestJudgeAnswersEachTest(t *testing.T) {
	h := newJudgeAPI(t, &fakeJudgeRunner{})
	w := serve(h, newJudgeRequest(`{"language":"cpp","code":"x","tests":[{"input":"3\n","expected_output":"3\n"},{"input":"13\n","expected_output":"12\n"}]}`))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	body := w.Body.String()
	id := body[strings.Index(body, `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	assertJSONEqual(t, w.Body.Bytes(), `{"id":"`+id+`","verdict":"wrong_answer","passed":1,"total":2,"compile_output":"","compile_ms":5,
		"tests":[
		 {"index":0,"status":"accepted","time_ms":3,"cpu_time_ms":2,"memory_peak_bytes":1048576,"exit_code":0},
		 {"index":1,"status":"wrong_answer","message":"line 1: expected \"12\", got \"13\"","stdout":"13\n","stderr":"",
		  "time_ms":3,"cpu_time_ms":2,"memory_peak_bytes":1048576,"exit_code":0}]}`)
}

func TestJudgeRefusesBadRequests(t *testing.T) {
	const code = `"language":"python","code":"print(1)"`
	tests := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"tests are required", `{` + code + `}`, 400, `"tests" is required`},
		{"an empty test list is refused", `{` + code + `,"tests":[]}`, 400, "at least one test"},
		{"more tests than the limit", `{` + code + `,"tests":[` + strings.Repeat(`{"input":"","expected_output":""},`, 3) + `{"input":"","expected_output":""}]}`, 413, "4 tests; the limit is 3"},
		{"more test data than the limit", `{` + code + `,"tests":[{"input":"` + strings.Repeat("x", 600) + `","expected_output":"` + strings.Repeat("y", 500) + `"}]}`, 413, "1100 bytes; the limit is 1024 bytes"},
		{"an expected output is required without a checker", `{` + code + `,"tests":[{"input":"1"}]}`, 400, "tests[0].expected_output is required"},
		{"an unknown field is named", `{` + code + `,"tests":[],"timeout":3}`, 400, `unknown field "timeout"`},
		{"an unknown language lists the supported ones", `{"language":"cobol","code":"x","tests":[{"expected_output":""}]}`, 400, "cpp, python"},
		{"an unknown comparison mode", `{` + code + `,"tests":[{"expected_output":""}],"compare":{"mode":"regex"}}`, 400, `compare.mode "regex"`},
		{"tolerances outside mode float", `{` + code + `,"tests":[{"expected_output":""}],"compare":{"abs_tol":0.1}}`, 400, "mode float only"},
		{"a zero tolerance", `{` + code + `,"tests":[{"expected_output":""}],"compare":{"mode":"float","rel_tol":0}}`, 400, "must be positive"},
		{"compare and checker together", `{` + code + `,"tests":[{"expected_output":""}],"compare":{"mode":"exact"},"checker":{"language":"cpp","code":"x"}}`, 400, "exclude each other"},
		{"a checker needs code", `{` + code + `,"tests":[{"expected_output":""}],"checker":{"language":"cpp"}}`, 400, `"checker.code" is required`},
		{"a checker in an unknown language", `{` + code + `,"tests":[{"expected_output":""}],"checker":{"language":"cobol","code":"x"}}`, 400, `unknown language "cobol"`},
		{"a test's timeout over the maximum names the test", `{` + code + `,"tests":[{"expected_output":"","limits":{"timeout_ms":60000}}]}`, 400, "tests[0].limits.timeout_ms is 60000"},
		{"a test's zero timeout", `{` + code + `,"tests":[{"expected_output":"","limits":{"timeout_ms":0}}]}`, 400, "tests[0].limits.timeout_ms must be a positive integer"},
		{"a request limit over the maximum is checked by the runner", `{` + code + `,"tests":[{"expected_output":""}],"limits":{"memory_mb":-1}}`, 400, "limits.memory_mb"},
		{"a body over the judge limit", `{` + code + `,"tests":[{"input":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "limit is 4096 bytes"},
		{"malformed JSON", `{"tests":[`, 400, "malformed JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newJudgeAPI(t, &fakeJudgeRunner{openBatch: func([]runner.Program, int) (runner.Batch, []runner.Build, error) {
				t.Error("a batch was opened for a request validation must refuse")
				return nil, nil, runner.ErrUnavailable
			}}, func(c *Config) {
				c.MaxTests, c.MaxTestDataBytes, c.MaxJudgeBodyBytes, c.MaxCodeBytes = 3, 1024, 4096, 1000
			})
			w := serve(h, newJudgeRequest(tc.body))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if msg := errorMessage(t, w); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q, want it to contain %q", msg, tc.msg)
			}
		})
	}
}

func TestJudgeErrors(t *testing.T) {
	t.Run("containerd unavailable is a 503 with Retry-After", func(t *testing.T) {
		h := newJudgeAPI(t, &fakeJudgeRunner{openBatch: func([]runner.Program, int) (runner.Batch, []runner.Build, error) {
			return nil, nil, fmt.Errorf("create task: %w", runner.ErrUnavailable)
		}})
		w := serve(h, newJudgeRequest(`{"language":"python","code":"x","tests":[{"expected_output":""}]}`))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
		if msg := errorMessage(t, w); strings.Contains(msg, "create task") {
			t.Errorf("internal detail in the body: %q", msg)
		}
	})
	t.Run("a body that is not JSON is a 415", func(t *testing.T) {
		h := newJudgeAPI(t, &fakeJudgeRunner{})
		r := newJudgeRequest(`{}`)
		r.Header.Set("Content-Type", "text/plain")
		if w := serve(h, r); w.Code != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d", w.Code)
		}
	})
	t.Run("a runner that cannot judge has no /judge", func(t *testing.T) {
		h, _ := newTestAPI(t, mustNotRun(t))
		if w := serve(h, newJudgeRequest(`{}`)); w.Code != http.StatusNotFound {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestJudgeVerdictsAreCounted(t *testing.T) {
	h := newJudgeAPI(t, &fakeJudgeRunner{})
	serve(h, newJudgeRequest(`{"language":"python","code":"x","tests":[{"input":"1","expected_output":"1"}]}`))
	w := serve(h, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	for _, want := range []string{`codeexec_judge_verdicts_total{language="python",verdict="accepted"} 1`, `codeexec_judge_tests_total{language="python",status="accepted"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
