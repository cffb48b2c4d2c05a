package runner

import (
	"context"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/procstat"
)

// BenchmarkRun times the hot path, Run, against the real containerd (like
// the integration tests, it needs CODEEXEC_CONTAINERD_SOCKET):
//
//	CODEEXEC_CONTAINERD_SOCKET=/run/codeexec/containerd/containerd.sock \
//	  go test -run '^$' -bench BenchmarkRun -benchtime 30x ./internal/runner/
//
// An iteration is one request's latency, not throughput: between
// iterations, untimed, the previous run's teardown finishes and, for the
// warm cases, the pool fills again, so every warm request finds a prepared
// sandbox and every cold one an idle machine. Besides ns/op it reports the
// runner's own phase timings per request: prepare-ms (cold: containers and
// tasks created on request), compile-ms and run-ms (the program alone).
func BenchmarkRun(b *testing.B) {
	for _, tc := range []struct {
		name, lang, code string
		pool             int
	}{
		{"python/warm", "python", `print("hello world")`, 1},
		{"python/cold", "python", `print("hello world")`, 0},
		{"cpp/warm", "cpp", cppHelloWorld, 1},
		{"cpp/cold", "cpp", cppHelloWorld, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			only := func(c *Config) { c.Languages = map[string]Language{tc.lang: c.Languages[tc.lang]} }
			var r *Runner
			if tc.pool > 0 {
				r = openPooled(b, tc.pool, only)
			} else {
				r = MustOpenRunner(b, only)
			}
			var prepare, compile, run time.Duration
			n := 0
			for b.Loop() {
				res, err := r.Run(context.Background(), Request{Language: tc.lang, Code: tc.code})
				if err != nil || res.Status != StatusSuccess || res.Stdout != "hello world\n" {
					b.Fatalf("got %+v, %v", res, err)
				}
				if tc.pool > 0 && !res.Warm {
					b.Fatal("a warm request was served cold")
				}
				prepare += res.PrepareTime
				compile += res.CompileTime
				run += res.Time
				n++
				b.StopTimer()
				r.Wait()
				if tc.pool > 0 {
					waitPoolFull(b, r, tc.pool)
				}
				b.StartTimer()
			}
			perOp := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
			b.ReportMetric(perOp(prepare), "prepare-ms/op")
			b.ReportMetric(perOp(compile), "compile-ms/op")
			b.ReportMetric(perOp(run), "run-ms/op")
		})
	}
}

