package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/runner/runnertest"
	"github.com/codeexec/codeexec/internal/testtiming"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// service is `codeexec serve` running in the test process against the real
// containerd.
type service struct {
	url  string
	cfg  runner.Config
	stop context.CancelFunc
	done chan error
}

func startService(t *testing.T, extra ...string) *service {
	t.Helper()
	cfg := runnertest.Config(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{url: "http://" + addr, cfg: cfg, stop: cancel, done: make(chan error, 1)}
	args := append([]string{"serve", "--addr", addr, "--containerd-socket", cfg.Socket,
		"--namespace", cfg.Namespace, "--state-dir", cfg.StateDir, "--oci-runtime", cfg.OCIRuntime,
		"--lane-agent", cfg.LaneAgent, "--log-level", "warn"}, extra...)
	var logs bytes.Buffer
	go func() { s.done <- run(ctx, args, io.Discard, &syncWriter{w: &logs}, func(string) string { return "" }) }()
	t.Cleanup(func() {
		s.shutdown(t)
		runnertest.AssertNothingLeftBy(t, cfg)
	})
	holdToContract(t, s.url)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Ready means containerd answers, the images are there and the warm
		// pool was filled: what a load balancer waits for.
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("service exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not ready after 60s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *service) shutdown(t *testing.T) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("serve did not return within 60s of shutdown")
	}
}

// syncWriter serialises writes from the service's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

type runResponse struct {
	ID              string  `json:"id"`
	Status          string  `json:"status"`
	Stdout          string  `json:"stdout"`
	Stderr          string  `json:"stderr"`
	StdoutTruncated bool    `json:"stdout_truncated"`
	ExitCode        *int    `json:"exit_code"`
	Signal          *string `json:"signal"`
	CompileOutput   string  `json:"compile_output"`
	TimeMS          *int64  `json:"time_ms"`
	Error           string  `json:"error"`
}

func post(t *testing.T, url, body string) (int, runResponse) {
	t.Helper()
	resp, err := http.Post(url+"/run", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /run: %v", err)
	}
	defer resp.Body.Close()
	var out runResponse
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, out
}

func TestServeRunsProgramsOverHTTP(t *testing.T) {
	s := startService(t)
	tests := []struct {
		name, body string
		code       int
		status     string
		stdout     string
	}{
		{"python hello world", `{"language":"python","code":"print('hello, world')"}`, 200, "success", "hello, world\n"},
		{"cpp hello world", `{"language":"cpp","code":"#include <cstdio>\nint main(){ std::puts(\"hello, world\"); }"}`, 200, "success", "hello, world\n"},
		{"stdin is echoed", `{"language":"python","code":"print(input()[::-1])","input":"abc\n"}`, 200, "success", "cba\n"},
		{"a compile error", `{"language":"cpp","code":"int main( {"}`, 200, "compile_error", ""},
		{"an unknown language", `{"language":"cobol","code":"DISPLAY 1"}`, 400, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, got := post(t, s.url, tc.body)
			if code != tc.code || got.Status != tc.status || got.Stdout != tc.stdout {
				t.Fatalf("got %d %+v, want %d status %q stdout %q", code, got, tc.code, tc.status, tc.stdout)
			}
			if code == 200 && (len(got.ID) != 36 || got.TimeMS == nil) {
				t.Errorf("id %q time_ms %v", got.ID, got.TimeMS)
			}
		})
	}
}

func TestServeTimesOutWithinTheLimit(t *testing.T) {
	s := startService(t)
	start := time.Now()
	code, got := post(t, s.url, `{"language":"python","code":"while True: pass"}`)
	took := time.Since(start)
	if code != 200 || got.Status != "timeout" || got.ExitCode != nil || got.Signal == nil || *got.Signal != "SIGKILL" {
		t.Fatalf("got %d %+v", code, got)
	}
	// The service's default, the warm pool, has the sandbox ready: the
	// answer comes within the limit and its margin from the request.
	if limit := runner.DefaultRunTimeout + testtiming.KillMargin; took > limit {
		t.Errorf("response after %s, want within %s", took, limit)
	}
}

