package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckResponse(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		body       string
		wantStdout string
		wantErr    string // empty: no error
	}{
		{"a success returns stdout", 200, `{"status":"success","stdout":"hi\n","time_ms":3}`, "hi\n", ""},
		{"a runtime error is an error with its stderr", 200, `{"status":"runtime_error","stdout":"","stderr":"Traceback: boom"}`, "", `status "runtime_error"`},
		{"a compile error carries the compiler's output", 200, `{"status":"compile_error","compile_output":"main.cpp:1: error"}`, "", "main.cpp:1: error"},
		{"a 429 is an error with the service's message", 429, `{"error":"rate limit exceeded"}`, "", "HTTP 429: rate limit exceeded"},
		{"a 503 is an error", 503, `{"error":"busy"}`, "", "HTTP 503"},
		{"a body that is not JSON is an error", 502, `<html>bad gateway</html>`, "", "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := checkResponse(tc.code, []byte(tc.body))
			if tc.wantErr == "" && err != nil {
				t.Fatalf("got error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if stdout != tc.wantStdout {
				t.Errorf("stdout %q, want %q", stdout, tc.wantStdout)
			}
		})
	}
	t.Run("every numeric _ms field is kept as a server timing", func(t *testing.T) {
		_, server, err := checkResponse(200, []byte(`{"status":"success","stdout":"","time_ms":4,"queue_ms":0,"prepare_ms":12,"compile_ms":null,"cpu_time_ms":2,"exit_code":0}`))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"time_ms": 4, "queue_ms": 0, "prepare_ms": 12, "cpu_time_ms": 2}
		if len(server) != len(want) {
			t.Fatalf("got %v, want %v", server, want)
		}
		for k, v := range want {
			if server[k] != v {
				t.Errorf("%s = %v, want %v", k, server[k], v)
			}
		}
	})
}

func TestCheck(t *testing.T) {
	p := Program{Name: "sum", Want: "42\n"}
	tests := []struct {
		name    string
		o       Outcome
		wantErr string
	}{
		{"the exact answer passes", Outcome{Stdout: "42\n"}, ""},
		{"a wrong answer is an error, not a sample", Outcome{Stdout: "41\n"}, "wrong answer"},
		{"a missing newline is a wrong answer", Outcome{Stdout: "42"}, "wrong answer"},
		{"the method's own error wins", Outcome{Stdout: "42\n", Err: errors.New("ctr: exit status 1")}, "ctr: exit status 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := check(p, tc.o)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("got %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestProgramsPrintWhatTheyWant(t *testing.T) {
	for _, p := range Programs() {
		if p.Want == "" || p.Code == "" || (p.Language != "python" && p.Language != "cpp") {
			t.Errorf("%s: incomplete: %+v", p.Name, p)
		}
	}
	if !includesStdcpp(Programs()) {
		t.Error("no program includes <bits/stdc++.h>")
	}
}
