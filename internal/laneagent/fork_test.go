package laneagent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pythonFork is the forking parent of Python, as the lane runs it.
func pythonFork(t *testing.T) []string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("needs python3")
	}
	script, err := filepath.Abs("../runner/lane/fork/python.py")
	if err != nil {
		t.Fatal(err)
	}
	return []string{py, script}
}

// runBoth runs a Python program plainly and forked, with the same stdin
// and arguments, and returns both results.
func runBoth(t *testing.T, a *testAgent, fork []string, program, stdin string, args ...string) (plain, forked result) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "main.py")
	in := filepath.Join(dir, "stdin")
	if err := os.WriteFile(script, []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, []byte(stdin), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{fork[0], script}, args...)
	a.send(Request{Args: argv, Stdin: in, Dir: dir})
	plain = a.collect()
	a.send(Request{Args: argv, Stdin: in, Dir: dir, Fork: fork})
	forked = a.collect()
	return plain, forked
}

// TestForkedPythonIsPlainPython runs programs plainly and forked from the
// forking parent, and compares what a judge sees: stdout, stderr (the
// tracebacks), the exit status.
func TestForkedPythonIsPlainPython(t *testing.T) {
	a := startAgent(t)
	fork := pythonFork(t)
	for _, tc := range []struct{ name, program, stdin string }{
		{"hello", `print("hello")`, ""},
		{"stdin", "import sys\nprint(sum(map(int, sys.stdin.read().split())))", "1 2 3\n"},
		{"input at EOF", "print(input())\nprint(input())", "one\n"},
		{"exit code", "import sys\nprint('x', end='')\nsys.exit(3)", ""},
		{"exit message", "import sys\nsys.exit('bye')", ""},
		{"uncaught", "def f():\n    raise ValueError('boom')\nprint('before')\nf()", ""},
		{"chained", "try:\n    1/0\nexcept ZeroDivisionError as e:\n    raise KeyError('k') from e", ""},
		{"syntax error", "print('a'\n", ""},
		{"atexit and buffers", "import atexit, sys\natexit.register(lambda: print('at exit'))\nsys.stdout.write('buffered')", ""},
		{"recursion limit", "import sys\ndef f(n):\n    return f(n + 1) if n < 10**6 else n\ntry:\n    f(0)\nexcept RecursionError:\n    import traceback\n    print(len(traceback.extract_tb(sys.exc_info()[2])), sys.getrecursionlimit())", ""},
		{"names", "import sys, os\nprint(__name__, __file__ == sys.argv[0], sys.path[0] == os.path.dirname(__file__), __spec__, __package__, __doc__, sorted(k for k in globals() if not k.startswith('__')))", ""},
		{"a signal", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", ""},
		{"SIGPIPE and SIGINT as Python sets them", "import signal\nprint(signal.getsignal(signal.SIGPIPE), signal.getsignal(signal.SIGINT).__name__, signal.getsignal(signal.SIGTERM))", ""},
		{"KeyboardInterrupt", "raise KeyboardInterrupt", ""},
		{"session", "import os\nprint(os.getsid(0) == os.getpid(), os.getpgrp() == os.getpid())", ""},
		{"threads and at exit", "import threading, atexit, time\natexit.register(print, 'atexit')\nt = threading.Thread(target=lambda: (time.sleep(0.2), print('thread')))\nt.start()\nprint('main')", ""},
		{"exit codes", "import sys\nsys.exit(300)", ""},
		{"negative exit", "import sys\nsys.exit(-1)", ""},
		{"exit with None", "import sys\nsys.exit(None)", ""},
		{"open files", "import os\nprint(sorted(os.listdir('/proc/self/fd')))", ""},
		{"modules", "import sys\nprint('_socket' in sys.modules, 'ctypes' in sys.modules)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, forked := runBoth(t, a, fork, tc.program, tc.stdin, "arg one", "2")
			if plain.failed != "" || forked.failed != "" {
				t.Fatalf("failed: %q, %q", plain.failed, forked.failed)
			}
			if forked.stdout != plain.stdout || forked.stderr != plain.stderr || forked.exit.Status != plain.exit.Status {
				t.Fatalf("forked:\n%q\n%q\n%v\nplain:\n%q\n%q\n%v", forked.stdout, forked.stderr, forked.exit.Code(), plain.stdout, plain.stderr, plain.exit.Code())
			}
		})
	}
}

