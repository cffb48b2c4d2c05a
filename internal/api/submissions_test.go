package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/callback"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// newSubmissionsAPI is the API with a real queue (an embedded NATS server
// in a temporary directory) in front of f, and the queue's workers
// running what it hands out through the API's Execute.
func newSubmissionsAPI(tb testing.TB, f *fakeJudgeRunner, qcfg submissions.Config, configure ...func(*Config)) (http.Handler, *submissions.Queue) {
	tb.Helper()
	cfg := DefaultConfig()
	for _, c := range configure {
		c(&cfg)
	}
	if f.run == nil {
		f.run = succeed
	}
	qcfg.Dir, qcfg.Node = tb.TempDir(), "test"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := submissions.Open(ctx, qcfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	svc := New(f, cfg, slog.New(slog.DiscardHandler), q)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Work(wctx, 2, svc.Execute)
	}()
	delivered := make(chan struct{})
	if cfg.Callbacks {
		allow, _ := callback.ParseAllow(cfg.CallbackAllow)
		sender := callback.NewSender([]byte(testSecret), allow, 5*time.Second)
		go func() {
			defer close(delivered)
			_ = q.Deliver(wctx, 2, func(ctx context.Context, rec submissions.Record) (int, error) {
				method, body := svc.Callback(rec)
				return sender.Send(ctx, method, rec.CallbackURL, rec.ID, body)
			})
		}()
	} else {
		close(delivered)
	}
	tb.Cleanup(func() {
		stop()
		q.Abort()
		<-done
		<-delivered
		q.Close()
	})
	return svc.Handler, q
}

func post(path, body string, key string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	return r
}

func get(path, key string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	return r
}

// accepted checks a 202 and returns the submission's id.
func accepted(tb testing.TB, w *httptest.ResponseRecorder) string {
	tb.Helper()
	if w.Code != http.StatusAccepted {
		tb.Fatalf("status %d, want 202: %s", w.Code, w.Body)
	}
	var v struct {
		ID        string    `json:"id"`
		Status    string    `json:"status"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v.ID == "" || v.Status != "queued" || v.CreatedAt.IsZero() {
		tb.Fatalf("202 body %s (%v)", w.Body, err)
	}
	return v.ID
}

// finished polls GET /submissions/{id} until the submission is final.
func finished(tb testing.TB, h http.Handler, id, key string) map[string]json.RawMessage {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := serve(h, get("/submissions/"+id, key))
		if w.Code != http.StatusOK {
			tb.Fatalf("GET %s: %d %s", id, w.Code, w.Body)
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			tb.Fatal(err)
		}
		switch string(v["status"]) {
		case `"done"`, `"failed"`, `"cancelled"`:
			return v
		}
		if time.Now().After(deadline) {
			tb.Fatalf("submission %s not final: %s", id, w.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestASubmissionsResultIsWhatRunAnswers(t *testing.T) {
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{}, submissions.Config{})
	const run = `{"language":"python","code":"print(1)","input":"x"}`
	id := accepted(t, serve(h, post("/submissions", `{"kind":"run","metadata":{"user": 7},`+run[1:], "")))
	v := finished(t, h, id, "")
	sync := serve(h, post("/run", run, ""))
	if sync.Code != http.StatusOK {
		t.Fatalf("/run: %d %s", sync.Code, sync.Body)
	}
	assertJSONEqual(t, v["result"], sync.Body.String())
	if string(v["status"]) != `"done"` || string(v["kind"]) != `"run"` || string(v["attempts"]) != "1" || string(v["metadata"]) != `{"user":7}` {
		t.Fatalf("record %v", v)
	}
	for _, f := range []string{"created_at", "started_at", "finished_at"} {
		if v[f] == nil {
			t.Errorf("no %s in %v", f, v)
		}
	}
	if v["owner"] != nil || v["node"] != nil {
		t.Errorf("the view shows internals: %v", v)
	}
}

func TestAJudgeSubmission(t *testing.T) {
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{}, submissions.Config{})
	id := accepted(t, serve(h, post("/submissions", `{"kind":"judge","language":"cpp","code":"x","tests":[{"input":"3\n","expected_output":"3\n"},{"input":"1\n","expected_output":"2\n"}]}`, "")))
	v := finished(t, h, id, "")
	var res judgeResponse
	if err := json.Unmarshal(v["result"], &res); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != "wrong_answer" || res.Passed != 1 || res.Total != 2 || len(res.Tests) != 2 || res.ID == "" {
		t.Fatalf("result %s", v["result"])
	}
}

func TestWaitAnswersTheFinishedSubmission(t *testing.T) {
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{}, submissions.Config{})
	w := serve(h, post("/submissions?wait=20", `{"kind":"run","language":"python","code":"print(1)"}`, ""))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"done"`) || !strings.Contains(w.Body.String(), `"result":{`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	for _, bad := range []string{"x", "-1", "61", "1.5"} {
		w := serve(h, post("/submissions?wait="+bad, `{"kind":"run","language":"python","code":"print(1)"}`, ""))
		if w.Code != http.StatusBadRequest || !strings.Contains(errorMessage(t, w), "wait must be a whole number of seconds from 0 to 60") {
			t.Errorf("wait=%s: %d %s", bad, w.Code, w.Body)
		}
	}
}

func TestWaitGivesUpWithTheQueuedAnswer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: func(ctx context.Context, req runner.Request) (runner.Result, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return succeed(ctx, req)
	}}}, submissions.Config{})
	start := time.Now()
	w := serve(h, post("/submissions?wait=1", `{"kind":"run","language":"python","code":"print(1)"}`, ""))
	accepted(t, w)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("answered after %s, before the wait", d)
	}
	// It is still in the stream, running, a second old at least.
	m := serve(h, get("/metrics", "")).Body.String()
	if !strings.Contains(m, "codeexec_submissions_waiting 1\n") || strings.Contains(m, "codeexec_submissions_oldest_age_seconds 0\n") {
		t.Errorf("/metrics:\n%s", m)
	}
}

