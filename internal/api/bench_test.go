package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/codeexec/codeexec/internal/runner"
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
	body := `{"language":"python","code":"print(\"hello world\")","input":""}`
	for b.Loop() {
		w := serve(h, newRunRequest(body))
		if w.Code != http.StatusOK {
			b.Fatalf("got %d %s", w.Code, w.Body)
		}
	}
}