// TestForkedTestsShareNothing: what one test changes in the interpreter
// is not in the next, and a test that kills or stops the forking parent
// costs the next one a new parent, nothing else.
func TestForkedTestsShareNothing(t *testing.T) {
	a := startAgent(t)
	fork := pythonFork(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "stdin")
	os.WriteFile(in, nil, 0o644)
	run := func(program string) result {
		t.Helper()
		script := filepath.Join(dir, "main.py")
		if err := os.WriteFile(script, []byte(program), 0o644); err != nil {
			t.Fatal(err)
		}
		a.send(Request{Args: []string{fork[0], script}, Stdin: in, Dir: dir, Fork: fork})
		return a.collect()
	}
	change := "import sys, builtins\nbuiltins.print = None\nsys.modules['os'].sep = 'X'\nsys.setrecursionlimit(50)\nsys.path.append('/evil')"
	look := "import os, sys\nprint(os.sep, sys.getrecursionlimit(), '/evil' in sys.path)"
	if res := run(change); res.exit.Code() != 0 {
		t.Fatalf("%+v", res)
	}
	if res := run(look); res.stdout != "/ 1000 False\n" {
		t.Fatalf("the next test saw the first one's changes: %+v", res)
	}
	// The forking parent, found by its command line.
	const parent = "import os, signal\nfor p in os.listdir('/proc'):\n    if p.isdigit() and int(p) != os.getpid():\n        try:\n            cmd = open('/proc/%s/cmdline' % p, 'rb').read()\n        except OSError:\n            continue\n        if b'python.py' in cmd:\n            os.kill(int(p), signal.SIGNAL); print('sent')\n"
	for _, sig := range []string{"SIGKILL", "SIGSTOP", "SIGTERM"} {
		attack := strings.Replace(parent, "SIGNAL", sig, 1)
		res := run(attack)
		if res.stdout != "sent\n" {
			t.Fatalf("%s: %+v", sig, res)
		}
		if res.exit.Code() != 0 {
			t.Fatalf("%s: %+v", attack, res)
		}
		if res := run(look); res.stdout != "/ 1000 False\n" {
			t.Fatalf("after %q: %+v", attack, res)
		}
	}
}

// BenchmarkPythonTest runs a test of a small Python program plainly and
// forked, one after the other, through the agent: the time of each, from
// the request to its Done.
//
//	go test -run '^$' -bench BenchmarkPythonTest ./internal/laneagent
func BenchmarkPythonTest(b *testing.B) {
	for _, mode := range []string{"plain", "forked"} {
		b.Run(mode, func(b *testing.B) {
			a := startAgent(b)
			fork := []string{"python3", mustAbs(b, "../runner/lane/fork/python.py")}
			dir := b.TempDir()
			script, in := filepath.Join(dir, "main.py"), filepath.Join(dir, "stdin")
			os.WriteFile(script, []byte("a, b = map(int, input().split())\nprint(a + b)\n"), 0o644)
			os.WriteFile(in, []byte("1 2\n"), 0o644)
			req := Request{Args: []string{"python3", script}, Stdin: in, Dir: dir}
			if mode == "forked" {
				req.Fork = fork
			}
			for b.Loop() {
				a.send(req)
				if res := a.collect(); res.stdout != "3\n" {
					b.Fatalf("%+v", res)
				}
			}
		})
	}
}

func mustAbs(tb testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestForkingParentStartsAhead(t *testing.T) {
	a := startAgent(t)
	fork := pythonFork(t)
	a.send(Request{Fork: fork, Dir: "/", Stdin: "/dev/null"})
	f := a.next()
	pid, err := ParseStarted(f.payload)
	if f.kind != Started || err != nil || pid <= 1 {
		t.Fatalf("frame %q %v: pid %d", f.kind, err, pid)
	}
	if f := a.next(); f.kind != Exit {
		t.Fatalf("frame %q", f.kind)
	}
	if f := a.next(); f.kind != Done {
		t.Fatalf("frame %q", f.kind)
	}
	// The next forked test comes from the same parent.
	a.send(Request{Args: []string{fork[0], "-c", "pass"}, Fork: fork, Dir: "/", Stdin: "/dev/null"})
	if f := a.next(); f.kind != Started {
		t.Fatalf("frame %q", f.kind)
	} else if again, _ := ParseStarted(f.payload); again != pid {
		t.Fatalf("forked by %d, not the parent started ahead, %d", again, pid)
	}
	for f := a.next(); f.kind != Done; f = a.next() {
	}
	// A parent that cannot start: Started says 0.
	a.send(Request{Fork: []string{"/no/such/interpreter"}, Dir: "/", Stdin: "/dev/null"})
	if f := a.next(); f.kind != Started {
		t.Fatalf("frame %q", f.kind)
	} else if p, _ := ParseStarted(f.payload); p != 0 {
		t.Fatalf("a parent that cannot start: %d", p)
	}
	for f := a.next(); f.kind != Done; f = a.next() {
	}
}