func TestSubmissionsRefuseBadInput(t *testing.T) {
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: mustNotRun(t)}}, submissions.Config{})
	for _, c := range []struct{ body, want string }{
		{`{"language":"python","code":"x"}`, `"kind" is required`},
		{`{"kind":"build","language":"python","code":"x"}`, `"kind" must be "run" or "judge", got "build"`},
		{`{"kind":3,"language":"python","code":"x"}`, `"kind" must be "run" or "judge", got 3`},
		{`{"kind":"run","metadata":[1],"language":"python","code":"x"}`, `"metadata" must be a JSON object`},
		{`{"kind":"run","metadata":"x","language":"python","code":"x"}`, `"metadata" must be a JSON object`},
		{`{"kind":"run","language":"python"}`, `"code" is required`},
		{`{"kind":"run","language":"cobol","code":"x"}`, `unknown language "cobol"`},
		{`{"kind":"run","language":"python","code":"x","tests":[]}`, `unknown field "tests"; the fields are "language", "code", "input", "limits", "kind", "metadata" and "callback_url"`},
		{`{"kind":"judge","language":"python","code":"x"}`, `"tests" is required`},
		{`{"kind":"run","language":"python","code":"x","limits":{"timeout_ms":-1}}`, `limits.timeout_ms`},
		{`[]`, `request body must be a JSON object`},
		{`null`, `request body must be a JSON object, got null`},
	} {
		w := serve(h, post("/submissions", c.body, ""))
		if w.Code != http.StatusBadRequest || !strings.Contains(errorMessage(t, w), c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", c.body, w.Code, w.Body, c.want)
		}
	}
	big := `{"kind":"run","metadata":{"x":"` + strings.Repeat("a", MaxMetadataBytes) + `"},"language":"python","code":"x"}`
	if w := serve(h, post("/submissions", big, "")); w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(errorMessage(t, w), "metadata is") {
		t.Errorf("large metadata: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"/submissions/00000000-0000-0000-0000-000000000000", "/submissions/nonsense"} {
		if w := serve(h, get(path, "")); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Body)
		}
		del := httptest.NewRequest(http.MethodDelete, path, nil)
		if w := serve(h, del); w.Code != http.StatusNotFound {
			t.Errorf("DELETE %s: %d %s", path, w.Code, w.Body)
		}
	}
	if w := serve(h, get("/submissions", "")); w.Code != http.StatusBadRequest {
		t.Errorf("GET /submissions without ids: %d %s", w.Code, w.Body)
	}
	if w := serve(h, get("/submissions?ids="+strings.Repeat("a,", 25)+"a", "")); w.Code != http.StatusBadRequest {
		t.Errorf("GET /submissions with 26 ids: %d %s", w.Code, w.Body)
	}
}

