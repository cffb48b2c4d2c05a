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

	"github.com/codeexec/codeexec/internal/callback"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// judge0Answer decodes a Judge0 answer.
func judge0Answer(tb testing.TB, w *httptest.ResponseRecorder, status int) map[string]any {
	tb.Helper()
	if w.Code != status {
		tb.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	var v map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		tb.Fatalf("%s: %v", w.Body, err)
	}
	return v
}

func TestJudge0WaitRunsAtOnce(t *testing.T) {
	var got runner.Request
	h, _ := newTestAPI(t, func(_ context.Context, req runner.Request) (runner.Result, error) {
		got = req
		return runner.Result{Status: runner.StatusSuccess, Stdout: "hello, Judge0\n", ExitCode: intPtr(0),
			CPUTime: time.Millisecond, Time: 3 * time.Millisecond, MemoryPeakBytes: 380 << 10}, nil
	})
	// Judge0's documented example of ?wait=true, with a language of ours.
	w := serve(h, post("/judge0/submissions?wait=true", `{"source_code": "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}",
		"language_id": "71", "stdin": "Judge0", "expected_output": "hello, Judge0"}`, ""))
	v := judge0Answer(t, w, http.StatusCreated)
	want := map[string]any{"stdout": "hello, Judge0\n", "time": "0.001", "memory": 380.0, "stderr": nil,
		"compile_output": nil, "message": nil, "status": map[string]any{"id": 3.0, "description": "Accepted"}}
	for k, x := range want {
		if !jsonEqual(v[k], x) {
			t.Errorf("%s is %v, want %v", k, v[k], x)
		}
	}
	if tok, _ := v["token"].(string); len(tok) != 36 || len(v) != 8 {
		t.Errorf("answer %v", v)
	}
	if got.Language != "python" || got.Input != "Judge0" || got.Limits != (runner.Limits{}) {
		t.Errorf("run %+v", got)
	}
	// fields, base64 both ways.
	w = serve(h, post("/judge0/submissions?wait=true&base64_encoded=true&fields=stdout,status_id,language_id,language", `{"source_code":"cHJpbnQoMSk=","language_id":71}`, ""))
	v = judge0Answer(t, w, http.StatusCreated)
	if v["stdout"] != "aGVsbG8sIEp1ZGdlMAo=\n" || v["status_id"] != 3.0 || v["language_id"] != 71.0 || len(v) != 4 || got.Code != "print(1)" {
		t.Errorf("answer %v, code %q", v, got.Code)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestJudge0Errors(t *testing.T) {
	h, _ := newTestAPI(t, func(_ context.Context, req runner.Request) (runner.Result, error) {
		return runner.Result{Status: runner.StatusSuccess, Stdout: "\xfe", ExitCode: intPtr(0)}, nil
	}, func(c *Config) { c.MaxCodeBytes = 100 })
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"no language", "/judge0/submissions?wait=true", `{"source_code":"x"}`, 422, `{"language_id":["can't be blank"]}`},
		{"an unknown one", "/judge0/submissions?wait=true", `{"source_code":"x","language_id":150000}`, 422, `{"language_id":["language with id 150000 doesn't exist"]}`},
		{"above the maximum", "/judge0/submissions?wait=true", `{"source_code":"x","language_id":71,"wall_time_limit":150}`, 422, `{"wall_time_limit":["must be less than or equal to 10.0"]}`},
		{"bad fields", "/judge0/submissions?wait=true&fields=stdout,nope", `{"source_code":"x","language_id":71}`, 400, `{"error":"invalid fields: [nope]"}`},
		{"too long", "/judge0/submissions?wait=true", `{"source_code":"` + strings.Repeat("x", 101) + `","language_id":71}`, 413, `{"error":"source_code is 101 bytes; the limit is 100"}`},
		{"not JSON", "/judge0/submissions?wait=true", `{`, 400, ""},
		{"not UTF-8 out", "/judge0/submissions?wait=true", `{"source_code":"x","language_id":71}`, 201, ""},
		{"no queue", "/judge0/submissions", `{"source_code":"x","language_id":71}`, 400, ""},
		{"a callback without the queue", "/judge0/submissions", `{"source_code":"x","language_id":71,"callback_url":"http://example.com/"}`, 422, `{"callback_url":["setting callback is not allowed"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, post(tc.path, tc.body, ""))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.want != "" {
				assertJSONEqual(t, w.Body.Bytes(), tc.want)
			}
			if tc.status == 201 {
				v := judge0Answer(t, w, 201)
				if v["error"] != "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter" || v["token"] == nil {
					t.Fatalf("%v", v)
				}
			}
		})
	}
	for _, path := range []string{"/judge0/languages", "/judge0/statuses", "/judge0/languages/71"} {
		if w := serve(h, get(path, "")); w.Code != http.StatusOK {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	if w := serve(h, get("/judge0/languages/62", "")); w.Code != http.StatusNotFound {
		t.Errorf("a language not served: %d", w.Code)
	}
}

func TestJudge0KeysAndXAuthToken(t *testing.T) {
	h, _ := newTestAPI(t, succeed, func(c *Config) { c.APIKeys = []string{key1} })
	r := get("/judge0/statuses", "")
	if w := serve(h, r); w.Code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", w.Code)
	}
	r.Header.Set("X-Auth-Token", "nope")
	if w := serve(h, r); w.Code != http.StatusUnauthorized {
		t.Fatalf("a wrong key: %d", w.Code)
	}
	r.Header.Set("X-Auth-Token", key1)
	if w := serve(h, r); w.Code != http.StatusOK {
		t.Fatalf("X-Auth-Token: %d %s", w.Code, w.Body)
	}
	if w := serve(h, get("/judge0/statuses", key1)); w.Code != http.StatusOK {
		t.Fatalf("Bearer: %d", w.Code)
	}
	// X-Auth-Token is Judge0's: it opens nothing else.
	r = get("/runtimes", "")
	r.Header.Set("X-Auth-Token", key1)
	if w := serve(h, r); w.Code != http.StatusUnauthorized {
		t.Fatalf("/runtimes with X-Auth-Token: %d", w.Code)
	}
}

// judge0Final polls GET /judge0/submissions/{token} until it ran.
func judge0Final(tb testing.TB, h http.Handler, token, query string) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := judge0Answer(tb, serve(h, get("/judge0/submissions/"+token+"?fields=*"+query, "")), http.StatusOK)
		if id := v["status"].(map[string]any)["id"]; id != 1.0 && id != 2.0 {
			return v
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s never ran: %v", token, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJudge0SubmissionsRideOnTheQueue(t *testing.T) {
	release := make(chan struct{})
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: func(ctx context.Context, req runner.Request) (runner.Result, error) {
		<-release
		if req.Code == "segv" {
			return runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGSEGV", Time: time.Millisecond}, nil
		}
		return runner.Result{Status: runner.StatusSuccess, Stdout: req.Input, ExitCode: intPtr(0)}, nil
	}}}, submissions.Config{})
	v := judge0Answer(t, serve(h, post("/judge0/submissions", `{"source_code":"print(input())","language_id":71,"stdin":"4","expected_output":"5","cpu_time_limit":"1.5"}`, "")), http.StatusCreated)
	token, _ := v["token"].(string)
	if len(v) != 1 || token == "" {
		t.Fatalf("%v", v)
	}
	// Queued or running: the status says so, and the limits are there.
	v = judge0Answer(t, serve(h, get("/judge0/submissions/"+token+"?fields=status,language_id,cpu_time_limit,stdout", "")), http.StatusOK)
	if id := v["status"].(map[string]any)["id"]; (id != 1.0 && id != 2.0) || v["language_id"] != 71.0 || v["cpu_time_limit"] != "1.5" || v["stdout"] != nil {
		t.Fatalf("queued: %v", v)
	}
	close(release)
	v = judge0Final(t, h, token, "")
	if v["status_id"] != 4.0 || v["stdout"] != "4" || v["stdin"] != "4" || v["source_code"] != "print(input())" || v["finished_at"] == nil || v["token"] != token {
		t.Fatalf("final: %v", v)
	}
	// A batch: tokens and a refusal, in order; then all of them by token.
	w := serve(h, post("/judge0/submissions/batch?base64_encoded=true", `{"submissions":[{"source_code":"c2Vndg==","language_id":71},{"language_id":71},{"source_code":"eA==","language_id":71,"stdin":"eQ=="}]}`, ""))
	var batch []map[string]any
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &batch) != nil || len(batch) != 3 || batch[0]["token"] == nil ||
		!jsonEqual(batch[1], map[string]any{"source_code": []string{"can't be blank"}}) || batch[2]["token"] == nil {
		t.Fatalf("batch: %d %s", w.Code, w.Body)
	}
	for _, i := range []int{0, 2} {
		judge0Final(t, h, batch[i]["token"].(string), "")
	}
	tokens := batch[0]["token"].(string) + ",nope," + batch[2]["token"].(string)
	w = serve(h, get("/judge0/submissions/batch?fields=status_id,stdout,message,exit_signal&tokens="+tokens, ""))
	var got struct {
		Submissions []map[string]any `json:"submissions"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &got) != nil || len(got.Submissions) != 3 || got.Submissions[1] != nil ||
		got.Submissions[0]["status_id"] != 7.0 || got.Submissions[0]["message"] != "Caught fatal signal 11" || got.Submissions[0]["exit_signal"] != 11.0 ||
		got.Submissions[2]["stdout"] != "y" {
		t.Fatalf("batch get: %d %s", w.Code, w.Body)
	}
	// A native submission is not a Judge0 one, nor the other way round
	// hidden from its owner: /submissions shows it with its kind.
	if w := serve(h, get("/judge0/submissions/"+accepted(t, serve(h, post("/submissions", `{"kind":"run","language":"python","code":"x"}`, ""))), "")); w.Code != http.StatusNotFound {
		t.Fatalf("a native one through Judge0's route: %d", w.Code)
	}
	if v := finished(t, h, token, ""); string(v["kind"]) != `"judge0"` {
		t.Fatalf("%v", v)
	}
}

func TestJudge0CallbacksArePUTs(t *testing.T) {
	type call struct {
		method, sig string
		body        []byte
	}
	calls := make(chan call, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- call{r.Method, r.Header.Get(callback.Header), b}
	}))
	defer receiver.Close()
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: func(ctx context.Context, req runner.Request) (runner.Result, error) {
		return runner.Result{Status: runner.StatusSuccess, Stdout: "hi\n", ExitCode: intPtr(0)}, nil
	}}}, submissions.Config{CallbackBackoff: 20 * time.Millisecond},
		func(c *Config) { c.Callbacks, c.CallbackAllow = true, []string{"127.0.0.0/8"} })
	// wait=true with a callback: the submission is queued and waited for.
	v := judge0Answer(t, serve(h, post("/judge0/submissions?wait=true", `{"source_code":"x","language_id":71,"callback_url":"`+receiver.URL+`/cb"}`, "")), http.StatusCreated)
	if v["stdout"] != "hi\n" {
		t.Fatalf("%v", v)
	}
	select {
	case c := <-calls:
		var sent map[string]any
		if c.method != http.MethodPut || json.Unmarshal(c.body, &sent) != nil || sent["stdout"] != "aGkK\n" || sent["token"] != v["token"] || len(sent) != 8 {
			t.Fatalf("callback %s %s", c.method, c.body)
		}
		if err := callback.Verify([]byte(testSecret), c.sig, c.body, time.Minute, time.Now()); err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no callback")
	}
	// An address the service may not call is the field's error.
	w := serve(h, post("/judge0/submissions", `{"source_code":"x","language_id":71,"callback_url":"http://10.0.0.1/cb"}`, ""))
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `"callback_url":[`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

const key1 = "judge0-client-key-0001"
