package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
)

type judgeResponse struct {
	ID            string `json:"id"`
	Verdict       string `json:"verdict"`
	Passed        int    `json:"passed"`
	Total         int    `json:"total"`
	CompileOutput string `json:"compile_output"`
	CheckerOutput string `json:"checker_output"`
	Error         string `json:"error"`
	Tests         []struct {
		Index           int     `json:"index"`
		Status          string  `json:"status"`
		Message         string  `json:"message"`
		Stdout          *string `json:"stdout"`
		TimeMS          int64   `json:"time_ms"`
		CPUTimeMS       int64   `json:"cpu_time_ms"`
		MemoryPeakBytes int64   `json:"memory_peak_bytes"`
		ExitCode        *int    `json:"exit_code"`
	} `json:"tests"`
}

func postJudge(t *testing.T, url string, body any) (int, judgeResponse) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/judge", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("POST /judge: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out judgeResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, out
}

type test struct {
	Input          string `json:"input"`
	ExpectedOutput string `json:"expected_output"`
}

// sums is n tests of a+b, the i-th expecting wrong[i] when given.
func sums(n int, wrong map[int]string) []test {
	var out []test
	for i := range n {
		want := fmt.Sprintf("%d\n", i+i*7)
		if w, ok := wrong[i]; ok {
			want = w
		}
		out = append(out, test{Input: fmt.Sprintf("%d %d\n", i, i*7), ExpectedOutput: want})
	}
	return out
}

const pySum = "a, b = map(int, input().split())\nprint(a + b)\n"
const cppSum = "#include <bits/stdc++.h>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a + b << \"\\n\"; }\n"

