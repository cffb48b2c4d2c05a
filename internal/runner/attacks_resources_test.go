package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// Attack classes 1 to 5: processes, memory, tmpfs memory and CPU.

// pidsLeft is how many tasks a program can add under the pids limit: the
// limit counts every task of the sandbox, and tini and the program itself
// already hold two.
func pidsLeft() int64 { return DefaultConfig().RunLimits.Pids - 2 }

// pyForkBomb forks children that sleep until the pids cgroup refuses, prints
// how many it got, with the errno and the time, then keeps forking.
const pyForkBomb = `import errno, os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print('forks', n, errno.errorcode[e.errno], 'at', time.time(), flush=True)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
while True:
    try:
        os.fork()
    except OSError:
        pass
`

// cppThreadBomb starts threads until the pids cgroup refuses, prints how
// many it got, then keeps trying.
const cppThreadBomb = `#include <chrono>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>
int main() {
    std::vector<std::thread> ts;
    for (;;) {
        try {
            ts.emplace_back([] { std::this_thread::sleep_for(std::chrono::seconds(30)); });
        } catch (const std::system_error& e) {
            std::printf("threads %zu %s\n", ts.size(), strerrorname_np(e.code().value()));
            std::fflush(stdout);
            break;
        }
    }
    for (;;) {
        try { std::thread([] {}).detach(); } catch (const std::system_error&) {}
    }
}
`

// forkBombTimeout is the time limit of TestAttackForkBomb's rows. They must
// reach the pids limit and print before it: a Python loop forking 62
// children needs well under a second on an idle machine of the project's
// kind, and printed nothing within the default 2 s under make test-slow.
// 10 s leaves five times the default; testtiming.Scale more on a machine
// slower still.
var forkBombTimeout = testtiming.Scaled(10 * time.Second)

func TestAttackForkBomb(t *testing.T) {
	r := openAttackRunner(t)
	runAttacks(t, r, []attack{
		{name: "a python fork loop stops at the pids limit and is killed at the timeout", lang: "python", code: pyForkBomb,
			timeout: forkBombTimeout,
			check: func(t *testing.T, res Result) {
				wantTimeoutAt(t, res, forkBombTimeout)
				wantMatch(t, "stdout", res.Stdout, fmt.Sprintf(`^forks %d EAGAIN at \d+\.\d+\n$`, pidsLeft()))
				wantNoProcessOf(t, res.ID)
			}},
		{name: "a cpp thread-spawn loop stops at the pids limit and is killed at the timeout", lang: "cpp", code: cppThreadBomb,
			timeout: forkBombTimeout,
			check: func(t *testing.T, res Result) {
				wantTimeoutAt(t, res, forkBombTimeout)
				wantStdout(t, res, fmt.Sprintf("threads %d EAGAIN\n", pidsLeft()))
				wantNoProcessOf(t, res.ID)
			}},
	})
	t.Run("the next run succeeds", func(t *testing.T) {
		res := run(t, r, "python", "print('ok')", "")
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "ok\n")
	})
}

