package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/callback"
	"github.com/codeexec/codeexec/internal/runner/runnertest"
)

// submission is what GET /submissions/{id} answers, as far as these
// tests look.
type submission struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Result   *struct {
		Status string `json:"status"`
		Stdout string `json:"stdout"`
	} `json:"result"`
	Error json.RawMessage `json:"error"`
}

func getSubmission(t *testing.T, url, id string) submission {
	t.Helper()
	resp, err := http.Get(url + "/submissions/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s submission
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &s) != nil {
		t.Fatalf("GET /submissions/%s: %d %s", id, resp.StatusCode, b)
	}
	return s
}

func postJSON(t *testing.T, url, body string, into any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, into) != nil {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}

// TestQueuedSubmissionsSurviveACrash kills the service (SIGKILL) with two
// submissions running and fifty queued, starts it again on the same state
// directory, and expects all fifty-two to finish with their right answers,
// the two that were running on a second attempt.
func TestQueuedSubmissionsSurviveACrash(t *testing.T) {
	cfg := runnertest.Config(t)
	// A receiver of callbacks, on loopback, that checks each signature.
	const secret = "crash-test-callback-secret"
	var mu sync.Mutex
	called := map[string]int{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := callback.Verify([]byte(secret), r.Header.Get(callback.Header), b, time.Minute, time.Now()); err != nil {
			t.Errorf("callback: %v", err)
		}
		mu.Lock()
		called[r.Header.Get("Codeexec-Submission")]++
		mu.Unlock()
	}))
	defer receiver.Close()
	// Two workers, and a node silent for 3 s loses its submissions.
	args := []string{"--submission-workers", "2", "--submission-ack-wait", "3s",
		"--callback-secret", secret, "--callback-allow", "127.0.0.0/8"}
	svc := startServiceProcess(t, cfg, args...)
	// A problem package stored before the crash is there after it (the
	// queue's object store).
	different := postProblem(t, svc.url, filepath.Join(kattisExamples, "different"))

	var ids []string
	want := map[string]string{}
	for i := range 2 {
		var s submission
		postJSON(t, svc.url+"/submissions", fmt.Sprintf(`{"kind":"run","language":"python","code":"import time\ntime.sleep(2)\nprint(%d * 7)","limits":{"timeout_ms":10000}}`, i+6), &s)
		ids, want[s.ID] = append(ids, s.ID), fmt.Sprintf("%d\n", (i+6)*7)
	}
	deadline := time.Now().Add(60 * time.Second)
	for getSubmission(t, svc.url, ids[0]).Status != "running" || getSubmission(t, svc.url, ids[1]).Status != "running" {
		if time.Now().After(deadline) {
			t.Fatal("the two slow submissions never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for b := range 5 {
		var items []string
		for i := range 10 {
			cb := ""
			if i%5 == 0 {
				cb = `,"callback_url":"` + receiver.URL + `/hook"`
			}
			items = append(items, fmt.Sprintf(`{"kind":"run","language":"python","code":"print(%d)","metadata":{"n":%d}%s}`, b*10+i, b*10+i, cb))
		}
		var out struct {
			Submissions []submission `json:"submissions"`
		}
		postJSON(t, svc.url+"/submissions/batch", `{"submissions":[`+strings.Join(items, ",")+`]}`, &out)
		for i, s := range out.Submissions {
			if s.ID == "" {
				t.Fatalf("batch %d item %d refused: %+v", b, i, s)
			}
			ids, want[s.ID] = append(ids, s.ID), fmt.Sprintf("%d\n", b*10+i)
		}
	}
	queued := 0
	for _, id := range ids[2:] {
		if getSubmission(t, svc.url, id).Status == "queued" {
			queued++
		}
	}
	if queued < 45 {
		t.Fatalf("only %d of the 50 were still queued at the crash", queued)
	}
	if s := getSubmission(t, svc.url, ids[0]); s.Status != "running" {
		t.Fatalf("the first slow submission is %s at the crash", s.Status)
	}
	svc.crash(t)

	svc = startServiceProcess(t, cfg, args...)
	if code, res := judgeProblemOverHTTP(t, svc.url, different.ID, "cpp", filepath.Join(kattisExamples, "different/submissions/accepted/different.cc")); code != http.StatusOK || res.Verdict != "accepted" {
		t.Errorf("the problem stored before the crash: %d %+v", code, res)
	}
	deadline = time.Now().Add(5 * time.Minute)
	for _, id := range ids {
		for {
			s := getSubmission(t, svc.url, id)
			if s.Status == "done" {
				if s.Result == nil || s.Result.Status != "success" || s.Result.Stdout != want[id] {
					t.Errorf("submission %s: %+v, want stdout %q", id, s.Result, want[id])
				}
				if (id == ids[0] || id == ids[1]) && s.Attempts != 2 {
					t.Errorf("submission %s running at the crash: %d attempts, want 2", id, s.Attempts)
				}
				break
			}
			if s.Status != "queued" && s.Status != "running" {
				t.Fatalf("submission %s ended %s: %s", id, s.Status, s.Error)
			}
			if time.Now().After(deadline) {
				t.Fatalf("submission %s still %s after the restart", id, s.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Every fifth of the fifty had a callback: each is delivered.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := 0
		for i, id := range ids[2:] {
			if i%5 == 0 && called[id] > 0 {
				n++
			}
		}
		mu.Unlock()
		if n == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 10 callbacks delivered", n)
		}
	}
	svc.stop(t)
	runnertest.AssertNothingLeftBy(t, cfg)
}