func TestJudgeOverHTTP(t *testing.T) {
	s := startService(t, "--rate-limit", "0")

	t.Run("100 python tests in one request, one wrong", func(t *testing.T) {
		start := time.Now()
		code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": pySum, "tests": sums(100, map[int]string{57: "0\n"})})
		t.Logf("100 python tests judged in %s", time.Since(start).Round(time.Millisecond))
		if code != 200 || got.Verdict != "wrong_answer" || got.Passed != 99 || got.Total != 100 || len(got.Tests) != 100 {
			for _, tr := range got.Tests {
				if tr.Status != "accepted" {
					t.Logf("test %d: %+v", tr.Index, tr)
				}
			}
			t.Fatalf("%d %s passed %d/%d %s", code, got.Verdict, got.Passed, got.Total, got.Error)
		}
		bad := got.Tests[57]
		if bad.Status != "wrong_answer" || bad.Stdout == nil || *bad.Stdout != "456\n" || !strings.Contains(bad.Message, `expected "0", got "456"`) {
			t.Errorf("test 57: %+v", bad)
		}
		for _, tr := range got.Tests {
			if tr.Index != 57 && (tr.Status != "accepted" || tr.Stdout != nil || tr.ExitCode == nil || tr.MemoryPeakBytes == 0) {
				t.Errorf("test %d: %+v", tr.Index, tr)
			}
		}
	})

	t.Run("c++ compiles once; stop_on_failure skips the rest", func(t *testing.T) {
		code, got := postJudge(t, s.url, map[string]any{"language": "cpp", "code": cppSum, "tests": sums(10, map[int]string{3: "x\n"}), "stop_on_failure": true})
		if code != 200 || got.Verdict != "wrong_answer" || got.Passed != 3 {
			t.Fatalf("%d %+v", code, got)
		}
		for i, tr := range got.Tests[4:] {
			if tr.Status != "skipped" {
				t.Errorf("test %d: %s, want skipped", i+4, tr.Status)
			}
		}
	})

	t.Run("a compile error runs no test", func(t *testing.T) {
		code, got := postJudge(t, s.url, map[string]any{"language": "cpp", "code": "int main() { return x; }", "tests": sums(2, nil)})
		if code != 200 || got.Verdict != "compile_error" || !strings.Contains(got.CompileOutput, "not declared") || got.Tests[0].Status != "skipped" {
			t.Fatalf("%d %+v", code, got)
		}
	})

	t.Run("a checker decides, and gets the input, output and answer as files", func(t *testing.T) {
		// Accepts any a+b written with surrounding spaces, calls a missing
		// newline a presentation error.
		checker := `import sys
inp, out, ans = (open(p).read() for p in sys.argv[1:4])
a, b = map(int, inp.split())
if out.strip() != str(a + b) or ans.strip() != str(a + b):
    print(f"wrong answer: {out.strip()!r} for {a}+{b}", file=sys.stderr)
    sys.exit(1)
if not out.endswith("\n"):
    print("no newline", file=sys.stderr)
    sys.exit(2)
print("ok", file=sys.stderr)
`
		prog := "a, b = map(int, input().split())\nimport sys\nsys.stdout.write(str(a + b) if a == 2 else ' %d \\n' % (a + b + (a == 3)))\n"
		code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": prog, "tests": sums(4, nil),
			"checker": map[string]string{"language": "python", "code": checker}})
		if code != 200 || got.Verdict != "presentation_error" {
			t.Fatalf("%d %+v", code, got)
		}
		want := []string{"accepted", "accepted", "presentation_error", "wrong_answer"}
		for i, tr := range got.Tests {
			if tr.Status != want[i] {
				t.Errorf("test %d: %s %q, want %s", i, tr.Status, tr.Message, want[i])
			}
		}
		if !strings.Contains(got.Tests[3].Message, "for 3+21") {
			t.Errorf("checker message %q", got.Tests[3].Message)
		}
	})

	t.Run("a testlib checker compiles unchanged and decides", func(t *testing.T) {
		// testlib's classic ncmp: compare sequences of integers.
		checker := `#include "testlib.h"
using namespace std;
int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    int n = 0;
    while (!ans.seekEof() && !ouf.seekEof()) {
        n++;
        long long j = ans.readLong(), p = ouf.readLong();
        if (j != p)
            quitf(_wa, "%d%s numbers differ - expected: '%lld', found: '%lld'", n, englishEnding(n).c_str(), j, p);
    }
    if (!ans.seekEof()) quitf(_wa, "the answer is longer than the output");
    quitf(_ok, "%d numbers", n);
}
`
		prog := "a, b = map(int, input().split())\nprint({0: a + b, 1: a + b + 1, 2: 'x', 3: f'{a + b} 9'}[a % 4])\n"
		code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": prog, "tests": sums(4, nil),
			"checker": map[string]string{"language": "cpp", "code": checker}})
		if code != 200 || got.Verdict != "wrong_answer" || got.CheckerOutput != "" {
			t.Fatalf("%d %+v", code, got)
		}
		want := []struct{ status, message string }{
			{"accepted", "ok 1 numbers"},
			{"wrong_answer", "wrong answer 1st numbers differ - expected: '8', found: '9'"},
			{"presentation_error", `wrong output format output, line 1: expected an integer, found "x"`},
			{"presentation_error", "wrong output format Extra information in the output file"},
		}
		for i, tr := range got.Tests {
			if tr.Status != want[i].status || tr.Message != want[i].message {
				t.Errorf("test %d: %s %q, want %s %q", i, tr.Status, tr.Message, want[i].status, want[i].message)
			}
		}
	})

	t.Run("a checker that does not compile is a checker error", func(t *testing.T) {
		code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": pySum, "tests": sums(1, nil),
			"checker": map[string]string{"language": "cpp", "code": "int main( {"}})
		if code != 200 || got.Verdict != "checker_error" || got.CheckerOutput == "" {
			t.Fatalf("%d %+v", code, got)
		}
	})

	t.Run("no test sees what an earlier one left", func(t *testing.T) {
		prog := `import os, subprocess, sys
mode = input()
if mode == "leave":
    open("/tmp/x", "w").write("secret")
    subprocess.Popen(["sleep", "3600"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("left")
else:
    # PID 1, the lane agent, runs as the same user, and so does the
    # forking parent this test was forked from (docs/judge.md).
    def parent(p):
        try:
            return b".fork-" in open("/proc/%s/cmdline" % p, "rb").read()
        except OSError:
            return False
    procs = [p for p in os.listdir("/proc") if p.isdigit() and os.stat("/proc/" + p).st_uid == os.getuid() and int(p) not in (1, os.getpid()) and not parent(p)]
    print(os.path.exists("/tmp/x"), len(procs))
`
		code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": prog, "return_output": true, "tests": []test{
			{Input: "leave\n", ExpectedOutput: "left\n"}, {Input: "look\n", ExpectedOutput: "False 0\n"}, {Input: "look\n", ExpectedOutput: "False 0\n"}}})
		if code != 200 || got.Verdict != "accepted" {
			for _, tr := range got.Tests {
				if tr.Stdout != nil {
					t.Logf("test %d: %s %q", tr.Index, tr.Status, *tr.Stdout)
				}
			}
			t.Fatalf("%d %s %s", code, got.Verdict, got.Error)
		}
	})

	t.Run("each test's limits and figures are its own", func(t *testing.T) {
		prog := "import time\nn = int(input())\nb = bytearray(n << 20)\nif n == 0:\n    while True: pass\nprint(n)\n"
		// The tests that must end by themselves or by the memory limit get
		// the largest time limit: a slow machine must not turn them into
		// timeouts (400 MiB took over 2 s three times slower).
		roomy := map[string]int{"timeout_ms": 10000}
		code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": prog, "tests": []map[string]any{
			{"input": "100\n", "expected_output": "100\n", "limits": roomy},
			{"input": "1\n", "expected_output": "1\n", "limits": roomy},
			{"input": "0\n", "expected_output": "", "limits": map[string]int{"timeout_ms": 500}},
			{"input": "400\n", "expected_output": "400\n", "limits": roomy},
		}})
		if code != 200 || got.Verdict != "timeout" {
			t.Fatalf("%d %+v", code, got)
		}
		big, small, spin, bomb := got.Tests[0], got.Tests[1], got.Tests[2], got.Tests[3]
		if big.MemoryPeakBytes < 100<<20 || small.MemoryPeakBytes > 50<<20 {
			t.Errorf("memory peaks %d and %d, want each test's own", big.MemoryPeakBytes, small.MemoryPeakBytes)
		}
		if spin.Status != "timeout" || spin.TimeMS < 500 || spin.TimeMS > 2000 {
			t.Errorf("the 500 ms test: %+v", spin)
		}
		if bomb.Status != "memory_limit_exceeded" {
			t.Errorf("400 MiB under a 256 MiB limit: %+v", bomb)
		}
	})
}

