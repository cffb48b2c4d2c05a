package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// BenchmarkRunHandler times the HTTP layer of POST /run alone, against a
// runner that answers at once: routing, rate limiting, decoding and
// validation, the response's encoding, the request log and the metrics.
//
//	go test -run '^$' -bench BenchmarkRunHandler ./internal/api/
func BenchmarkRunHandler(b *testing.B) {
	exit := 0
	h, _ := newTestAPI(b, func(context.Context, runner.Request) (runner.Result, error) {
		return runner.Result{Status: runner.StatusSuccess, Stdout: "hello world\n", ExitCode: &exit}, nil
	}, func(c *Config) { c.RateLimit = 0 })
	// The same run through /run and through each other runner's API, side
	// by side: what a facade adds to the handler's own time.
	for _, api := range []struct{ name, path, body string }{
		{"run", "/run", `{"language":"python","code":"print(\"hello world\")","input":""}`},
		{"piston", "/api/v2/execute", `{"language":"python","version":"*","files":[{"content":"print(\"hello world\")"}],"stdin":""}`},
		{"judge0", "/judge0/submissions?wait=true", `{"language_id":71,"source_code":"print(\"hello world\")","stdin":""}`},
	} {
		b.Run(api.name, func(b *testing.B) {
			for b.Loop() {
				w := serve(h, post(api.path, api.body, ""))
				if w.Code != http.StatusOK && w.Code != http.StatusCreated {
					b.Fatalf("got %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkAdmission measures how fast POST /submissions takes
// submissions into the embedded queue, over real HTTP on loopback with 4
// clients at once: submissions/s, and the p50 and p99 of one answer. No
// worker runs, so only admission is measured.
//
//	go test -run '^$' -bench BenchmarkAdmission -benchtime 5000x ./internal/api/
func BenchmarkAdmission(b *testing.B) {
	body := `{"kind":"run","language":"python","code":"print(\"hello world\")"}`
	b.Run("single", func(b *testing.B) { benchAdmission(b, "/submissions", body, 1) })
	var items []string
	for range 20 {
		items = append(items, body)
	}
	b.Run("batch-20", func(b *testing.B) {
		benchAdmission(b, "/submissions/batch", `{"submissions":[`+strings.Join(items, ",")+`]}`, 20)
	})
}

func benchAdmission(b *testing.B, path, body string, per int) {
	cfg := DefaultConfig()
	cfg.RateLimit = 0
	q, err := submissions.Open(context.Background(), submissions.Config{Dir: b.TempDir(), Node: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	srv := httptest.NewServer(New(&fakeJudgeRunner{fakeRunner: fakeRunner{run: succeed}}, cfg, nil, q).Handler)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	const clients = 4
	var (
		mu   sync.Mutex
		lats []time.Duration
		next atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				resp, err := client.Post(srv.URL+path, "application/json", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lats = append(lats, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	if len(lats) == 0 {
		return
	}
	b.ReportMetric(float64(len(lats)*per)/elapsed.Seconds(), "submissions/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkQueuedRoundTrip measures what the queue adds to a run: the
// p50 of POST /submissions?wait= against that of POST /run, one client,
// over real HTTP, with a runner that answers at once.
//
//	go test -run '^$' -bench BenchmarkQueuedRoundTrip -benchtime 500x ./internal/api/
func BenchmarkQueuedRoundTrip(b *testing.B) {
	cfg := DefaultConfig()
	cfg.RateLimit = 0
	q, err := submissions.Open(context.Background(), submissions.Config{Dir: b.TempDir(), Node: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	svc := New(&fakeJudgeRunner{fakeRunner: fakeRunner{run: succeed}}, cfg, nil, q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Work(ctx, 4, svc.Execute) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(svc.Handler)
	defer srv.Close()
	for _, c := range []struct{ name, path, body string }{
		{"run", "/run", `{"language":"python","code":"print(1)"}`},
		{"queued", "/submissions?wait=10", `{"kind":"run","language":"python","code":"print(1)"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lats []time.Duration
			for b.Loop() {
				t0 := time.Now()
				resp, err := http.Post(srv.URL+c.path, "application/json", strings.NewReader(c.body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				lats = append(lats, time.Since(t0))
			}
			slices.Sort(lats)
			b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
