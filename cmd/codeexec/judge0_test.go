package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeSpeaksJudge0 runs Judge0 CE's documented requests on the real
// service, under /judge0, and compares the answers with Judge0's
// documented ones field by field: the statuses a judge needs (accepted,
// wrong answer, compilation error, time limit, runtime errors by signal
// and by exit code), base64 both ways, a queued submission and a batch.
func TestServeSpeaksJudge0(t *testing.T) {
	s := startService(t)
	var langs []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if code := do(t, http.MethodGet, s.url+"/judge0/languages", "", nil, &langs); code != http.StatusOK || len(langs) < 11 {
		t.Fatalf("languages: %d %+v", code, langs)
	}
	byID := map[int]string{}
	for _, l := range langs {
		byID[l.ID] = l.Name
	}
	if !regexp.MustCompile(`^Python \(3\.\d+\)$`).MatchString(byID[71]) || !strings.HasPrefix(byID[54], "C++ (GCC ") || !strings.HasPrefix(byID[62], "Java (OpenJDK ") {
		t.Fatalf("languages %v", byID)
	}
	submit := func(query, body string) (int, map[string]any) {
		var v map[string]any
		return do(t, http.MethodPost, s.url+"/judge0/submissions"+query, "application/json", []byte(body), &v), v
	}
	// Judge0's documented example of ?wait=true (its language 4 is an
	// older GCC's C; 50 is C in CE 1.13) and its documented answer.
	const hello = `#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}`
	code, v := submit("?wait=true", `{"source_code": "`+hello+`", "language_id": "50", "stdin": "Judge0", "expected_output": "hello, Judge0"}`)
	documented := map[string]any{"stdout": "hello, Judge0\n", "stderr": nil, "compile_output": nil, "message": nil,
		"status": map[string]any{"id": 3.0, "description": "Accepted"}}
	if code != http.StatusCreated || len(v) != 8 {
		t.Fatalf("wait=true: %d %v", code, v)
	}
	for k, want := range documented {
		if !sameJSON(v[k], want) {
			t.Errorf("%s is %v; Judge0 documents %v", k, v[k], want)
		}
	}
	if tm, _ := v["time"].(string); !regexp.MustCompile(`^\d+\.\d+$`).MatchString(tm) {
		t.Errorf("time %v is not Judge0's decimal string", v["time"])
	}
	if m, _ := v["memory"].(float64); m <= 0 || m != float64(int(m)) {
		t.Errorf("memory %v is not a number of KB", v["memory"])
	}
	if tok, _ := v["token"].(string); len(tok) != 36 {
		t.Errorf("token %v", v["token"])
	}
	for _, tc := range []struct {
		name, body string
		status     float64
		message    string
	}{
		{"wrong answer", `{"source_code":"print(2)","language_id":71,"expected_output":"3"}`, 4, ""},
		{"compilation error", `{"source_code":"int main( {","language_id":54}`, 6, ""},
		{"time limit", `{"source_code":"while True: pass","language_id":71,"cpu_time_limit":0.5}`, 5, "Time limit exceeded"},
		{"SIGSEGV", `{"source_code":"int main(void) { volatile int *p = 0; return *p; }","language_id":50}`, 7, "Caught fatal signal 11"},
		{"SIGFPE", `{"source_code":"int main(int c, char **v) { volatile int n = 7, z = c - 1; return n / z; }","language_id":50}`, 9, "Caught fatal signal 8"},
		{"SIGABRT", `{"source_code":"#include <stdlib.h>\nint main(void) { abort(); }","language_id":50}`, 10, "Caught fatal signal 6"},
		{"NZEC", `{"source_code":"import sys; sys.exit(3)","language_id":71}`, 11, "Exited with error status 3"},
		{"arguments", `{"source_code":"import sys; print(sys.argv[1:])","language_id":71,"command_line_arguments":"a 'b c'","expected_output":"['a', 'b c']"}`, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, v := submit("?wait=true&fields=status,message,compile_output,exit_code,exit_signal", tc.body)
			st, _ := v["status"].(map[string]any)
			if code != http.StatusCreated || st["id"] != tc.status || (tc.message != "" && v["message"] != tc.message) {
				t.Fatalf("%d %v", code, v)
			}
			if tc.status == 6 && !strings.Contains(v["compile_output"].(string), "error") {
				t.Fatalf("compile output %v", v)
			}
		})
	}
	// Base64: Judge0's documented request, and its answer decoded.
	code, v = submit("?base64_encoded=true&wait=true&fields=stdout,status_id", `{"source_code":"I2luY2x1ZGUgPHN0ZGlvLmg+CgppbnQgbWFpbih2b2lkKSB7CiAgY2hhciBuYW1lWzEwXTsKICBzY2FuZigiJXMiLCBuYW1lKTsKICBwcmludGYoImhlbGxvLCAlc1xuIiwgbmFtZSk7CiAgcmV0dXJuIDA7Cn0=","language_id":50,"stdin":"SnVkZ2Uw"}`)
	if code != http.StatusCreated || v["stdout"] != "aGVsbG8sIEp1ZGdlMAo=\n" || v["status_id"] != 3.0 {
		t.Fatalf("base64: %d %v", code, v)
	}
	// An answer that is not UTF-8, asked without base64: Judge0's error.
	code, v = submit("?wait=true", `{"language_id":71,"source_code":"import sys; sys.stdout.buffer.write(b'\\xfe')"}`)
	if code != http.StatusCreated || v["error"] != "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter" {
		t.Fatalf("not UTF-8: %d %v", code, v)
	}
	// Queued, then fetched by token, and a batch.
	code, v = submit("", `{"source_code":"print(int(input()) * 2)","language_id":71,"stdin":"21","expected_output":"42"}`)
	token, _ := v["token"].(string)
	if code != http.StatusCreated || token == "" {
		t.Fatalf("queued: %d %v", code, v)
	}
	var batch []map[string]string
	if code := do(t, http.MethodPost, s.url+"/judge0/submissions/batch", "application/json",
		[]byte(`{"submissions":[{"source_code":"print(1)","language_id":71},{"source_code":"puts 2","language_id":72}]}`), &batch); code != http.StatusCreated || len(batch) != 2 {
		t.Fatalf("batch: %d %v", code, batch)
	}
	tokens := token + "," + batch[0]["token"] + "," + batch[1]["token"]
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got struct {
			Submissions []map[string]any `json:"submissions"`
		}
		if code := do(t, http.MethodGet, s.url+"/judge0/submissions/batch?fields=status_id,stdout&tokens="+tokens, "", nil, &got); code != http.StatusOK || len(got.Submissions) != 3 {
			t.Fatalf("batch get: %d %v", code, got)
		}
		if got.Submissions[0]["status_id"].(float64) > 2 && got.Submissions[1]["status_id"].(float64) > 2 && got.Submissions[2]["status_id"].(float64) > 2 {
			for i, want := range []string{"42\n", "1\n", "2\n"} {
				if got.Submissions[i]["status_id"] != 3.0 || got.Submissions[i]["stdout"] != want {
					t.Fatalf("batch %d: %v", i, got.Submissions[i])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not finished: %v", got.Submissions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var one map[string]any
	if code := do(t, http.MethodGet, s.url+"/judge0/submissions/"+token+"?fields=*", "", nil, &one); code != http.StatusOK ||
		one["language_id"] != 71.0 || one["stdin"] != "21" || one["finished_at"] == nil || one["wall_time"] == nil {
		t.Fatalf("by token: %d %v", code, one)
	}
}

// sameJSON compares two values as JSON.
func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