// TestAttackConcurrentForkBombs runs two fork bombs at once and, while both
// hold every pid they can get, a normal run that forks 30 children and the
// host that forks a process. All of them are uid 10001 in the sandboxes: a
// per-uid process limit would have let at most 64 exist in total, the
// per-sandbox pids cgroups let each bomb have its own 62.
func TestAttackConcurrentForkBombs(t *testing.T) {
	// A longer wall-clock limit than the default 2 s, so that the normal run
	// surely starts and forks while both bombs still hold their pids, even
	// when creating its sandbox is slow on a loaded machine: 15 s, about ten
	// times what the normal run needs on an idle machine, and three times
	// the 4.7 s it needed under make test-slow with runc (where 6 s was
	// not enough); on a far slower machine a second more per unit of
	// testtiming.Scale (the bombs run it out: scaling all of it would make
	// them wait minutes).
	bombTimeout := 14*time.Second + testtiming.Scaled(time.Second)
	r := MustOpenRunner(t, func(c *Config) {
		c.QueueTimeout = 5 * time.Minute
		c.RunTimeout = bombTimeout
		c.MaxLimits.Timeout = max(c.MaxLimits.Timeout, bombTimeout)
	})
	type outcome struct {
		res  Result
		err  error
		done time.Time
	}
	bombs := make(chan outcome, 2)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // a failed check must not leave a run behind
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Run(context.Background(), Request{Language: "python", Code: pyForkBomb})
			bombs <- outcome{res, err, time.Now()}
		}()
	}
	// Start the normal run once both bombs hold every pid they may.
	full := waitPidsFull(t, r.cfg, 2)
	t.Logf("pids cgroups at their limit: %v", full)
	if err := exec.Command("true").Run(); err != nil {
		t.Errorf("the host cannot start a process during the fork bombs: %v", err)
	}

	const normal = `import os, time
kids = []
for _ in range(30):
    pid = os.fork()
    if pid == 0:
        time.sleep(0.3)
        os._exit(0)
    kids.append(pid)
print('forked', len(kids), 'at', time.time(), flush=True)
for k in kids:
    os.waitpid(k, 0)
`
	res := run(t, r, "python", normal, "")

	wantStatus(t, res, StatusSuccess)
	m := wantMatch(t, "normal run's stdout", res.Stdout, `^forked 30 at (\d+\.\d+)\n$`)
	for i := range 2 {
		b := <-bombs
		if b.err != nil {
			t.Fatalf("fork bomb run: %v", b.err)
		}
		t.Run(fmt.Sprintf("fork bomb %d gets its own pids limit while the normal run forks", i+1), func(t *testing.T) {
			wantStatus(t, b.res, StatusTimeout)
			if b.res.Signal != "SIGKILL" || b.res.Time < bombTimeout || b.res.Time > bombTimeout+timeoutMargin {
				t.Errorf("signal %q after %s, want SIGKILL at the %s limit", b.res.Signal, b.res.Time, bombTimeout)
			}
			bm := wantMatch(t, "bomb's stdout", b.res.Stdout, fmt.Sprintf(`^forks %d EAGAIN at (\d+\.\d+)\n$`, pidsLeft()))
			if m == nil || bm == nil {
				return
			}
			// The test means something only if the normal run forked while
			// the bomb was saturated and still alive.
			saturated, _ := strconv.ParseFloat(bm[1], 64)
			forked, _ := strconv.ParseFloat(m[1], 64)
			killed := float64(b.done.UnixNano()) / 1e9 // Run returns right after the kill
			if forked < saturated || forked > killed {
				t.Errorf("the normal run forked at %f, outside the bomb's saturation from %f to its kill at %f", forked, saturated, killed)
			}
			wantNoProcessOf(t, b.res.ID)
		})
	}
}

