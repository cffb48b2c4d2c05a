package runner

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// forkLanguages are the languages whose judge lanes fork each test from a
// forking parent.
func forkLanguages(r *Runner) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(r.cfg.Languages)) {
		if r.cfg.Languages[name].Fork != "" {
			out = append(out, name)
		}
	}
	return out
}

// forkedRun runs code once as a judge lane runs a test: forked, in a batch
// of one lane.
func forkedRun(t *testing.T, r *Runner, lang, code, input string, timeout bool) Result {
	t.Helper()
	b, builds, err := r.OpenBatch(context.Background(), []Program{{Language: lang, Code: code}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if builds[0].Status != StatusSuccess {
		return Result{Status: builds[0].Status, CompileOutput: builds[0].Output}
	}
	in := BatchRun{Input: input}
	if !timeout {
		in.Timeout = testtiming.LimitWait
	}
	res, err := b.Run(context.Background(), 0, 0, in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestConformanceForked runs the conformance table for every language
// whose lanes fork their tests, as a lane runs a test: the same programs
// and checks as TestConformance's plain runs.
func TestConformanceForked(t *testing.T) {
	r := MustOpenRunner(t, nil)
	langs := forkLanguages(r)
	if len(langs) == 0 {
		t.Fatal("no language forks its tests")
	}
	for _, lang := range langs {
		for _, c := range conformanceCases {
			code, ok := conformancePrograms[lang][c.name]
			if !ok {
				continue
			}
			t.Run(lang+"/"+c.name, func(t *testing.T) {
				input := ""
				if c.input != nil {
					input = c.input(t)
				}
				res := forkedRun(t, r, lang, code, input, c.timed)
				c.check(t, r.cfg.Languages[lang], res)
			})
		}
	}
}

// TestForkedTestsAreForkedAndShareNothing: a lane's tests come from its
// forking parent (or from exec with ExecEveryTest); what a test does to
// the interpreter, to the parent or to the parent's limits never reaches
// the next test.
func TestForkedTestsAreForkedAndShareNothing(t *testing.T) {
	for _, execEvery := range []bool{false, true} {
		r := MustOpenRunner(t, func(c *Config) { c.ExecEveryTest = execEvery })
		for _, lang := range forkLanguages(r) {
			if lang != "python" {
				continue // the programs below are Python's
			}
			const program = `import sys, os, builtins, resource
cmd = open('/proc/self/cmdline', 'rb').read()
print('forked' if b'.fork-' in cmd else 'exec', getattr(builtins, 'mark', None), resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 64, os.nice(0))
what = sys.stdin.readline().strip()
builtins.mark = 'changed'
sys.modules['os'].sep = 'X'
parent = None
for p in os.listdir('/proc'):
    if p.isdigit() and int(p) != os.getpid():
        try:
            if b'.fork-' in open('/proc/%s/cmdline' % p, 'rb').read():
                parent = int(p)
        except OSError:
            pass
if parent and what == 'kill':
    os.kill(parent, 9)
if parent and what == 'stop':
    os.kill(parent, 19)
if parent and what == 'limits':
    resource.prlimit(parent, resource.RLIMIT_NOFILE, (16, 16))
if parent and what == 'nice':
    os.setpriority(os.PRIO_PROCESS, parent, 10)
if parent and what == 'memory':
    try:
        open('/proc/%d/mem' % parent, 'rb')
        print('opened the parent memory')
    except OSError:
        pass
`
			b, _, err := r.OpenBatch(context.Background(), []Program{{Language: lang, Code: program}}, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := "forked None True 0\n"
			if execEvery {
				want = "exec None True 0\n"
			}
			for i, what := range []string{"nothing", "memory", "kill", "nothing", "stop", "nothing", "limits", "nothing", "nice", "nothing"} {
				res, err := b.Run(context.Background(), 0, 0, BatchRun{Input: what + "\n", Timeout: testtiming.LimitWait})
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != StatusSuccess || res.Stdout != want {
					t.Fatalf("exec every test %v, run %d (after %q): %s %q %q", execEvery, i, what, res.Status, res.Stdout, res.Stderr)
				}
			}
			b.Close()
		}
	}
}

// TestForkedTestsMemory: a forked test's memory is what it adds to its
// parent, the memory limit applies to that, and a test that reaches it
// ends in memory_limit_exceeded while its parent forks the next one.
func TestForkedTestsMemory(t *testing.T) {
	r := MustOpenRunner(t, nil)
	limit := DefaultConfig().RunLimits.MemoryBytes
	b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "python", Code: `import sys
n = int(sys.stdin.readline())
b = bytearray(n << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
print('ok')`}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	run := func(mib int64) Result {
		res, err := b.Run(context.Background(), 0, 0, BatchRun{Input: strconv.FormatInt(mib, 10) + "\n", Timeout: testtiming.LimitWait})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	small := run(1)
	if small.Status != StatusSuccess || small.MemoryPeakBytes <= 0 || small.MemoryPeakBytes > 8<<20 {
		t.Fatalf("a small test: %s, peak %d bytes (want its own few MiB, not the parent's)", small.Status, small.MemoryPeakBytes)
	}
	big := run(limit>>20 - 24)
	if big.Status != StatusSuccess || big.MemoryPeakBytes < (limit>>20-24)<<20 {
		t.Fatalf("a test near the limit: %s, peak %d", big.Status, big.MemoryPeakBytes)
	}
	if over := run(limit>>20 + 16); over.Status != StatusMemoryLimitExceeded {
		t.Fatalf("a test over the limit: %s", over.Status)
	}
	if after := run(1); after.Status != StatusSuccess || after.Stdout != "ok\n" {
		t.Fatalf("after the memory limit: %s %q", after.Status, after.Stderr)
	}
}

// forkedVersusPlain are programs whose every observable a judge cares
// about (stdout, stderr, exit status, verdict) must be the same forked as
// exec'd, per language with a forking parent.
var forkedVersusPlain = map[string][]struct{ name, code, stdin string }{
	"python": {
		{"hello", `print("hello")`, ""},
		{"stdin", "import sys\nprint(sum(map(int, sys.stdin.read().split())))", "1 2 3\n"},
		{"input at EOF", "print(input())\nprint(input())", "one\n"},
		{"exit code", "import sys\nprint('x', end='')\nsys.exit(3)", ""},
		{"exit message", "import sys\nsys.exit('bye')", ""},
		{"uncaught", "def f():\n    raise ValueError('boom')\nprint('before')\nf()", ""},
		{"syntax error", "print('a'\n", ""},
		{"atexit and buffers", "import atexit, sys\natexit.register(lambda: print('at exit'))\nsys.stdout.write('buffered')", ""},
		{"recursion limit", "import sys\ndef f(n):\n    return f(n + 1)\ntry:\n    f(0)\nexcept RecursionError:\n    import traceback\n    print(len(traceback.extract_tb(sys.exc_info()[2])), sys.getrecursionlimit())", ""},
		{"names", "import sys, os\nprint(__name__, __file__, sys.argv, sys.path[0], __spec__, __package__, __doc__, sorted(k for k in globals() if not k.startswith('__')))", ""},
		{"a signal", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", ""},
		{"signals as Python sets them", "import signal\nprint(signal.getsignal(signal.SIGPIPE), signal.getsignal(signal.SIGINT).__name__, signal.getsignal(signal.SIGTERM))", ""},
		{"session", "import os\nprint(os.getsid(0) == os.getpid(), os.getcwd())", ""},
		{"threads and at exit", "import threading, atexit, time\natexit.register(print, 'atexit')\nt = threading.Thread(target=lambda: (time.sleep(0.2), print('thread')))\nt.start()\nprint('main')", ""},
		{"open files", "import os\nprint(sorted(os.listdir('/proc/self/fd')))", ""},
		{"limits", "import resource\nprint([resource.getrlimit(getattr(resource, r)) for r in dir(resource) if r.startswith('RLIMIT_')])", ""},
		{"environment", "import os\nprint(sorted(os.environ.items()))", ""},
	},
	"ruby": {
		{"hello", `puts "hello"`, ""},
		{"stdin", "puts $stdin.read.split.map(&:to_i).sum", "1 2 3\n"},
		{"gets at EOF", "puts gets\np gets", "one\n"},
		{"exit code", "print 'x'\nexit 3", ""},
		{"abort", `abort("bye")`, ""},
		{"uncaught", "def f\n  raise ArgumentError, 'boom'\nend\nputs 'before'\nf", ""},
		{"syntax error", "puts(1\n", ""},
		{"at_exit and buffers", "at_exit { puts 'at exit' }\n$stdout.write 'buffered'", ""},
		{"names", "p [__FILE__, $0, ARGV, __dir__, self.to_s, local_variables, __method__]", ""},
		{"require_relative", "begin\n  require_relative 'nothing_here'\nrescue LoadError => e\n  puts e.message\nend", ""},
		{"a signal", "Process.kill(:TERM, Process.pid)\nsleep 1", ""},
		{"session", "p [Process.getsid == Process.pid, Dir.pwd]", ""},
		{"limits", "p [:NOFILE, :STACK, :NPROC, :AS, :CORE].map { |r| Process.getrlimit(r) }", ""},
		{"environment", "p ENV.to_h.sort", ""},
	},
}

// TestForkedIsPlain runs each language's programs above in a lane that
// forks its tests and in one that execs them, and compares what a judge
// sees.
func TestForkedIsPlain(t *testing.T) {
	forked := MustOpenRunner(t, nil)
	plain := MustOpenRunner(t, func(c *Config) { c.ExecEveryTest = true })
	for _, lang := range forkLanguages(forked) {
		progs, ok := forkedVersusPlain[lang]
		if !ok {
			t.Errorf("language %s forks its tests but has no programs to compare", lang)
			continue
		}
		for _, p := range progs {
			t.Run(lang+"/"+p.name, func(t *testing.T) {
				a := forkedRun(t, forked, lang, p.code, p.stdin, false)
				b := forkedRun(t, plain, lang, p.code, p.stdin, false)
				if a.Status != b.Status || a.Stdout != b.Stdout || a.Stderr != b.Stderr || a.Signal != b.Signal || !sameExit(a.ExitCode, b.ExitCode) {
					t.Fatalf("forked: %s %q %q %v %s\nexec'd: %s %q %q %v %s", a.Status, a.Stdout, a.Stderr, a.ExitCode, a.Signal, b.Status, b.Stdout, b.Stderr, b.ExitCode, b.Signal)
				}
			})
		}
	}
}

func sameExit(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
