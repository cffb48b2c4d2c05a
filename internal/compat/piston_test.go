package compat

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

var ours = map[string]string{"python": "Python 3.11 (Debian 12)", "cpp": "g++ 12, C++17 (Debian 12)", "bash": "GNU Bash 5.2"}

func src(lang string) string {
	return map[string]string{"python": "main.py", "cpp": "main.cpp", "bash": "main.sh"}[lang]
}

func TestPistonRuntimesAndVersions(t *testing.T) {
	rts := PistonRuntimes(ours)
	if len(rts) != 3 || rts[0].Language != "python" || rts[0].Version != "3.11" || rts[1].Language != "c++" || rts[1].Version != "12" {
		t.Fatalf("runtimes %+v", rts)
	}
	for _, tc := range []struct {
		lang, version, want string
		ok                  bool
	}{
		{"python", "*", "python", true}, {"py", "3", "python", true}, {"python3", "3.11", "python", true},
		{"cpp", "", "c++", true}, {"g++", "12", "c++", true}, {"sh", "*", "bash", true},
		{"python", "3.10.0", "", false}, {"python", "2", "", false}, {"cobol", "*", "", false}, {"ruby", "*", "", false},
	} {
		l, _, err := Resolve(ours, tc.lang, tc.version)
		if (err == nil) != tc.ok || tc.ok && l.Name != tc.want {
			t.Errorf("%s-%s: %+v %v", tc.lang, tc.version, l, err)
		}
		if !tc.ok && err.Error() != tc.lang+"-"+tc.version+" runtime is unknown" {
			t.Errorf("message %q", err)
		}
	}
}

func TestPistonRequestToRun(t *testing.T) {
	ms := func(v int64) *int64 { return &v }
	p := PistonRequest{Language: "py", Version: "*", Stdin: "in", Args: []string{"a", "b"},
		Files:      []PistonFile{{Name: "x.py", Content: "print(1)"}, {Name: "lib.py", Content: "6869", Encoding: "hex"}, {Name: "d.txt", Content: "aGk=", Encoding: "base64"}},
		RunTimeout: ms(1500), CompileTimeout: ms(-1), RunMemoryLimit: ms(64 << 20)}
	req, l, v, err := p.ToRun(ours, src)
	if err != nil || l.Name != "python" || v != "3.11" {
		t.Fatal(err, l, v)
	}
	if req.Language != "python" || req.Code != "print(1)" || req.Input != "in" || strings.Join(req.Args, " ") != "a b" ||
		req.Files["lib.py"] != "hi" || req.Files["d.txt"] != "hi" || req.Limits.Timeout != 1500*time.Millisecond ||
		req.Limits.CompileTimeout != 0 || req.Limits.MemoryBytes != 64<<20 {
		t.Fatalf("%+v", req)
	}
	for _, tc := range []struct {
		name string
		p    PistonRequest
		want string
	}{
		{"no files", PistonRequest{Language: "py"}, "files is required"},
		{"a bad encoding", PistonRequest{Language: "py", Files: []PistonFile{{Content: "x", Encoding: "rot13"}}}, "encoding"},
		{"bad base64", PistonRequest{Language: "py", Files: []PistonFile{{Content: "!!", Encoding: "base64"}}}, "not base64"},
		{"a second file without a name", PistonRequest{Language: "py", Files: []PistonFile{{Content: "x"}, {Content: "y"}}}, "name is required"},
		{"a path", PistonRequest{Language: "py", Files: []PistonFile{{Content: "x"}, {Name: "../x", Content: "y"}}}, "plain file name"},
		{"the source's name", PistonRequest{Language: "py", Files: []PistonFile{{Content: "x"}, {Name: "main.py", Content: "y"}}}, "plain file name"},
		{"a zero timeout", PistonRequest{Language: "py", Files: []PistonFile{{Content: "x"}}, RunTimeout: ms(0)}, "run_timeout"},
		{"an unknown runtime", PistonRequest{Language: "py", Version: "4", Files: []PistonFile{{Content: "x"}}}, "py-4 runtime is unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := tc.p.ToRun(ours, src)
			var pe PistonError
			if !errors.As(err, &pe) || !strings.Contains(pe.Message, tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPistonAnswer(t *testing.T) {
	zero, one := 0, 1
	py, cpp := PistonLanguages[0], PistonLanguages[4]
	a := PistonAnswer(py, "3.11", false, runner.Result{Status: runner.StatusSuccess, Stdout: "o", Stderr: "e", ExitCode: &zero,
		Time: 12 * time.Millisecond, CPUTime: 8 * time.Millisecond, MemoryPeakBytes: 1 << 20})
	if a.Compile != nil || a.Run.Output != "oe" || *a.Run.Code != 0 || a.Run.Signal != nil || a.Run.Status != nil || a.Run.WallTime != 12 || a.Run.CPUTime != 8 || a.Run.Memory != 1<<20 {
		t.Fatalf("%+v %+v", a, a.Run)
	}
	a = PistonAnswer(py, "3.11", false, runner.Result{Status: runner.StatusTimeout, Signal: "SIGKILL"})
	if *a.Run.Status != "TO" || *a.Run.Signal != "SIGKILL" || a.Run.Code != nil {
		t.Fatalf("timeout %+v", a.Run)
	}
	a = PistonAnswer(py, "3.11", false, runner.Result{Status: runner.StatusRuntimeError, ExitCode: &one})
	if *a.Run.Status != "RE" || *a.Run.Code != 1 {
		t.Fatalf("exit 1 %+v", a.Run)
	}
	a = PistonAnswer(cpp, "12", true, runner.Result{Status: runner.StatusCompileError, CompileOutput: "error: x", ExitCode: &one})
	if a.Run != nil || a.Compile == nil || *a.Compile.Code != 1 || a.Compile.Stderr != "error: x" {
		t.Fatalf("compile error %+v", a)
	}
	a = PistonAnswer(cpp, "12", true, runner.Result{Status: runner.StatusSuccess, ExitCode: &zero})
	if a.Run == nil || a.Compile == nil || *a.Compile.Code != 0 {
		t.Fatalf("compiled %+v", a)
	}
}
