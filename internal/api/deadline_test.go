package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/runner"
)

// slowBatch runs each test for d, or until its context ends.
type slowBatch struct {
	noConversations
	d time.Duration
}

func (slowBatch) Lanes() int { return 1 }
func (slowBatch) Close()     {}

func (b slowBatch) Run(ctx context.Context, _, _ int, in runner.BatchRun) (runner.Result, error) {
	select {
	case <-time.After(b.d):
	case <-ctx.Done():
		return runner.Result{}, ctx.Err()
	}
	return runner.Result{Status: runner.StatusSuccess, ExitCode: intPtr(0), Stdout: in.Input}, nil
}

// slowJudgeRunner opens slowBatches.
func slowJudgeRunner(tb testing.TB, d time.Duration) *fakeJudgeRunner {
	return &fakeJudgeRunner{fakeRunner: fakeRunner{run: mustNotRun(tb)},
		openBatch: func(progs []runner.Program, _ int) (runner.Batch, []runner.Build, error) {
			builds := make([]runner.Build, len(progs))
			for i := range builds {
				builds[i] = runner.Build{Status: runner.StatusSuccess}
			}
			return slowBatch{d: d}, builds, nil
		}}
}

// startRealServer serves h with an http.Server whose read and write
// timeouts are those of `codeexec serve` scaled down: readTimeout, and
// cfg.AnswerMargin for writes.
func startRealServer(t *testing.T, h http.Handler, readTimeout, writeTimeout time.Duration) string {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.ReadTimeout, s.Config.WriteTimeout = readTimeout, writeTimeout
	s.Start()
	t.Cleanup(s.Close)
	return s.URL
}

func postJudgeBody(t *testing.T, url, body string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/judge", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer cut: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

func echoTests(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(`{"input":"a","expected_output":"a"},`, n), ",") + "]"
}

func TestJudgeLongerThanTheServersTimeoutsIsAnswered(t *testing.T) {
	// Each test takes 150 ms on one lane: 600 ms in all, three times the
	// server's read and write timeouts, which alone would cut the answer
	// or cancel the judgement.
	const margin = 200 * time.Millisecond
	h := newJudgeAPI(t, slowJudgeRunner(t, 150*time.Millisecond), func(c *Config) { c.AnswerMargin = margin })
	url := startRealServer(t, h, margin, margin)
	code, _, body := postJudgeBody(t, url, `{"language":"python","code":"x","tests":`+echoTests(4)+`}`)
	var got judgeResponse
	if err := json.Unmarshal(body, &got); err != nil || code != http.StatusOK {
		t.Fatalf("status %d, body %s", code, body)
	}
	if got.Verdict != judge.StatusAccepted || got.Passed != 4 || len(got.Tests) != 4 {
		t.Errorf("got %+v, want all 4 tests accepted", got)
	}
}

func TestJudgeOverTheCeilingIsRefusedBeforeItRuns(t *testing.T) {
	opened := 0
	h := newJudgeAPI(t, &fakeJudgeRunner{openBatch: func([]runner.Program, int) (runner.Batch, []runner.Build, error) {
		opened++
		return nil, nil, runner.ErrUnavailable
	}}, func(c *Config) { c.MaxJudgeDuration = time.Minute; c.JudgeLanes = 2 })
	for _, tc := range []struct {
		name  string
		tests string
		ok    bool
	}{
		// Queue 10 s + build 10 s + ceil(n/2) × (10 s + 1 s).
		{"3 tests of 10 s on 2 lanes: 42 s", echoTests(3), true},
		{"7 tests of 10 s on 2 lanes: 64 s", echoTests(7), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"language":"python","code":"x","limits":{"timeout_ms":10000},"tests":` + tc.tests + `}`
			if tc.ok {
				// Under the ceiling it runs: the fake refuses to open, 503.
				if w := serve(h, newJudgeRequest(body)); w.Code != http.StatusServiceUnavailable || opened != 1 {
					t.Errorf("status %d after %d opens, want the 503 of the one batch that could not open: %s", w.Code, opened, w.Body)
				}
				return
			}
			w := serve(h, newJudgeRequest(body))
			if opened != 1 {
				t.Errorf("%d batches opened, want only the one under the ceiling", opened)
			}
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
			}
			if msg := errorMessage(t, w); !strings.Contains(msg, "max_judge_duration 1m0s") || !strings.Contains(msg, "up to 1m4s") {
				t.Errorf("message %q, want the worst case and the limit named", msg)
			}
		})
	}
}

func TestJudgePastItsWorstCaseIsCutWith503(t *testing.T) {
	// A lane that never ends its test (an overloaded machine): the
	// judgement is cut at its worst case, 50 ms + judge.TestOverhead after
	// the batch opened, and answered while the client still waits.
	h := newJudgeAPI(t, slowJudgeRunner(t, time.Hour), func(c *Config) { c.AnswerMargin = 200 * time.Millisecond })
	url := startRealServer(t, h, time.Second, 200*time.Millisecond)
	start := time.Now()
	code, hdr, body := postJudgeBody(t, url, `{"language":"python","code":"x","tests":[{"input":"a","expected_output":"a","limits":{"timeout_ms":50}}]}`)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q, body %s", code, hdr.Get("Retry-After"), body)
	}
	if !strings.Contains(string(body), "worst case") {
		t.Errorf("body %s, want it to say the judgement passed its worst case", body)
	}
	if took := time.Since(start); took < judge.TestOverhead {
		t.Errorf("answered after %s, before the worst case %s", took, judge.TestOverhead)
	}
}