func TestRunRealContestPrograms(t *testing.T) {
	s := startService(t, "--rate-limit", "0")
	t.Run("c++20 compiles as cpp20, and cpp stays c++17", func(t *testing.T) {
		prog := "#include <bits/stdc++.h>\nint main(){ std::set<int> s{1, 2, 3}; std::vector<int> v{3, 1, 2}; std::ranges::sort(v);\n  std::cout << std::ssize(v) << s.contains(2) << v[0] << \"\\n\"; }\n"
		body, _ := json.Marshal(map[string]string{"language": "cpp20", "code": prog})
		code, got := post(t, s.url, string(body))
		if code != 200 || got.Status != "success" || got.Stdout != "311\n" {
			t.Fatalf("cpp20: %d %+v", code, got)
		}
		body, _ = json.Marshal(map[string]string{"language": "cpp", "code": prog})
		if code, got := post(t, s.url, string(body)); code != 200 || got.Status != "compile_error" {
			t.Fatalf("cpp: %d %+v", code, got)
		}
	})
	t.Run("c++ recursion a million deep", func(t *testing.T) {
		// This row and the next must end by themselves: the largest time
		// limit, so that a slow machine cannot make them timeouts.
		code, got := post(t, s.url, `{"language":"cpp","code":"#include <cstdio>\nint f(int n){ volatile int pad[8]; pad[0]=n; return n == 0 ? 0 : 1 + f(n - 1) + pad[0]*0; }\nint main(){ std::printf(\"%d\\n\", f(1000000)); }","limits":{"timeout_ms":10000}}`)
		if code != 200 || got.Status != "success" || got.Stdout != "1000000\n" {
			t.Fatalf("%d %+v", code, got)
		}
	})
	t.Run("python recursion with setrecursionlimit", func(t *testing.T) {
		code, got := post(t, s.url, `{"language":"python","code":"import sys\nsys.setrecursionlimit(10**6)\ndef f(n): return 0 if n == 0 else 1 + f(n - 1)\nprint(f(200000))","limits":{"timeout_ms":10000}}`)
		if code != 200 || got.Status != "success" || got.Stdout != "200000\n" {
			t.Fatalf("%d %+v", code, got)
		}
	})
	t.Run("a program that fills its memory and stalls is memory_limit_exceeded", func(t *testing.T) {
		// Its verdict must come from the memory limit, not the clock: three
		// times the default time limit leaves a slow machine room to fork 40
		// times.
		code, got := post(t, s.url, `{"language":"python","code":"import os, time\nfor _ in range(40):\n    if os.fork() == 0:\n        b = bytearray(7 << 20)\n        for i in range(0, len(b), 4096): b[i] = 1\n        time.sleep(60)\ntime.sleep(60)","limits":{"timeout_ms":6000}}`)
		if code != 200 || got.Status != "memory_limit_exceeded" {
			t.Fatalf("%d %+v", code, got)
		}
	})
}