func TestServeDrainsInFlightRunsOnShutdown(t *testing.T) {
	s := startService(t)
	type reply struct {
		code int
		res  runResponse
	}
	replies := make(chan reply, 1)
	go func() {
		code, res := post(t, s.url, `{"language":"python","code":"import time\ntime.sleep(1)\nprint('finished')"}`)
		replies <- reply{code, res}
	}()
	time.Sleep(400 * time.Millisecond)
	s.shutdown(t)
	r := <-replies
	if r.code != 200 || r.res.Status != "success" || r.res.Stdout != "finished\n" {
		t.Fatalf("in-flight run got %d %+v, want it to finish", r.code, r.res)
	}
	if _, err := http.Get(s.url + "/healthz"); err == nil {
		t.Error("the service still accepts connections after shutdown")
	}
}

func TestServeConfiguration(t *testing.T) {
	env := map[string]string{"CODEEXEC_RUN_TIMEOUT": "5s", "CODEEXEC_PIDS": "32", "CODEEXEC_MEMORY_MB": "128"}
	getenv := func(k string) string { return env[k] }
	t.Run("environment variables set values and flags win over them", func(t *testing.T) {
		c, err := parseConfig([]string{"--pids", "16"}, io.Discard, getenv)
		if err != nil {
			t.Fatal(err)
		}
		if c.Runner.RunTimeout != 5*time.Second || c.Runner.RunLimits.Pids != 16 || c.Runner.RunLimits.MemoryBytes != 128<<20 {
			t.Fatalf("timeout %s pids %d memory %d", c.Runner.RunTimeout, c.Runner.RunLimits.Pids, c.Runner.RunLimits.MemoryBytes)
		}
	})
	t.Run("defaults are the original design's", func(t *testing.T) {
		c, err := parseConfig(nil, io.Discard, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != ":3000" || c.Runner.RunTimeout != 2*time.Second || c.Runner.RunLimits.MemoryBytes != 256<<20 ||
			c.Runner.RunLimits.Pids != 64 || c.Runner.RunLimits.CPUs != 1 || c.API.RateLimit != 100 || c.API.RateWindow != 15*time.Minute {
			t.Fatalf("defaults: %+v", c)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a bad duration names the flag", []string{"--run-timeout", "soon"}, "run-timeout"},
		{"a tiny memory limit says what is allowed", []string{"--memory-mb", "1"}, "at least 16 MiB"},
		{"a relative state dir is refused", []string{"--state-dir", "state"}, "absolute"},
		{"the kubelet's namespace is refused", []string{"--namespace", "k8s.io"}, "own"},
		{"a bad environment value names the variable", nil, "CODEEXEC_PIDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ge := func(string) string { return "" }
			if tc.args == nil {
				ge = func(k string) string {
					if k == "CODEEXEC_PIDS" {
						return "many"
					}
					return ""
				}
			}
			_, err := parseConfig(tc.args, io.Discard, ge)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("help documents every setting", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"serve", "--help"}, io.Discard, &out, func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		for _, flag := range []string{"addr", "containerd-socket", "namespace", "state-dir", "run-timeout", "memory-mb", "pids", "cpus", "output-bytes", "rate-limit", "CODEEXEC_STATE_DIR"} {
			if !strings.Contains(out.String(), flag) {
				t.Errorf("help lacks %s", flag)
			}
		}
	})
	t.Run("an unreachable containerd is a clear start-up error", func(t *testing.T) {
		err := run(context.Background(), []string{"serve", "--containerd-socket", "/nonexistent/containerd.sock", "--state-dir", t.TempDir()}, io.Discard, io.Discard, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/containerd.sock") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestServeMetricsCountRealRuns(t *testing.T) {
	s := startService(t)
	for _, body := range []string{
		`{"language":"python","code":"print(1)"}`,
		`{"language":"python","code":"import sys; sys.exit(2)"}`,
		`{"language":"cpp","code":"int main( {"}`,
	} {
		if code, _ := post(t, s.url, body); code != 200 {
			t.Fatalf("POST %s: %d", body, code)
		}
	}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	got := string(raw)
	for _, want := range []string{
		`codeexec_runs_total{language="python",status="success"} 1`,
		`codeexec_runs_total{language="python",status="runtime_error"} 1`,
		`codeexec_runs_total{language="cpp",status="compile_error"} 1`,
		`codeexec_phase_duration_seconds_count{language="python",phase="run"} 2`,
		`codeexec_phase_duration_seconds_count{language="cpp",phase="compile"} 1`,
		`codeexec_phase_duration_seconds_count{language="python",phase="queue"} 2`,
		`codeexec_pool_ready{language="python"}`,
		`codeexec_queue_depth 0`,
		`codeexec_errors_total{reason="containerd_unavailable"} 0`,
		`codeexec_rate_limited_total 0`,
		`codeexec_exit_source_total{source="kernel"}`,
		`codeexec_exit_source_total{source="containerd"}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestServeListsRuntimes(t *testing.T) {
	s := startService(t)
	resp, err := http.Get(s.url + "/runtimes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Runtimes []runner.Runtime `json:"runtimes"`
		Sandbox  runner.Stack     `json:"sandbox"`
		Judge    struct {
			CompareModes     []string `json:"compare_modes"`
			CheckerLanguages []string `json:"checker_languages"`
			MaxTests         int      `json:"max_tests"`
		} `json:"judge"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]runner.Runtime{}
	for _, rt := range body.Runtimes {
		names = append(names, rt.Language)
		byName[rt.Language] = rt
	}
	const want = "bash,c,cpp,cpp20,csharp,go,java,javascript,php,python,ruby,rust,typescript"
	if strings.Join(names, ",") != want {
		t.Fatalf("runtimes %v, want %s in that order", names, want)
	}
	if j := body.Judge; strings.Join(j.CompareModes, ",") != "exact,lines,tokens,float" || strings.Join(j.CheckerLanguages, ",") != want || j.MaxTests != 256 {
		t.Errorf("judge %+v", j)
	}
	// The service's own choice, which CODEEXEC_OCI_RUNTIME may force.
	wantOCI := []string{runner.OCIRuntimeCrun, runner.OCIRuntimeRunc}
	if rt := os.Getenv("CODEEXEC_OCI_RUNTIME"); rt != "" && rt != runner.OCIRuntimeAuto {
		wantOCI = []string{rt}
	}
	if sb := body.Sandbox; sb.Containerd == "" || sb.Shim != runner.DefaultRuntime || !slices.Contains(wantOCI, sb.OCIRuntime) {
		t.Errorf("sandbox %+v, want a containerd version, shim %s and OCI runtime in %v", sb, runner.DefaultRuntime, wantOCI)
	}
	py := byName["python"]
	if py.Image != runner.PythonImage || !strings.HasPrefix(py.ImageDigest, "sha256:") || py.SourceFile != "main.py" ||
		py.Limits.TimeoutMS != 2000 || py.Limits.MemoryBytes != 256<<20 || py.Limits.Pids != 64 || len(py.Compile) != 0 {
		t.Errorf("python runtime %+v", py)
	}
	if cpp := byName["cpp"]; len(cpp.Compile) == 0 || cpp.Limits.CompileTimeoutMS != 10000 {
		t.Errorf("cpp runtime %+v", cpp)
	}
}

func TestServePerRequestLimits(t *testing.T) {
	s := startService(t)
	t.Run("a lower timeout ends the run sooner", func(t *testing.T) {
		code, got := post(t, s.url, `{"language":"python","code":"while True: pass","limits":{"timeout_ms":300}}`)
		if code != 200 || got.Status != "timeout" || *got.TimeMS < 300 || *got.TimeMS > (300*time.Millisecond+testtiming.KillMargin).Milliseconds() {
			t.Fatalf("got %d %+v", code, got)
		}
	})
	t.Run("a lower memory limit is enforced", func(t *testing.T) {
		// Both runs must end by themselves or by the memory limit: the
		// largest time limit keeps a slow machine from making either a
		// timeout.
		code, got := post(t, s.url, `{"language":"python","code":"x = bytearray(100 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('fit')","limits":{"memory_mb":64,"timeout_ms":10000}}`)
		if code != 200 || got.Status != "memory_limit_exceeded" {
			t.Fatalf("got %d %+v", code, got)
		}
		code, got = post(t, s.url, `{"language":"python","code":"x = bytearray(100 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('fit')","limits":{"timeout_ms":10000}}`)
		if code != 200 || got.Status != "success" {
			t.Fatalf("the same program under the default 256 MiB: %d %+v", code, got)
		}
	})
	t.Run("a lower pids limit is enforced", func(t *testing.T) {
		code, got := post(t, s.url, `{"language":"python","code":"import threading, time\nn = 0\ntry:\n    for _ in range(20):\n        threading.Thread(target=time.sleep, args=(1,)).start(); n += 1\nexcept RuntimeError:\n    pass\nprint(n)","limits":{"pids":8}}`)
		if code != 200 || got.Status != "success" || got.Stdout == "20\n" {
			t.Fatalf("got %d %+v", code, got)
		}
	})
	t.Run("a lower output cap truncates there", func(t *testing.T) {
		code, got := post(t, s.url, `{"language":"python","code":"print('x' * 5000)","limits":{"output_bytes":100}}`)
		if code != 200 || got.Status != "output_limit_exceeded" || len(got.Stdout) != 100 {
			t.Fatalf("got %d status %s len %d", code, got.Status, len(got.Stdout))
		}
	})
	for _, tc := range []struct{ body, want string }{
		{`{"language":"python","code":"x","limits":{"timeout_ms":60000}}`, "limits.timeout_ms is 60000; it must be between 1 and 10000"},
		{`{"language":"python","code":"x","limits":{"memory_mb":4096}}`, "limits.memory_mb is 4096; it must be between 16 and 512"},
		{`{"language":"python","code":"x","limits":{"pids":100000}}`, "limits.pids is 100000; it must be between 2 and 256"},
	} {
		t.Run("over the maximum: "+tc.want, func(t *testing.T) {
			code, got := post(t, s.url, tc.body)
			if code != 400 || got.Error != tc.want {
				t.Fatalf("got %d %q, want 400 %q", code, got.Error, tc.want)
			}
		})
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/codeexec.conf"
	os.WriteFile(file, []byte("# settings\nrun-timeout = 3s\npids = 20\nmemory-mb = 100\n"), 0o644)
	keys := dir + "/keys"
	os.WriteFile(keys, []byte("# one per line\nkey-number-one-0000\n\nkey-number-two-0000\n"), 0o600)
	env := map[string]string{"CODEEXEC_PIDS": "30", "CODEEXEC_CPUS": "0.5"}
	c, err := parseConfig([]string{"--config", file, "--cpus", "0.25", "--api-keys-file", keys, "--trusted-proxies", "10.0.0.0/8, 192.168.0.0/16"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	r := c.Runner
	if r.RunTimeout != 3*time.Second || r.RunLimits.MemoryBytes != 100<<20 {
		t.Errorf("file values not applied: timeout %s memory %d", r.RunTimeout, r.RunLimits.MemoryBytes)
	}
	if r.RunLimits.Pids != 30 {
		t.Errorf("pids %d: the environment must win over the file", r.RunLimits.Pids)
	}
	if r.RunLimits.CPUs != 0.25 {
		t.Errorf("cpus %g: flags must win over the environment", r.RunLimits.CPUs)
	}
	if strings.Join(c.API.APIKeys, ",") != "key-number-one-0000,key-number-two-0000" || len(c.API.TrustedProxies) != 2 {
		t.Errorf("keys %v proxies %v", c.API.APIKeys, c.API.TrustedProxies)
	}
	os.WriteFile(file, []byte("no-such-setting = 1\n"), 0o644)
	if _, err := parseConfig([]string{"--config", file}, io.Discard, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("got %v, want an error naming the line", err)
	}
}
