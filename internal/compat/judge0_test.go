package compat

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

// testRuntimes are runtimes as the runner describes them, with its
// default limits and maxima.
func testRuntimes() []runner.Runtime {
	rt := func(lang, version string, compiled bool) runner.Runtime {
		r := runner.Runtime{Language: lang, Version: version, SourceFile: "main.x", Run: []string{"/job/main"}}
		if compiled {
			r.Compile = []string{"cc", "main.x"}
		}
		r.Limits.TimeoutMS, r.Limits.MemoryBytes, r.Limits.Pids, r.Limits.OutputBytes = 2000, 256<<20, 64, 64<<10
		r.MaxLimits.TimeoutMS, r.MaxLimits.MemoryBytes, r.MaxLimits.Pids, r.MaxLimits.OutputBytes = 10000, 1<<30, 256, 1<<20
		return r
	}
	return []runner.Runtime{rt("python", "Python 3.11 (Debian 12)", false), rt("cpp", "g++ 12, C++17 (Debian 12)", true), rt("cpp20", "g++ 12, C++20", true)}
}

func TestJudge0LanguagesAreJudge0sIdsWithOurVersions(t *testing.T) {
	got := Judge0LanguageList(testRuntimes())
	want := []Judge0LanguageView{{54, "C++ (GCC 12)"}, {71, "Python (3.11)"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("languages %+v, want %+v", got, want)
	}
	d, ok := Judge0LanguageByID(testRuntimes(), 54)
	if !ok || d.CompileCmd == nil || *d.CompileCmd != "cc main.x" || d.RunCmd != "/job/main" || d.IsArchived {
		t.Fatalf("language 54: %+v %v", d, ok)
	}
	if _, ok := Judge0LanguageByID(testRuntimes(), 62); ok {
		t.Fatal("Java is not among these runtimes")
	}
	// Judge0 CE 1.13's ids, checked against its db/languages/active.rb.
	ids := map[string]int{}
	for _, l := range Judge0Languages {
		ids[l.Ours] = l.ID
	}
	for lang, id := range map[string]int{"python": 71, "cpp": 54, "c": 50, "java": 62, "javascript": 63, "typescript": 74,
		"go": 60, "rust": 73, "ruby": 72, "php": 68, "bash": 46, "csharp": 51} {
		if ids[lang] != id {
			t.Errorf("%s is %d, Judge0's id is %d", lang, ids[lang], id)
		}
	}
}

func TestJudge0StatusesAreJudge0s(t *testing.T) {
	if len(Judge0Statuses) != 14 {
		t.Fatalf("%d statuses", len(Judge0Statuses))
	}
	for i, s := range Judge0Statuses {
		if s.ID != i+1 {
			t.Fatalf("status %d has id %d", i+1, s.ID)
		}
	}
	if Judge0StatusOf(3).Description != "Accepted" || Judge0StatusOf(11).Description != "Runtime Error (NZEC)" ||
		Judge0StatusOf(99).ID != J0InternalError {
		t.Fatal("statuses by id")
	}
}

func decodeJudge0(t *testing.T, body string) Judge0Request {
	t.Helper()
	var r Judge0Request
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return r
}

func TestJudge0RequestValidation(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name, body string
		b64        bool
		want       Judge0Invalid
	}{
		{"no language", `{"source_code":"x"}`, false, Judge0Invalid{"language_id": {"can't be blank"}}},
		{"an unknown language", `{"source_code":"x","language_id":150000}`, false, Judge0Invalid{"language_id": {"language with id 150000 doesn't exist"}}},
		{"blank source", `{"source_code":"  ","language_id":71}`, false, Judge0Invalid{"source_code": {"can't be blank"}}},
		{"over the maximum", `{"source_code":"x","language_id":71,"wall_time_limit":100000}`, false, Judge0Invalid{"wall_time_limit": {"must be less than or equal to 10.0"}}},
		{"below the minimum", `{"source_code":"x","language_id":"71","memory_limit":"1000"}`, false, Judge0Invalid{"memory_limit": {"must be greater than or equal to 2048.0"}}},
		{"not a number", `{"source_code":"x","language_id":71,"cpu_time_limit":"fast"}`, false, Judge0Invalid{"cpu_time_limit": {"is not a number"}}},
		{"a fraction of a process", `{"source_code":"x","language_id":71,"max_processes_and_or_threads":1.5}`, false, Judge0Invalid{"max_processes_and_or_threads": {"must be an integer"}}},
		{"the network", `{"source_code":"x","language_id":71,"enable_network":true}`, false, Judge0Invalid{"enable_network": {"enabling network is not allowed"}}},
		{"compiler options", `{"source_code":"x","language_id":54,"compiler_options":"-O3"}`, false, Judge0Invalid{"compiler_options": {"setting compiler options is not allowed"}}},
		{"additional files", `{"source_code":"x","language_id":54,"additional_files":"UEsDBA=="}`, false, Judge0Invalid{"additional_files": {"setting additional files is not allowed"}}},
		{"per-process limits", `{"source_code":"x","language_id":54,"enable_per_process_and_thread_time_limit":"true"}`, false, Judge0Invalid{"enable_per_process_and_thread_time_limit": {"this option cannot be enabled"}}},
		{"not base64", `{"source_code":"!!!","language_id":71}`, true, Judge0Invalid{"source_code": {"is not Base64: illegal base64 data at input byte 0"}}},
		{"long arguments", `{"source_code":"x","language_id":71,"command_line_arguments":"` + strings.Repeat("a", 513) + `"}`, false, Judge0Invalid{"command_line_arguments": {"is too long (maximum is 512 characters)"}}},
		{"an open quote", `{"source_code":"x","language_id":71,"command_line_arguments":"'a"}`, false, Judge0Invalid{"command_line_arguments": {"cannot be split into words: invalid command line string"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeJudge0(t, tc.body).Job(testRuntimes(), tc.b64, now)
			var got Judge0Invalid
			if !errors.As(err, &got) || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestJudge0RequestMapsOntoARun(t *testing.T) {
	j, err := decodeJudge0(t, `{"source_code":"cHJpbnQoaW5wdXQoKSk=\n","language_id":"71","stdin":"SnVkZ2Uw","expected_output":"SnVkZ2Uw",
		"cpu_time_limit":1,"cpu_extra_time":"0.5","wall_time_limit":3,"memory_limit":128000,"max_processes_and_or_threads":30,
		"max_file_size":512,"command_line_arguments":"a 'b c' $HOME;rm","number_of_runs":3,"stack_limit":64000,"unknown_field":1}`).Job(testRuntimes(), true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req := j.RunRequest("python")
	want := runner.Request{Language: "python", Code: "print(input())", Input: "Judge0", Args: []string{"a", "b c", "HOMErm"},
		Limits: runner.Limits{Timeout: 1500 * time.Millisecond, MemoryBytes: 128000 * 1024, Pids: 30, OutputBytes: 512 * 1024}}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("run %+v\nwant %+v", req, want)
	}
	// Without limits, the service's defaults apply and are shown.
	j, _ = decodeJudge0(t, `{"source_code":"x","language_id":71}`).Job(testRuntimes(), false, time.Now())
	if r := j.RunRequest("python"); r.Limits != (runner.Limits{}) {
		t.Fatalf("limits %+v", r.Limits)
	}
	v, _ := Judge0View("t", j, J0InQueue, nil, testRuntimes(), Judge0Fields, false)
	if v["cpu_time_limit"] != "2.0" || v["memory_limit"] != int64(256*1024) || v["max_file_size"] != int64(64) || v["status_id"] != 1 {
		t.Fatalf("defaults shown %v", v)
	}
}

func TestJudge0Outcome(t *testing.T) {
	ip := func(i int) *int { return &i }
	job := Judge0Job{CPUTimeLimit: 2, WallTime: 2}
	expect := func(s string) Judge0Job { j := job; j.Expected, j.HasExpected = []byte(s), true; return j }
	for _, tc := range []struct {
		name    string
		job     Judge0Job
		res     runner.Result
		status  int
		message string
	}{
		{"no expected output", job, runner.Result{Status: runner.StatusSuccess, Stdout: "x", ExitCode: ip(0)}, J0Accepted, ""},
		{"trailing spaces and lines", expect("1 2\n3\n"), runner.Result{Status: runner.StatusSuccess, Stdout: "1 2  \n3\n\n\n", ExitCode: ip(0)}, J0Accepted, ""},
		{"a different line", expect("1 2\n3"), runner.Result{Status: runner.StatusSuccess, Stdout: "1  2\n3", ExitCode: ip(0)}, J0WrongAnswer, ""},
		{"leading space counts", expect("1"), runner.Result{Status: runner.StatusSuccess, Stdout: " 1", ExitCode: ip(0)}, J0WrongAnswer, ""},
		{"out of time", job, runner.Result{Status: runner.StatusTimeout, Signal: "SIGKILL"}, J0TimeLimit, "Time limit exceeded"},
		{"over the CPU limit", job, runner.Result{Status: runner.StatusSuccess, ExitCode: ip(0), CPUTime: 2100 * time.Millisecond}, J0TimeLimit, "Time limit exceeded"},
		{"SIGSEGV", job, runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGSEGV"}, J0SIGSEGV, "Caught fatal signal 11"},
		{"SIGFPE", job, runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGFPE"}, J0SIGFPE, "Caught fatal signal 8"},
		{"SIGABRT", job, runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGABRT"}, J0SIGABRT, "Caught fatal signal 6"},
		{"SIGXFSZ", job, runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGXFSZ"}, J0SIGXFSZ, "Caught fatal signal 25"},
		{"SIGTERM", job, runner.Result{Status: runner.StatusRuntimeError, Signal: "SIGTERM"}, J0RuntimeOther, "Caught fatal signal 15"},
		{"a non-zero exit", job, runner.Result{Status: runner.StatusRuntimeError, ExitCode: ip(3)}, J0NZEC, "Exited with error status 3"},
		{"the memory limit", job, runner.Result{Status: runner.StatusMemoryLimitExceeded, Signal: "SIGKILL"}, J0RuntimeOther, "Memory limit exceeded"},
		{"the output limit", job, runner.Result{Status: runner.StatusOutputLimitExceeded}, J0SIGXFSZ, "Output limit exceeded"},
		{"a compile error", job, runner.Result{Status: runner.StatusCompileError, CompileOutput: "main.cpp:1: error"}, J0CompilationError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Judge0Outcome(tc.job, tc.res, time.Now())
			if got.StatusID != tc.status || got.Message != tc.message {
				t.Fatalf("status %d %q, want %d %q", got.StatusID, got.Message, tc.status, tc.message)
			}
			if tc.status == J0CompilationError && (string(got.CompileOutput) != tc.res.CompileOutput || got.Time != nil || got.Memory != nil) {
				t.Fatalf("compile error %+v", got)
			}
			if tc.res.Signal != "" && tc.status != J0CompilationError && (got.ExitSignal == nil || got.ExitCode == nil || *got.ExitCode != 0) {
				t.Fatalf("a signal's exit: %+v", got)
			}
		})
	}
	r := Judge0Outcome(Judge0Job{CPUTimeLimit: 2, WallTime: 2, Redirect: true},
		runner.Result{Status: runner.StatusSuccess, Stdout: "a", Stderr: "b", ExitCode: ip(0), CPUTime: 1234567 * time.Microsecond, MemoryPeakBytes: 380 * 1024}, time.Now())
	if string(r.Stdout) != "ab" || r.Stderr != nil || *r.Time != 1.235 || *r.Memory != 380 {
		t.Fatalf("%+v", r)
	}
}

func TestJudge0ViewIsJudge0sShape(t *testing.T) {
	job := Judge0Job{LanguageID: 71, Expected: []byte("hello, Judge0"), HasExpected: true, CPUTimeLimit: 5, WallTime: 10}
	ip := func(i int) *int { return &i }
	res := Judge0Outcome(job, runner.Result{Status: runner.StatusSuccess, Stdout: "hello, Judge0\n", ExitCode: ip(0),
		CPUTime: time.Millisecond, MemoryPeakBytes: 376 * 1024}, time.Now())
	// Judge0's documented answer of GET /submissions/{token}.
	v, err := Judge0View("4e00f214-b8cb-4fcb-977b-429113c81ece", job, 0, &res, testRuntimes(), Judge0DefaultFields, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	var got, want map[string]any
	json.Unmarshal(b, &got)
	json.Unmarshal([]byte(`{"stdout": "aGVsbG8sIEp1ZGdlMAo=\n", "time": "0.001", "memory": 376, "stderr": null,
		"token": "4e00f214-b8cb-4fcb-977b-429113c81ece", "compile_output": null, "message": null,
		"status": {"id": 3, "description": "Accepted"}}`), &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %s\nwant %v", b, want)
	}
	// Without base64, a text that is not UTF-8 is Judge0's error.
	res.Stdout = []byte{0xfe}
	if _, err := Judge0View("t", job, 0, &res, testRuntimes(), Judge0DefaultFields, false); !errors.Is(err, ErrJudge0NotUTF8) {
		t.Fatalf("err %v", err)
	}
	if v, _ := Judge0View("t", job, J0Processing, nil, testRuntimes(), []string{"status", "language", "stdout"}, false); v["stdout"] != nil ||
		v["status"] != Judge0StatusOf(2) || v["language"] != (Judge0LanguageView{71, "Python (3.11)"}) || len(v) != 3 {
		t.Fatalf("a running one: %v", v)
	}
}

func TestJudge0Fields(t *testing.T) {
	for in, want := range map[string][]string{
		"":                        Judge0DefaultFields,
		"*":                       Judge0Fields,
		"stdout,status_id,stdout": {"stdout", "status_id"},
	} {
		if got, err := ParseJudge0Fields(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseJudge0Fields("stdout,nope,bad"); err == nil || err.Error() != "invalid fields: [nope, bad]" {
		t.Fatalf("%v", err)
	}
}

func TestRubyBase64(t *testing.T) {
	long := strings.Repeat("x", 100)
	enc := EncodeRubyBase64([]byte(long))
	lines := strings.Split(strings.TrimSuffix(enc, "\n"), "\n")
	if len(lines) != 3 || len(lines[0]) != 60 || !strings.HasSuffix(enc, "\n") {
		t.Fatalf("%q", enc)
	}
	for _, in := range []string{enc, strings.ReplaceAll(enc, "\n", ""), "eHh4\n", "eHg", "eHg="} {
		if b, err := DecodeRubyBase64(in); err != nil || !strings.HasPrefix(long, string(b)) || len(b) == 0 {
			t.Errorf("%q: %q %v", in, b, err)
		}
	}
	if EncodeRubyBase64(nil) != "" {
		t.Fatal("empty")
	}
}
