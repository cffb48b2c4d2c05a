package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/runner/runnertest"
)

func TestRunCommand(t *testing.T) {
	cfg := runnertest.Config(t)
	env := map[string]string{"CODEEXEC_CONTAINERD_SOCKET": cfg.Socket, "CODEEXEC_NAMESPACE": cfg.Namespace, "CODEEXEC_LANE_AGENT": cfg.LaneAgent}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, lang, file, code, input string
		exit                          int
		stdout, stderrHas             string
	}{
		{"a python program reads stdin and succeeds", "python", "echo.py", "print(input() * 2)", "ab\n", 0, "abab\n", "codeexec: success (exit code 0"},
		{"a runtime error exits 10", "python", "fail.py", "raise SystemExit(3)", "", 10, "", "runtime_error (exit code 3"},
		{"a compile error exits 11 and shows the diagnostics", "cpp", "bad.cpp", "int main( {", "", 11, "", "error:"},
		{"a timeout exits 12", "python", "loop.py", "while True: pass", "", 12, "", "timeout (signal SIGKILL"},
		{"a memory bomb exits 13", "python", "bomb.py", "b = []\nwhile True: b.append(bytearray(16 << 20))", "", 13, "", "memory_limit_exceeded"},
		{"a cpp program compiles and runs", "cpp", "ok.cpp", "#include <cstdio>\nint main(){ std::puts(\"hi\"); }", "", 0, "hi\n", "success"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{"--language", tc.lang, "--state-dir", filepath.Join(cfg.StateDir, "cli")}
			if tc.exit != statusExitCodes[runner.StatusTimeout] {
				// Only the timeout row races the clock on purpose; the
				// others get the largest limit, so that a slow machine
				// cannot turn a memory bomb into a timeout.
				args = append(args, "--run-timeout", "10s")
			}
			err := runCmd(context.Background(), append(args, write(tc.file, tc.code)),
				strings.NewReader(tc.input), &stdout, &stderr, func(k string) string { return env[k] })
			code := 0
			var exit exitError
			if errors.As(err, &exit) {
				code = exit.code
			} else if err != nil {
				t.Fatalf("run failed: %v\n%s", err, stderr.String())
			}
			if code != tc.exit || stdout.String() != tc.stdout || !strings.Contains(stderr.String(), tc.stderrHas) {
				t.Fatalf("exit %d stdout %q stderr %q; want %d %q %q", code, stdout.String(), stderr.String(), tc.exit, tc.stdout, tc.stderrHas)
			}
			// Each invocation has a state directory of its own, which the
			// check of a runner's own configuration would not see: nothing
			// of any runner may be left in the namespace.
			for _, problem := range runnertest.EventualLeftovers(func() []string {
				left, err := runner.NamespaceLeftovers(cfg)
				if err != nil {
					return []string{"cannot list: " + err.Error()}
				}
				return left
			}) {
				t.Error("leftover after codeexec run: " + problem)
			}
		})
	}
}

func TestImagesCommand(t *testing.T) {
	cfg := runnertest.Config(t)
	env := func(k string) string {
		return map[string]string{"CODEEXEC_CONTAINERD_SOCKET": cfg.Socket, "CODEEXEC_NAMESPACE": cfg.Namespace}[k]
	}
	var out bytes.Buffer
	if err := imagesCmd(context.Background(), []string{"check"}, &out, io.Discard, env); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	for _, want := range []string{"python   localhost/codeexec/python:latest", "cpp      localhost/codeexec/cpp:latest", "sha256:", " ok\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out.String())
		}
	}
	file := filepath.Join(t.TempDir(), "runtimes.json")
	os.WriteFile(file, []byte(`{"languages":[{"name":"ghost","image":"localhost/codeexec/ghost:latest","source_file":"m","run":["/m"]}]}`), 0o644)
	out.Reset()
	err := imagesCmd(context.Background(), []string{"--runtimes", file, "check"}, &out, io.Discard, env)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 || !strings.Contains(out.String(), "MISSING") {
		t.Fatalf("a missing image: got %v\n%s", err, out.String())
	}
}

func TestJudgeCommand(t *testing.T) {
	cfg := runnertest.Config(t)
	env := map[string]string{"CODEEXEC_CONTAINERD_SOCKET": cfg.Socket, "CODEEXEC_NAMESPACE": cfg.Namespace, "CODEEXEC_LANE_AGENT": cfg.LaneAgent}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	prog := write("sum.py", "a, b = map(int, input().split())\nprint(a + b)\n")
	write("pairs/1.in", "1 2\n")
	write("pairs/1.out", "3\n")
	write("pairs/10.in", "5 7\n")
	write("pairs/10.out", "13\n")
	write("kattis/data/sample/1.in", "2 2\n")
	write("kattis/data/sample/1.ans", "4\n")
	write("kattis/data/secret/big.in", "1000000 1\n")
	write("kattis/data/secret/big.ans", "1000001\n")
	for _, tc := range []struct {
		name, tests string
		exit        int
		stdout      []string
	}{
		{"a wrong answer exits 10 with a line per test", "pairs", 10, []string{"1.in: accepted (", `10.in: wrong_answer (`, `line 1: expected "13", got "12"`, "verdict: wrong_answer (1 of 2 tests accepted)"}},
		{"a Kattis package, every test accepted, exits 0", "kattis", 0, []string{"data/sample/1.in: accepted", "data/secret/big.in: accepted", "verdict: accepted (2 of 2 tests accepted)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := judgeCmd(context.Background(), []string{"--language", "python", "--state-dir", filepath.Join(cfg.StateDir, "cli"), prog, filepath.Join(dir, tc.tests)},
				&stdout, &stderr, func(k string) string { return env[k] })
			code := 0
			var exit exitError
			if errors.As(err, &exit) {
				code = exit.code
			} else if err != nil {
				t.Fatalf("judge failed: %v\n%s", err, stderr.String())
			}
			if code != tc.exit {
				t.Errorf("exit %d, want %d", code, tc.exit)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout %q lacks %q", stdout.String(), want)
				}
			}
		})
	}
}