func TestBatchAnswersEachSubmissionInOrder(t *testing.T) {
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{}, submissions.Config{})
	w := serve(h, post("/submissions/batch", `{"submissions":[
		{"kind":"run","language":"python","code":"print(1)"},
		{"kind":"run","language":"python"},
		{"kind":"judge","language":"cpp","code":"x","tests":[{"input":"1","expected_output":"1"}]}]}`, ""))
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var out struct {
		Submissions []struct {
			ID     string `json:"id"`
			Status any    `json:"status"`
			Error  string `json:"error"`
			Code   int    `json:"status_code"`
		} `json:"submissions"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Submissions) != 3 {
		t.Fatalf("%s (%v)", w.Body, err)
	}
	s := out.Submissions
	if s[0].ID == "" || s[2].ID == "" || s[1].ID != "" || s[1].Code != 400 || !strings.Contains(s[1].Error, `submissions[1]: "code" is required`) {
		t.Fatalf("%s", w.Body)
	}
	w = serve(h, get("/submissions?ids="+s[0].ID+",00000000-0000-0000-0000-000000000000,"+s[2].ID, ""))
	var many struct {
		Submissions []*struct {
			ID string `json:"id"`
		} `json:"submissions"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &many); err != nil || len(many.Submissions) != 3 ||
		many.Submissions[0].ID != s[0].ID || many.Submissions[1] != nil || many.Submissions[2].ID != s[2].ID {
		t.Fatalf("GET ?ids: %d %s", w.Code, w.Body)
	}
	finished(t, h, s[0].ID, "")
	finished(t, h, s[2].ID, "")

	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"submissions":[]}`, 400},
		{`{}`, 400},
		{`{"submissions":[` + strings.Repeat(`{"kind":"run","language":"python","code":"x"},`, 20) + `{"kind":"run","language":"python","code":"x"}]}`, 413},
	} {
		if w := serve(h, post("/submissions/batch", c.body, "")); w.Code != c.status {
			t.Errorf("%.60s: %d %s, want %d", c.body, w.Code, w.Body, c.status)
		}
	}
}

func TestCancel(t *testing.T) {
	started := make(chan struct{}, 1)
	var stopped atomic.Bool
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: func(ctx context.Context, req runner.Request) (runner.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		stopped.Store(true)
		return runner.Result{}, ctx.Err()
	}}}, submissions.Config{})
	id := accepted(t, serve(h, post("/submissions", `{"kind":"run","language":"python","code":"x"}`, "")))
	<-started
	del := func() *httptest.ResponseRecorder {
		return serve(h, httptest.NewRequest(http.MethodDelete, "/submissions/"+id, nil))
	}
	if w := del(); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"cancelled"`) {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	v := finished(t, h, id, "")
	if string(v["status"]) != `"cancelled"` {
		t.Fatalf("%v", v)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !stopped.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the running submission was not stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w := del(); w.Code != http.StatusConflict || !strings.Contains(errorMessage(t, w), "has already finished (cancelled)") {
		t.Fatalf("DELETE again: %d %s", w.Code, w.Body)
	}
}

func TestFailedAndRetriedSubmissions(t *testing.T) {
	var calls atomic.Int32
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: func(ctx context.Context, req runner.Request) (runner.Result, error) {
		switch {
		case req.Code == "crash":
			return runner.Result{}, context.DeadlineExceeded // anything unknown: a 500
		case calls.Add(1) == 1:
			return runner.Result{}, runner.ErrBusy
		}
		return succeed(ctx, req)
	}}}, submissions.Config{})
	v := finished(t, h, accepted(t, serve(h, post("/submissions", `{"kind":"run","language":"python","code":"crash"}`, ""))), "")
	if string(v["status"]) != `"failed"` || v["result"] != nil {
		t.Fatalf("%v", v)
	}
	assertJSONEqual(t, v["error"], `{"status_code":500,"error":"internal error"}`)
	v = finished(t, h, accepted(t, serve(h, post("/submissions", `{"kind":"run","language":"python","code":"x"}`, ""))), "")
	if string(v["status"]) != `"done"` || string(v["attempts"]) != "1" || calls.Load() != 2 {
		t.Fatalf("busy once, then: %v after %d calls", v, calls.Load())
	}
}

