package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/api/openapitest"
	"github.com/codeexec/codeexec/internal/bench"
	"github.com/codeexec/codeexec/internal/runner/runnertest"
)

// runAsMainEnv makes the test binary behave as the codeexec binary: benchCmd
// starts its service instances from os.Executable(), which under `go test`
// is this test binary.
const runAsMainEnv = "CODEEXEC_TEST_RUN_AS_MAIN"

// contract checks every exchange the tests have with a service they start
// against the contract it serves (GET /openapi.json): every client on
// http.DefaultTransport goes through it.
var contract = &openapitest.Transport{Base: http.DefaultTransport}

func TestMain(m *testing.M) {
	if os.Getenv(runAsMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	http.DefaultTransport = contract
	os.Exit(m.Run())
}

// holdToContract checks the exchanges with the service at url from now
// on, and fails t with what broke its contract when t ends.
func holdToContract(t *testing.T, url string) {
	contract.Watch(url)
	t.Cleanup(func() {
		for _, err := range contract.Broken(url) {
			t.Errorf("contract: %v", err)
		}
	})
}

// servesFlag reports whether `codeexec serve` has the flag name.
func servesFlag(t *testing.T, name string) bool {
	t.Helper()
	var help bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, io.Discard, &help, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(help.String(), "-"+name+" ")
}

func TestBenchSmoke(t *testing.T) {
	socket := os.Getenv("CODEEXEC_CONTAINERD_SOCKET")
	if socket == "" {
		if os.Getenv("CODEEXEC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("CODEEXEC_REQUIRE_INTEGRATION=1 but CODEEXEC_CONTAINERD_SOCKET is empty: run `make test`")
		}
		t.Skip("integration test: set CODEEXEC_CONTAINERD_SOCKET (or run `make test`)")
	}
	ns := os.Getenv("CODEEXEC_TEST_NAMESPACE")
	if ns == "" {
		ns = "codeexec-test"
	}
	t.Setenv(runAsMainEnv, "1") // inherited by the service instances
	t.Setenv("CODEEXEC_LANE_AGENT", runnertest.Config(t).LaneAgent)
	out := filepath.Join(t.TempDir(), "results")
	// Small enough for about 30 s on an idle 2-core machine: two programs, no
	// ctr (its command line has unit tests), one warm-up and two measured
	// rounds, two runs per throughput measurement. Docker is included for its
	// skip path.
	args := []string{"--runs", "2", "--warmup", "1", "--out", out,
		"--containerd-socket", socket, "--namespace", ns,
		"--programs", "python-hello,cpp-hello", "--methods", "bare,cold,warm,docker",
		"--concurrency", "2", "--throughput-runs", "2", "--judge-tests", "3", "--judge-rounds", "1", "--log-level", "warn"}
	if !servesFlag(t, "pool-size") {
		// A build without the warm pool: both instances take the cold path.
		args = append(args, "--cold-args=", "--warm-args=")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	if err := benchCmd(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	t.Logf("bench took %s:\n%s", time.Since(start).Round(time.Second), stdout.String())

	for _, name := range []string{bench.MarkdownFile, bench.JSONFile, bench.ChartFile} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, bench.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var r bench.Report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("results.json does not parse: %v", err)
	}
	samples := map[string]int{}
	for _, res := range r.Results {
		samples[res.Method] += len(res.Samples)
		// Errors are the service's or the machine's (a run past its time
		// limit on a busy host), not the benchmark's: log them, and let the
		// sample counts below decide.
		if res.Errors > 0 {
			t.Logf("%s %s: %d errors: %v", res.Program, res.Method, res.Errors, res.ErrorExamples)
		}
	}
	for _, m := range []string{bench.MethodBare, bench.MethodCold, bench.MethodWarm} {
		if samples[m] == 0 {
			t.Errorf("no %s samples in results.json", m)
		}
	}
	if len(r.Judge) != 2 || r.Judge[0].Tests != 3 || len(r.Judge[1].JudgeMS) != 1 || r.Judge[1].Speedup <= 0 {
		t.Errorf("judge measurement %+v", r.Judge)
	}
	if _, measured := samples[bench.MethodDocker]; !measured && r.Skipped[bench.MethodDocker] == "" {
		t.Error("docker neither measured nor skipped with a reason")
	}
	// Containers, snapshots and job files carry the instance's own label or
	// state directory; cgroups and processes are listed by namespace, which
	// other tests may share, so only the former are checked here.
	for name, left := range r.Leftovers {
		for _, l := range left {
			if strings.HasPrefix(l, "container ") || strings.HasPrefix(l, "task ") || strings.HasPrefix(l, "snapshot ") || strings.HasPrefix(l, "file ") {
				t.Errorf("%s instance left %s", name, l)
			}
		}
	}
	if !strings.Contains(stdout.String(), "| program | method |") {
		t.Errorf("the table is not on stdout:\n%s", stdout.String())
	}
}