func TestAttackMemoryBomb(t *testing.T) {
	r := openAttackRunner(t)
	runAttacksInTurn(t, r, []attack{
		{name: "a python program growing its heap is OOM-killed at the limit", lang: "python", untimed: true,
			code: `blocks = []
while True:
    blocks.append(b'x' * (1 << 20))
    if len(blocks) % 64 == 0:
        print(len(blocks), 'MiB', flush=True)
`,
			check: func(t *testing.T, res Result) {
				wantOOM(t, res)
				wantStdout(t, res, "64 MiB\n128 MiB\n192 MiB\n")
			}},
		{name: "a cpp program growing its heap is OOM-killed at the limit", lang: "cpp", untimed: true,
			code: `#include <cstdio>
#include <cstdlib>
#include <cstring>
int main() {
    for (int mib = 16;; mib += 16) {
        char* p = static_cast<char*>(std::malloc(16 << 20));
        if (!p) { std::puts("malloc failed"); return 1; }
        std::memset(p, 1, 16 << 20);
        if (mib % 64 == 0) { std::printf("%d MiB\n", mib); std::fflush(stdout); }
    }
}
`,
			check: func(t *testing.T, res Result) {
				wantOOM(t, res)
				wantStdout(t, res, "64 MiB\n128 MiB\n192 MiB\n")
			}},
		{name: "memory of two processes counts against one limit", lang: "python", untimed: true,
			// 150 MiB each: either alone fits under 256 MiB, together they
			// do not. A per-process limit (RLIMIT_AS, say) would let both
			// live; the cgroup's OOM killer takes the child, whose resident
			// set (its own 150 MiB plus the parent's pages it shares) is
			// the largest.
			code: `import os, signal
heap = bytearray(b'p') * (150 << 20)
print('parent holds 150 MiB', flush=True)
pid = os.fork()
if pid == 0:
    more = bytearray(b'c') * (150 << 20)
    print('child holds 150 MiB', flush=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
if os.WIFSIGNALED(status):
    print('child killed by', signal.Signals(os.WTERMSIG(status)).name, flush=True)
else:
    print('child exited', os.WEXITSTATUS(status), flush=True)
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusMemoryLimitExceeded)
				wantExit(t, res, 0)
				if !res.OOMKilled {
					t.Error("no OOM kill reported")
				}
				wantStdout(t, res, "parent holds 150 MiB\nchild killed by SIGKILL\n")
			}},
		{name: "memfd memory is charged to the run", lang: "python", untimed: true,
			// Several memfds of 32 MiB: RLIMIT_FSIZE caps each at 64 MiB.
			code: `import os
chunk = b'm' * (1 << 20)
n = 0
while True:
    fd = os.memfd_create('bomb')
    for _ in range(32):
        os.write(fd, chunk)
        n += 1
        if n % 64 == 0:
            print(n, 'MiB', flush=True)
`,
			check: func(t *testing.T, res Result) {
				wantOOM(t, res)
				wantStdout(t, res, "64 MiB\n128 MiB\n192 MiB\n")
			}},
	})
	t.Run("the next run succeeds", func(t *testing.T) {
		wantStatus(t, run(t, r, "python", "print('ok')", ""), StatusSuccess)
	})
}

// pyFillTmpfs fills each directory named on stdin with 16 MiB files until a
// write fails, and prints the errno and how many MiB it wrote.
const pyFillTmpfs = `import errno, os, sys
chunk = b'x' * (1 << 20)
for d in sys.stdin.read().split():
    total, i = 0, 0
    try:
        while True:
            fd = os.open(f'{d}/fill{i}', os.O_WRONLY | os.O_CREAT, 0o600)
            i += 1
            try:
                for _ in range(16):
                    total += os.write(fd, chunk)
            finally:
                os.close(fd)
    except OSError as e:
        print(d, errno.errorcode[e.errno], total >> 20, 'MiB', flush=True)
`

func TestAttackTmpfsMemory(t *testing.T) {
	r := openAttackRunner(t)
	runAttacksInTurn(t, r, []attack{
		{name: "filling /tmp and /dev/shm stops at 64 MiB each with ENOSPC, charged to the run", lang: "python", untimed: true,
			code: pyFillTmpfs, input: "/tmp /dev/shm",
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "/tmp ENOSPC 64 MiB\n/dev/shm ENOSPC 64 MiB\n")
				if res.MemoryPeakBytes < 128<<20 {
					t.Errorf("memory peak %d bytes: the 128 MiB in tmpfs were not charged to the run", res.MemoryPeakBytes)
				}
			}},
		{name: "tmpfs pages count against the memory limit", lang: "python", untimed: true,
			// 120 MiB in tmpfs plus 150 MiB of heap exceed 256 MiB; the
			// heap alone fits (next attack), so the tmpfs pages are what
			// tips it over.
			code: `import os
chunk = b'x' * (1 << 20)
for d in ('/tmp', '/dev/shm'):
    for i in range(4):
        with open(f'{d}/f{i}', 'wb') as f:
            for _ in range(15):
                f.write(chunk)
print('tmpfs holds 120 MiB', flush=True)
heap = bytearray(b'h') * (150 << 20)
print('heap holds 150 MiB', flush=True)
`,
			check: func(t *testing.T, res Result) {
				wantOOM(t, res)
				wantStdout(t, res, "tmpfs holds 120 MiB\n")
			}},
		{name: "150 MiB of heap alone fits", lang: "python", untimed: true,
			code: "heap = bytearray(b'h') * (150 << 20)\nprint('heap holds 150 MiB')\n",
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "heap holds 150 MiB\n")
			}},
	})
}

// TestAttackCPU checks that CPU attacks end by the wall-clock kill, within
// the margin, and that many threads still get one core: the cgroup's CPU
// time can exceed the wall time only by what the CFS quota lets through in
// one period, never by the number of threads.
func TestAttackCPU(t *testing.T) {
	r := openAttackRunner(t)
	wantOneCore := func(t *testing.T, res Result) {
		t.Helper()
		if testtiming.OverOneCore(res.CPUTime, res.Time) {
			t.Errorf("cpu time %s over wall time %s: more than one core", res.CPUTime, res.Time)
		}
	}

	// Alone, so that the machine's other core is free to be misused.
	t.Run("sixteen spinning threads get one core and are killed at the timeout", func(t *testing.T) {
		idle := testtiming.StartIdle()
		res := run(t, r, "cpp", `#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>
std::atomic<unsigned long> sink;
int main() {
    std::vector<std::thread> ts;
    for (int i = 0; i < 16; i++)
        ts.emplace_back([] { for (unsigned long x = 0;; x++) if ((x & 0xfffff) == 0) sink += x; });
    std::printf("spinning %zu threads\n", ts.size());
    std::fflush(stdout);
    for (auto& t : ts) t.join();
}
`, "")
		wantTimeout(t, res)
		wantStdout(t, res, "spinning 16 threads\n")
		wantOneCore(t, res)
		// How much of its core the sandbox got depends on what else the
		// machine runs; that it got what the machine left idle does not.
		if problem := testtiming.WantBusy(res.CPUTime, res.Time, idle.Since()); problem != "" {
			t.Error(problem)
		}
	})

	runAttacks(t, r, []attack{
		{name: "a python busy loop is killed at the timeout", lang: "python", code: "print('spinning', flush=True)\nwhile True: pass\n",
			check: func(t *testing.T, res Result) {
				wantTimeout(t, res)
				wantStdout(t, res, "spinning\n")
				wantOneCore(t, res)
			}},
		{name: "eight spinning python processes get one core", lang: "python",
			code: "import os\nfor _ in range(7):\n    if os.fork() == 0: break\nwhile True: pass\n",
			check: func(t *testing.T, res Result) {
				wantTimeout(t, res)
				wantOneCore(t, res)
			}},
		{name: "sleeping forever is killed at the timeout", lang: "python", code: "import time\nprint('sleeping', flush=True)\ntime.sleep(3600)\n",
			check: func(t *testing.T, res Result) {
				wantTimeout(t, res)
				wantStdout(t, res, "sleeping\n")
			}},
		{name: "a program that ignores SIGTERM and SIGXCPU is still killed", lang: "python",
			code: `import os, signal, time
for s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, signal.SIG_IGN)
os.kill(os.getpid(), signal.SIGTERM)
os.kill(os.getpid(), signal.SIGXCPU)
print('survived SIGTERM and SIGXCPU', flush=True)
while True:
    try:
        time.sleep(3600)
    except BaseException:
        pass
`,
			check: func(t *testing.T, res Result) {
				wantTimeout(t, res)
				wantStdout(t, res, "survived SIGTERM and SIGXCPU\n")
			}},
		{name: "a cpp program that blocks every signal it can is still killed", lang: "cpp",
			code: `#include <csignal>
#include <cstdio>
int main() {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    for (int s = 1; s < NSIG; s++) std::signal(s, SIG_IGN);
    std::raise(SIGTERM);
    std::puts("blocked all signals");
    std::fflush(stdout);
    for (volatile unsigned long x = 0;; x++) {}
}
`,
			check: func(t *testing.T, res Result) {
				wantTimeout(t, res)
				wantStdout(t, res, "blocked all signals\n")
			}},
	})
}

// waitPidsFull waits until n sandbox cgroups of the runner's namespace hold
// as many tasks as the pids limit allows, and returns their names. It reads
// the v1 pids controller, or the unified hierarchy on a cgroup v2 host.
func waitPidsFull(t *testing.T, cfg Config, n int) []string {
	t.Helper()
	dir := filepath.Join(cgroupRoot, "pids", cfg.Namespace)
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		dir = filepath.Join(cgroupRoot, cfg.Namespace)
	}
	deadline := time.Now().Add(testtiming.Scaled(10 * time.Second))
	for {
		var full, seen []string
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !e.IsDir() || !isSandboxCgroup(e.Name()) {
				continue
			}
			current := intFile(filepath.Join(dir, e.Name(), "pids.current"))
			seen = append(seen, fmt.Sprintf("%s: %d", e.Name(), current))
			if current >= cfg.RunLimits.Pids {
				full = append(full, e.Name())
			}
		}
		if len(full) >= n {
			return full
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, %d sandbox cgroups in %s are at the pids limit, want %d (last seen %v)", len(full), dir, n, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