func TestJudgeClientGoneStopsEveryTest(t *testing.T) {
	s := startService(t, "--rate-limit", "0")
	var tests []map[string]any
	for range 20 {
		tests = append(tests, map[string]any{"input": "", "expected_output": "", "limits": map[string]int{"timeout_ms": 10000}})
	}
	b, _ := json.Marshal(map[string]any{"language": "python", "code": "while True: pass\n", "tests": tests})
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/judge", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got %d before the client went away", resp.StatusCode)
	}
	// The service stops the request's sandboxes at once: a normal request
	// is served right after, and the cleanup of startService checks that
	// nothing of the abandoned request is left.
	start := time.Now()
	code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": pySum, "tests": sums(2, nil)})
	if code != 200 || got.Verdict != "accepted" {
		t.Fatalf("%d %+v", code, got)
	}
	t.Logf("the next request was judged %s after the client went away", time.Since(start).Round(time.Millisecond))
	// Had the abandoned tests gone on, their lanes would hold sandbox slots
	// for 20 × 10 s; they must all be freed once teardown is done.
	deadline := time.Now().Add(testtiming.Settle)
	for {
		resp, err := http.Get(s.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(raw), "\ncodeexec_sandboxes_running 0\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("sandbox slots still taken after the client went away")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestJudgeLongerThanTheServersWriteTimeout is issue 22: the server's own
// write timeout (--answer-margin, 1 s here) is a bound for routes that run
// nothing; a judgement follows its own worst case, and one whose worst
// case passes --max-judge-duration is refused before anything runs.
func TestJudgeLongerThanTheServersWriteTimeout(t *testing.T) {
	const margin = time.Second
	s := startService(t, "--rate-limit", "0", "--answer-margin", margin.String(), "--max-judge-duration", "2m", "--judge-lanes", "2")
	t.Run("a judgement that outlasts the write timeout is answered with every test", func(t *testing.T) {
		// Four tests of a 1 s sleep on two lanes: at least 2 s, twice the
		// server's write timeout, however fast the machine.
		var tests []test
		for range 4 {
			tests = append(tests, test{Input: "", ExpectedOutput: "ok\n"})
		}
		start := time.Now()
		code, got := postJudge(t, s.url, map[string]any{"language": "python", "code": "import time\ntime.sleep(1)\nprint('ok')\n", "tests": tests})
		took := time.Since(start)
		if code != 200 || got.Verdict != "accepted" || got.Passed != 4 || len(got.Tests) != 4 {
			t.Fatalf("after %s: %d %+v", took, code, got)
		}
		if took < 2*margin {
			t.Errorf("answered in %s, which does not prove a judgement longer than the %s write timeout is answered", took, margin)
		}
	})
	t.Run("a worst case past max_judge_duration is a 400 before anything runs", func(t *testing.T) {
		// 50 tests of 10 s on two lanes: 25 rounds of 11 s, past 2 min.
		var tests []map[string]any
		for range 50 {
			tests = append(tests, map[string]any{"input": "", "expected_output": "", "limits": map[string]int{"timeout_ms": 10000}})
		}
		start := time.Now()
		code, got := postJudge(t, s.url, map[string]any{"language": "cpp", "code": "int main(){}", "tests": tests})
		if code != 400 || !strings.Contains(got.Error, "max_judge_duration 2m0s") {
			t.Fatalf("%d %+v", code, got)
		}
		// Refused before anything runs: no C++ build (about a second).
		if took := time.Since(start); took > testtiming.EarlyStop {
			t.Errorf("refused after %s, want it before anything ran", took)
		}
	})
	t.Run("GET /runtimes shows the ceiling", func(t *testing.T) {
		resp, err := http.Get(s.url + "/runtimes")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Judge struct {
				MaxJudgeDurationMS int64 `json:"max_judge_duration_ms"`
			} `json:"judge"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Judge.MaxJudgeDurationMS != 120000 {
			t.Errorf("judge.max_judge_duration_ms %d (%v), want 120000", body.Judge.MaxJudgeDurationMS, err)
		}
	})
}
