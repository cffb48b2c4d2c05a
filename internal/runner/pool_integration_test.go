package runner

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// openPooled opens a runner with a warm pool of size per language and waits
// until the pool is full. On cleanup it closes the runner (which destroys
// the pool) and then checks, from outside, that nothing is left.
func openPooled(t testing.TB, size int, change func(*Config)) *Runner {
	t.Helper()
	cfg := testConfig(t)
	cfg.PoolSize = size
	if change != nil {
		change(&cfg)
	}
	r, err := New(context.Background(), cfg, testLogger())
	if err != nil {
		t.Fatalf("open runner: %v", err)
	}
	t.Cleanup(func() {
		r.Close()
		for _, l := range eventualLeftovers(func() []string {
			left, err := Leftovers(cfg)
			if err != nil {
				return []string{"cannot list: " + err.Error()}
			}
			return left
		}) {
			t.Errorf("leftover after Close: %s", l)
		}
	})
	waitPoolFull(t, r, size)
	return r
}

func waitPoolFull(t testing.TB, r *Runner, size int) {
	t.Helper()
	deadline := time.Now().Add(testtiming.Scaled(60 * time.Second))
	for {
		full := true
		for name := range r.Languages() {
			if r.PoolLevels()[name] < size {
				full = false
			}
		}
		if full {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool not full after 60s: %v", r.PoolLevels())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// observe prints everything a script can observe about how it was started.
const observe = `import sys
print(__name__, __file__, __doc__, __package__, __spec__, __cached__, type(__loader__).__name__, __loader__.name)
print(sys.argv, sys.orig_argv, sys.path[0], sys.flags)
print(list(globals()))
print(sorted(sys.modules))
print(repr(sys.stdin.read()))
import traceback
print(len(traceback.extract_stack()))
`

func TestWarmPool(t *testing.T) {
	// The cold runner is opened first so that its leak check, which runs
	// last, does not see the pool of the warm one.
	const input = "first line\nsecond\n"
	cold := run(t, MustOpenRunner(t, nil), "python", observe, input)
	wantStatus(t, cold, StatusSuccess)
	if cold.Warm {
		t.Fatal("the cold runner used a pool")
	}
	r := openPooled(t, 1, nil)

	t.Run("python runs warm and the program cannot tell it from a cold run", func(t *testing.T) {
		warm := run(t, r, "python", observe, input)
		wantStatus(t, warm, StatusSuccess)
		if !warm.Warm {
			t.Fatal("the run did not use the warm pool")
		}
		if warm.Stdout != cold.Stdout {
			t.Errorf("warm and cold runs observe different things:\nwarm:\n%s\ncold:\n%s", warm.Stdout, cold.Stdout)
		}
	})

	t.Run("an uncaught exception looks the same as in a cold run", func(t *testing.T) {
		waitPoolFull(t, r, 1)
		res := run(t, r, "python", "def f():\n    raise ValueError('boom')\nf()", "")
		wantStatus(t, res, StatusRuntimeError)
		wantExit(t, res, 1)
		want := "Traceback (most recent call last):\n  File \"/job/main.py\", line 3, in <module>\n    f()\n  File \"/job/main.py\", line 2, in f\n    raise ValueError('boom')\nValueError: boom\n"
		if !res.Warm || res.Stderr != want {
			t.Errorf("warm %v stderr:\n%s\nwant:\n%s", res.Warm, res.Stderr, want)
		}
	})

	t.Run("sys.exit codes pass through", func(t *testing.T) {
		waitPoolFull(t, r, 1)
		res := run(t, r, "python", "import sys\nsys.exit(7)", "")
		wantStatus(t, res, StatusRuntimeError)
		wantExit(t, res, 7)
	})

	t.Run("cpp compiles and runs in pooled sandboxes", func(t *testing.T) {
		waitPoolFull(t, r, 1)
		res := run(t, r, "cpp", "#include <bits/stdc++.h>\nint main(){ long a,b; std::cin>>a>>b; std::cout<<a*b<<'\\n'; }", "6 7")
		wantStatus(t, res, StatusSuccess)
		if !res.Warm || res.Stdout != "42\n" || res.PrepareTime != 0 {
			t.Errorf("warm %v stdout %q prepare %s", res.Warm, res.Stdout, res.PrepareTime)
		}
	})

	t.Run("the time limit and CPU time count only the program", func(t *testing.T) {
		waitPoolFull(t, r, 1)
		idle := testtiming.StartIdle()
		res := run(t, r, "python", "while True: pass", "")
		wantStatus(t, res, StatusTimeout)
		if !res.Warm || res.Time < DefaultRunTimeout || res.Time > DefaultRunTimeout+testtiming.KillMargin {
			t.Errorf("warm %v time %s, want the %s limit", res.Warm, res.Time, DefaultRunTimeout)
		}
		if testtiming.OverOneCore(res.CPUTime, res.Time) {
			t.Errorf("cpu time %s for %s of wall time on one core", res.CPUTime, res.Time)
		}
		if problem := testtiming.WantBusy(res.CPUTime, res.Time, idle.Since()); problem != "" {
			t.Error(problem)
		}
	})

	t.Run("the pool refills after use", func(t *testing.T) {
		run(t, r, "python", "print(1)", "")
		waitPoolFull(t, r, 1)
	})
}

// TestWarmPoolDiscardsUnusableSandboxes: a pooled job whose sandbox's
// launcher died says so, which is what the pool asks before it hands a
// job out (pool.Config.Usable); that the pool then destroys such a job,
// or one that waited too long, instead of handing it out is package
// pool's test (TestTakeDiscards).
func TestWarmPoolDiscardsUnusableSandboxes(t *testing.T) {
	r := openPooled(t, 1, nil)
	j, ok := r.pools.Take("python")
	if !ok {
		t.Fatal("no pooled python job in a full pool")
	}
	defer j.destroy(r)
	if !j.alive() {
		t.Fatal("a pooled job is not alive before anything happened to it")
	}
	if err := syscall.Kill(j.run.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for j.alive() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if j.alive() {
		t.Fatal("the killed sandbox still looks alive")
	}
	res := run(t, r, "python", "print('ok')", "")
	wantStatus(t, res, StatusSuccess)
	if res.ID == j.id {
		t.Fatal("the run used the dead sandbox")
	}
}

func TestWarmPoolUnderLoad(t *testing.T) {
	r := openPooled(t, 2, nil)
	const n = 12
	errs := make(chan string, n)
	for i := range n {
		go func() {
			res, err := r.Run(context.Background(), Request{Language: "python", Code: "print(input())", Input: strings.Repeat("x", i) + "\n"})
			switch {
			case err != nil:
				errs <- err.Error()
			case res.Status != StatusSuccess || res.Stdout != strings.Repeat("x", i)+"\n":
				errs <- string(res.Status) + " " + res.Stdout
			default:
				errs <- ""
			}
		}()
	}
	for range n {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