// BenchmarkSandboxCost measures what one fresh sandbox costs the machine
// from request to removal: a cold Python hello world (container and task
// created, started, run, then deleted with its container; Run and then
// Wait), with each per-run lever added in turn: the OCI runtime, a root
// shared by all sandboxes of the image instead of a snapshot view per
// sandbox (Config.SharedRootfs), shims shared through shim hosts
// (Config.ShimHosts), and the shim wrapper (Config.ShimWrapper), which
// spares each removal a run of the shim binary. machine-cpu-ms/op is the
// whole machine's busy CPU per sandbox (containerd, shims, runtime,
// program, the test), so it is only meaningful on an otherwise idle
// machine; compare the rows of one run
// (benchstat over -count runs):
//
//	CODEEXEC_CONTAINERD_SOCKET=/run/codeexec/containerd/containerd.sock \
//	  go test -run '^$' -bench BenchmarkSandboxCost -benchtime 40x -count 3 ./internal/runner/
func BenchmarkSandboxCost(b *testing.B) {
	for _, tc := range []struct {
		name       string
		oci        string
		sharedRoot bool
		shimHosts  int
		wrapper    bool
	}{
		{"runc/view/own-shim", OCIRuntimeRunc, false, 0, false},
		{"crun/view/own-shim", OCIRuntimeCrun, false, 0, false},
		{"crun/shared-root/own-shim", OCIRuntimeCrun, true, 0, false},
		{"crun/shared-root/shim-hosts", OCIRuntimeCrun, true, DefaultShimHosts, false},
		{"crun/shared-root/shim-hosts/shim-wrapper", OCIRuntimeCrun, true, DefaultShimHosts, true},
		{"runc/shared-root/shim-hosts/shim-wrapper", OCIRuntimeRunc, true, DefaultShimHosts, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := MustOpenRunner(b, func(c *Config) {
				c.Languages = map[string]Language{"python": c.Languages["python"]}
				c.OCIRuntime, c.SharedRootfs, c.ShimHosts = tc.oci, tc.sharedRoot, tc.shimHosts
				if !tc.wrapper {
					c.ShimWrapper = ""
				}
			})
			if got := r.Stack().ShimWrapper; got != tc.wrapper {
				b.Fatalf("shim wrapper in use: %v, want %v", got, tc.wrapper)
			}
			if tc.sharedRoot && r.sb.SharedRoots() == 0 {
				b.Fatal("the python image's root is not shared: is it one layer? (scripts/images.sh)")
			}
			if tc.shimHosts > 0 && r.sb.ShimHosts() == 0 {
				b.Fatal("no shim hosts: this containerd has no sandbox records")
			}
			busy0, _ := procstat.CPU()
			n := 0
			for b.Loop() {
				res, err := r.Run(context.Background(), Request{Language: "python", Code: `print("hello world")`})
				if err != nil || res.Status != StatusSuccess || res.Stdout != "hello world\n" {
					b.Fatalf("got %+v, %v", res, err)
				}
				r.Wait()
				n++
			}
			busy1, _ := procstat.CPU()
			b.ReportMetric(float64(busy1-busy0)/float64(time.Millisecond)/float64(n), "machine-cpu-ms/op")
		})
	}
}

const cppHelloWorld = `#include <iostream>
int main() { std::cout << "hello world\n"; }
`

// BenchmarkBatchRun times one test of a judge request: a run of an
// already built program in a batch lane, one lane, as /judge runs each
// test. "lane" has the lane's agent start each run in the lane's scrubbed
// sandbox (the default); "fresh" gives each run a container of its own
// (Config.BatchFreshSandboxes), the /run path. Besides ns/op it reports
// machine-cpu-ms/op: the whole machine's busy CPU time per run (containerd,
// shims, runtime, the program and the service), read from /proc/stat, so
// it is only meaningful on an otherwise idle machine:
//
//	CODEEXEC_CONTAINERD_SOCKET=/run/codeexec/containerd/containerd.sock \
//	  go test -run '^$' -bench BenchmarkBatchRun -benchtime 50x ./internal/runner/
func BenchmarkBatchRun(b *testing.B) {
	for _, tc := range []struct {
		name, lang, code string
		fresh            bool
	}{
		{"python/lane", "python", pySum, false},
		{"python/fresh", "python", pySum, true},
		{"cpp/lane", "cpp", cppSum, false},
		{"cpp/fresh", "cpp", cppSum, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := MustOpenRunner(b, func(c *Config) { c.BatchFreshSandboxes = tc.fresh })
			batch, builds, err := r.OpenBatch(context.Background(), []Program{{Language: tc.lang, Code: tc.code}}, 1)
			if err != nil || builds[0].Status != StatusSuccess {
				b.Fatalf("open batch: %v %+v", err, builds)
			}
			defer batch.Close()
			busy0, _ := procstat.CPU()
			n := 0
			for b.Loop() {
				res, err := batch.Run(context.Background(), 0, 0, BatchRun{Input: "40 2\n"})
				if err != nil || res.Status != StatusSuccess || res.Stdout != "42\n" {
					b.Fatalf("got %+v, %v", res, err)
				}
				n++
			}
			busy1, _ := procstat.CPU()
			b.ReportMetric(float64(busy1-busy0)/float64(time.Millisecond)/float64(n), "machine-cpu-ms/op")
		})
	}
}

const pySum = "a, b = map(int, input().split())\nprint(a + b)\n"

const cppSum = `#include <iostream>
int main() { long a, b; std::cin >> a >> b; std::cout << a + b << "\n"; }
`
