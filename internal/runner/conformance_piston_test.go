package runner_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/api"
	"github.com/codeexec/codeexec/internal/compat"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/testtiming"
)

// TestConformancePiston runs the conformance table through Piston v2's
// API, POST /api/v2/execute, for every language Piston names: the same
// programs and checks as TestConformance, on what a Piston client reads
// back (its stdout, code, signal, status, times), so that the facade
// loses nothing a verdict needs.
func TestConformancePiston(t *testing.T) {
	r := runner.MustOpenRunner(t, nil)
	cfg := api.DefaultConfig()
	cfg.Languages, cfg.RateLimit = slices.Sorted(maps.Keys(r.Languages())), 0
	srv := httptest.NewServer(api.NewHandler(r, cfg, nil))
	defer srv.Close()
	langs := r.Languages()
	for _, pl := range compat.PistonLanguages {
		lang, ok := langs[pl.Ours]
		if !ok {
			continue
		}
		progs := runner.ConformancePrograms[pl.Ours]
		if progs == nil {
			t.Errorf("language %s has no conformance programs", pl.Ours)
			continue
		}
		for _, c := range runner.ConformanceCases {
			code, ok := progs[c.Name()]
			if !ok {
				continue
			}
			t.Run(pl.Name+"/"+c.Name(), func(t *testing.T) {
				req := map[string]any{"language": pl.Name, "version": "*",
					"files": []map[string]string{{"content": code}}, "stdin": c.Input(t)}
				if !c.Timed() {
					req["run_timeout"] = testtiming.LimitWait.Milliseconds()
				}
				c.Check(t, lang, execute(t, srv.URL, req))
			})
		}
	}
}

// execute posts a Piston request and reads its answer back as the
// runner's result, the way a Piston client would read it.
func execute(t *testing.T, url string, req map[string]any) runner.Result {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(url+"/api/v2/execute", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a compat.PistonResponse
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	if a.Compile != nil && (a.Compile.Code == nil || *a.Compile.Code != 0) {
		return runner.Result{Status: runner.StatusCompileError, CompileOutput: a.Compile.Stderr}
	}
	if a.Run == nil {
		t.Fatalf("no run stage: %+v", a)
	}
	run := a.Run
	res := runner.Result{Stdout: run.Stdout, Stderr: run.Stderr, ExitCode: run.Code,
		Time: time.Duration(run.WallTime) * time.Millisecond, CPUTime: time.Duration(run.CPUTime) * time.Millisecond,
		MemoryPeakBytes: run.Memory, Status: runner.StatusSuccess}
	if run.Signal != nil {
		res.Signal = *run.Signal
	}
	status, message := "", ""
	if run.Status != nil {
		status = *run.Status
	}
	if run.Message != nil {
		message = *run.Message
	}
	switch {
	case status == "TO":
		res.Status = runner.StatusTimeout
	case status == "OL" || status == "EL":
		res.Status, res.StdoutTruncated, res.StderrTruncated = runner.StatusOutputLimitExceeded, status == "OL", status == "EL"
	case status == "SG" && message == "memory limit exceeded":
		res.Status, res.OOMKilled = runner.StatusMemoryLimitExceeded, true
	case status == "SG" || status == "RE":
		res.Status = runner.StatusRuntimeError
	}
	return res
}