func TestAKeySeesOnlyItsOwnSubmissions(t *testing.T) {
	const alice, bob = "alice-key-0123456789", "bob-key-0123456789ab"
	release := make(chan struct{})
	defer close(release)
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: func(ctx context.Context, req runner.Request) (runner.Result, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return succeed(ctx, req)
	}}}, submissions.Config{MaxQueuedPerOwner: 3}, func(c *Config) { c.APIKeys = []string{alice, bob} })
	body := `{"kind":"run","language":"python","code":"x"}`
	if w := serve(h, post("/submissions", body, "")); w.Code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", w.Code)
	}
	id := accepted(t, serve(h, post("/submissions", body, alice)))
	if w := serve(h, get("/submissions/"+id, alice)); w.Code != http.StatusOK {
		t.Fatalf("alice reads hers: %d %s", w.Code, w.Body)
	}
	if w := serve(h, get("/submissions/"+id, bob)); w.Code != http.StatusNotFound {
		t.Fatalf("bob reads alice's: %d %s", w.Code, w.Body)
	}
	if w := serve(h, get("/submissions?ids="+id, bob)); !strings.Contains(w.Body.String(), `[null]`) {
		t.Fatalf("bob lists alice's: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest(http.MethodDelete, "/submissions/"+id, nil)
	r.Header.Set("Authorization", "Bearer "+bob)
	if w := serve(h, r); w.Code != http.StatusNotFound {
		t.Fatalf("bob cancels alice's: %d %s", w.Code, w.Body)
	}
	for range 2 {
		accepted(t, serve(h, post("/submissions", body, alice)))
	}
	w := serve(h, post("/submissions", body, alice))
	if w.Code != http.StatusTooManyRequests || !strings.Contains(errorMessage(t, w), "the limit is 3") {
		t.Fatalf("alice's fourth: %d %s", w.Code, w.Body)
	}
	accepted(t, serve(h, post("/submissions", body, bob)))
}

const testSecret = "callback-secret-for-tests"

func TestCallbacks(t *testing.T) {
	type got struct {
		body []byte
		sig  string
	}
	calls := make(chan got, 10)
	var n atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- got{b, r.Header.Get(callback.Header)}
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadGateway) // refuses the first two
		}
	}))
	defer receiver.Close()
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{}, submissions.Config{CallbackBackoff: 20 * time.Millisecond},
		func(c *Config) { c.Callbacks, c.CallbackAllow = true, []string{"127.0.0.0/8"} })
	id := accepted(t, serve(h, post("/submissions", `{"kind":"run","language":"python","code":"print(1)","callback_url":"`+receiver.URL+`/hook"}`, "")))
	var last got
	for range 3 {
		select {
		case last = <-calls:
		case <-time.After(30 * time.Second):
			t.Fatal("fewer than three callback attempts")
		}
		if err := callback.Verify([]byte(testSecret), last.sig, last.body, time.Minute, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var sent map[string]json.RawMessage
	if err := json.Unmarshal(last.body, &sent); err != nil || string(sent["status"]) != `"done"` || sent["result"] == nil ||
		string(sent["callback_url"]) != `"`+receiver.URL+`/hook"` {
		t.Fatalf("callback body %s", last.body)
	}
	// The record says how the delivery went.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := serve(h, get("/submissions/"+id, ""))
		var v struct {
			Callback *submissions.CallbackState `json:"callback"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &v)
		if cb := v.Callback; cb != nil && cb.DeliveredAt != nil {
			if cb.Attempts != 3 || cb.LastStatus != 200 {
				t.Fatalf("callback state %+v", cb)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never delivered: %s", w.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := serve(h, get("/metrics", "")).Body.String()
	for _, want := range []string{
		`codeexec_callback_attempts_total{result="delivered"} 1`,
		`codeexec_callback_attempts_total{result="failed"} 2`,
		"codeexec_submission_deliveries_total 1",
		"codeexec_submission_redeliveries_total 0",
		"codeexec_submissions_waiting 0",
		"codeexec_submissions_oldest_age_seconds 0",
		"codeexec_submissions_queue_up 1",
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestCallbackURLsAreChecked(t *testing.T) {
	body := func(u string) string {
		return `{"kind":"run","language":"python","code":"print(1)","callback_url":` + u + `}`
	}
	off, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: mustNotRun(t)}}, submissions.Config{})
	if w := serve(off, post("/submissions", body(`"https://example.org/hook"`), "")); w.Code != http.StatusBadRequest || !strings.Contains(errorMessage(t, w), "--callback-secret") {
		t.Errorf("without a secret: %d %s", w.Code, w.Body)
	}
	on, _ := newSubmissionsAPI(t, &fakeJudgeRunner{fakeRunner: fakeRunner{run: mustNotRun(t)}}, submissions.Config{},
		func(c *Config) { c.Callbacks = true })
	for u, want := range map[string]string{
		`"ftp://example.org/x"`:           "http or https",
		`"http://127.0.0.1:8080/"`:        "internal address",
		`"http://169.254.169.254/latest"`: "internal address",
		`"http://localhost/"`:             "localhost",
		`3`:                               `"callback_url" must be a string`,
	} {
		if w := serve(on, post("/submissions", body(u), "")); w.Code != http.StatusBadRequest || !strings.Contains(errorMessage(t, w), want) {
			t.Errorf("%s: %d %s, want 400 with %q", u, w.Code, w.Body, want)
		}
	}
}

func TestAQueueThatDoesNotAnswerIsA503(t *testing.T) {
	h, q := newSubmissionsAPI(t, &fakeJudgeRunner{}, submissions.Config{})
	id := accepted(t, serve(h, post("/submissions", `{"kind":"run","language":"python","code":"print(1)"}`, "")))
	q.Close() // NATS gone, as a cluster without quorum
	for _, r := range []*http.Request{
		post("/submissions", `{"kind":"run","language":"python","code":"print(1)"}`, ""),
		get("/submissions/"+id, ""),
		httptest.NewRequest(http.MethodDelete, "/submissions/"+id, nil),
	} {
		w := serve(h, r)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" ||
			!strings.Contains(errorMessage(t, w), "the submission queue is unavailable") {
			t.Errorf("%s %s: %d %s", r.Method, r.URL, w.Code, w.Body)
		}
	}
}

// A judgement larger than a NATS message (here 10 MiB of tests) is
// queued through the object store, and its result read back.
func TestALargeJudgeSubmission(t *testing.T) {
	h, _ := newSubmissionsAPI(t, &fakeJudgeRunner{}, submissions.Config{})
	big := strings.Repeat("7", 5<<20) + "\n"
	tests := `{"input":"` + big[:len(big)-1] + `\n","expected_output":"` + big[:len(big)-1] + `\n"}`
	id := accepted(t, serve(h, post("/submissions", `{"kind":"judge","language":"cpp","code":"x","return_output":true,"tests":[`+tests+`]}`, "")))
	v := finished(t, h, id, "")
	var res judgeResponse
	if err := json.Unmarshal(v["result"], &res); err != nil || res.Verdict != "accepted" || res.Passed != 1 {
		t.Fatalf("%s: %.200s", v["status"], v["result"])
	}
}
