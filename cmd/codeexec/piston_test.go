package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/compat"
)

// pistonAnswer is Piston's answer, or its error's message.
type pistonAnswer struct {
	compat.PistonResponse
	Message string `json:"message"`
}

// TestServeSpeaksPiston runs programs through Piston v2's API on the real
// service: arguments, a second file, a compile error, a timeout.
func TestServeSpeaksPiston(t *testing.T) {
	s := startService(t)
	var rts []struct {
		Language string   `json:"language"`
		Version  string   `json:"version"`
		Aliases  []string `json:"aliases"`
	}
	if code := do(t, http.MethodGet, s.url+"/api/v2/runtimes", "", nil, &rts); code != http.StatusOK || len(rts) == 0 {
		t.Fatalf("runtimes: %d %+v", code, rts)
	}
	execute := func(body string) (int, pistonAnswer) {
		var a pistonAnswer
		return do(t, http.MethodPost, s.url+"/api/v2/execute", "application/json", []byte(body), &a), a
	}
	code, a := execute(`{"language":"py","version":"*","files":[{"name":"main.py","content":"import sys, helper\nprint(helper.twice(int(sys.argv[1])) + int(input()))"},
		{"name":"helper.py","content":"ZGVmIHR3aWNlKHgpOiByZXR1cm4gMiAqIHgK","encoding":"base64"}],"stdin":"1\n","args":["20"]}`)
	if code != http.StatusOK || a.Language != "python" || a.Run == nil || a.Run.Stdout != "41\n" || *a.Run.Code != 0 || a.Compile != nil {
		t.Fatalf("python: %d %+v %+v", code, a, a.Run)
	}
	code, a = execute(`{"language":"c++","version":"*","files":[{"content":"int main( {"}]}`)
	if code != http.StatusOK || a.Run != nil || a.Compile == nil || *a.Compile.Code == 0 || !strings.Contains(a.Compile.Stderr, "error") {
		t.Fatalf("compile error: %d %+v", code, a)
	}
	code, a = execute(`{"language":"python","version":"*","files":[{"content":"while True: pass"}],"run_timeout":500}`)
	if code != http.StatusOK || a.Run == nil || a.Run.Status == nil || *a.Run.Status != "TO" || a.Run.Signal == nil || *a.Run.Signal != "SIGKILL" {
		t.Fatalf("timeout: %d %+v", code, a.Run)
	}
	code, a = execute(`{"language":"python","version":"2.7","files":[{"content":"print 1"}]}`)
	if code != http.StatusBadRequest || a.Message != "python-2.7 runtime is unknown" {
		t.Fatalf("unknown version: %d %+v", code, a)
	}
}
