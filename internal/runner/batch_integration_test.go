package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// isolationProbe is a C++ program that, with input "leave", leaves behind
// everything a run could: files in every writable place, a sleeping child
// in a session of its own, System V shared memory, a semaphore set, a
// message queue and a POSIX message queue. With input "look" it reports
// which of them it finds. A later run of a batch must find none.
const isolationProbe = `#include <bits/stdc++.h>
#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>
static bool exists(const char* p) { return access(p, F_OK) == 0; }
static std::string others() { // the processes of runs (uid 10001) other than this one
    std::string names; DIR* d = opendir("/proc");
    while (dirent* e = readdir(d)) {
        int pid = atoi(e->d_name);
        struct stat st;
        if (pid <= 0 || pid == getpid() || stat(("/proc/" + std::string(e->d_name)).c_str(), &st) != 0 || st.st_uid != 10001) continue;
        std::ifstream f("/proc/" + std::string(e->d_name) + "/comm"); std::string comm; f >> comm;
        names += comm + ",";
    }
    closedir(d); return names;
}
static int lines(const char* p) { // entries of a /proc/sysvipc table
    std::ifstream f(p); std::string s; int n = -1;
    while (std::getline(f, s)) n++;
    return n;
}
int main() {
    std::string mode; std::cin >> mode;
    if (mode == "leave") {
        std::ofstream("/tmp/x") << "secret";
        std::ofstream("/dev/shm/y") << "secret";
        mkdir("/tmp/d", 0); // a directory even its owner cannot enter
        if (shmget(0x1234, 4096, IPC_CREAT | 0600) < 0) perror("shmget");
        if (semget(0x1235, 1, IPC_CREAT | 0600) < 0) perror("semget");
        if (msgget(0x1236, IPC_CREAT | 0600) < 0) perror("msgget");
        if (mq_open("/q", O_CREAT | O_RDWR, 0600, nullptr) == (mqd_t)-1) perror("mq_open");
        if (fork() == 0) { setsid(); close(1); close(2); sleep(3600); _exit(0); }
        usleep(100000);
        std::cout << "left " << others() << "\n";
        return 0;
    }
    std::cout << "tmp " << exists("/tmp/x") << exists("/tmp/d")
              << " shm " << exists("/dev/shm/y")
              << " mq " << exists("/dev/mqueue/q")
              << " sysv " << lines("/proc/sysvipc/shm") << lines("/proc/sysvipc/sem") << lines("/proc/sysvipc/msg")
              << " processes " << others() << "\n";
}
`

// agentProbe tries, as a run, what a run could do to the lane agent (PID 1,
// the same user), and looks at what a run inherits.
const agentProbe = `#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <iostream>
#include <string>
static int openErr(const char* p) { int fd = open(p, O_RDONLY); if (fd >= 0) { close(fd); return 0; } return errno; }
int main() {
    std::string mode; std::cin >> mode;
    if (mode == "tamper") {
        std::cout << "mem " << openErr("/proc/1/mem") << " environ " << openErr("/proc/1/environ");
        for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGSEGV, SIGTSTP, SIGSTOP, SIGKILL}) kill(1, s);
        std::cout << " signals sent";
        std::cout << " nice " << setpriority(PRIO_PROCESS, 1, 15);
        struct rlimit rl = {16, 16};
        std::cout << " prlimit " << prlimit(1, RLIMIT_NOFILE, &rl, nullptr);
        cpu_set_t one; CPU_ZERO(&one); CPU_SET(0, &one);
        std::cout << " affinity " << sched_setaffinity(1, sizeof one, &one) << "\n";
        return 0;
    }
    struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl);
    cpu_set_t set; sched_getaffinity(0, sizeof set, &set);
    std::cout << "nice " << getpriority(PRIO_PROCESS, 0) << " nofile " << rl.rlim_cur << " cpus " << CPU_COUNT(&set) << "\n";
}
`

func TestBatchRunsSeeNothingOfEarlierRuns(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		name := "runs started into the lane's sandbox"
		if fresh {
			name = "runs in fresh sandboxes"
		}
		t.Run(name, func(t *testing.T) {
			r := MustOpenRunner(t, func(c *Config) { c.BatchFreshSandboxes = fresh })
			b, builds, err := r.OpenBatch(context.Background(), []Program{{Language: "cpp", Code: isolationProbe}}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if builds[0].Status != StatusSuccess {
				t.Fatalf("build %+v", builds[0])
			}
			defer b.Close()
			left, err := b.Run(context.Background(), 0, 0, BatchRun{Input: "leave"})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, left, StatusSuccess)
			// The sandbox's init runs as the sandbox user too: tini in a
			// fresh sandbox, the lane agent in a lane's.
			init := ".lane,"
			if fresh {
				init = "tini,"
			}
			if left.Stdout != "left "+init+"main,\n" || left.Stderr != "" {
				t.Fatalf("the first run did not leave everything: %q %q", left.Stdout, left.Stderr)
			}
			for i := range 2 {
				seen, err := b.Run(context.Background(), 0, 0, BatchRun{Input: "look"})
				if err != nil {
					t.Fatal(err)
				}
				if want := "tmp 00 shm 0 mq 0 sysv 000 processes " + init + "\n"; seen.Stdout != want {
					t.Errorf("run %d saw %q, want %q", i+2, seen.Stdout, want)
				}
			}
		})
	}
}

func TestBatch(t *testing.T) {
	r := MustOpenRunner(t, nil)

	t.Run("lanes run the same program at once, each run with its own figures", func(t *testing.T) {
		code := "import sys\nn = int(sys.stdin.read())\nb = bytearray(n << 20)\nprint(n)\n"
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "python", Code: code}}, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.Lanes() != 2 {
			t.Fatalf("%d lanes, want 2", b.Lanes())
		}
		big, err := b.Run(context.Background(), 0, 0, BatchRun{Input: "120"})
		if err != nil {
			t.Fatal(err)
		}
		small, err := b.Run(context.Background(), 0, 0, BatchRun{Input: "1"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := b.Run(context.Background(), 1, 0, BatchRun{Input: "2"})
		if err != nil {
			t.Fatal(err)
		}
		if big.Stdout != "120\n" || small.Stdout != "1\n" || other.Stdout != "2\n" {
			t.Fatalf("stdout %q %q %q", big.Stdout, small.Stdout, other.Stdout)
		}
		if big.MemoryPeakBytes < 120<<20 || small.MemoryPeakBytes > 60<<20 {
			t.Errorf("memory peaks %d and %d: each run's own, want over 120 MiB and under 60 MiB", big.MemoryPeakBytes, small.MemoryPeakBytes)
		}
		if small.CPUTime <= 0 || small.CPUTime > big.CPUTime+big.Time {
			t.Errorf("cpu time %s after a run of %s", small.CPUTime, big.CPUTime)
		}
	})

	t.Run("a run that times out is killed, and the lane serves the next", func(t *testing.T) {
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "python", Code: "import sys\nif sys.stdin.read() == 'spin':\n    while True: pass\nprint('ok')\n"}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		res, err := b.Run(context.Background(), 0, 0, BatchRun{Input: "spin", Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, StatusTimeout)
		if res.Signal != "SIGKILL" {
			t.Errorf("signal %q", res.Signal)
		}
		res, err = b.Run(context.Background(), 0, 0, BatchRun{Input: "x"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, StatusSuccess)
	})

	t.Run("a run can neither reach the lane agent nor change what the next run inherits", func(t *testing.T) {
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "cpp", Code: agentProbe}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		run := func(mode string) string {
			t.Helper()
			res, err := b.Run(context.Background(), 0, 0, BatchRun{Input: mode})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, res, StatusSuccess)
			return res.Stdout
		}
		before := run("look")
		// The agent's /proc files are root's (it is not dumpable); signals
		// from inside its PID namespace reach it only through its handlers,
		// which drop them; its scheduling and limits can be changed, since
		// it runs as the same user, and the lane is then replaced.
		if got, want := run("tamper"), "mem 13 environ 13 signals sent nice 0 prlimit 0 affinity 0\n"; got != want {
			t.Errorf("tamper: %q, want %q", got, want)
		}
		if after := run("look"); after != before {
			t.Errorf("the next run inherited the tampering: %q, before it %q", after, before)
		}
		if !strings.HasPrefix(before, "nice 0 nofile ") {
			t.Errorf("look: %q", before)
		}
	})

	t.Run("a fork bomb in a run ends in a verdict, and the lane serves the next", func(t *testing.T) {
		code := "#include <unistd.h>\n#include <iostream>\nint main() { std::string s; std::cin >> s; if (s == \"bomb\") for (;;) fork(); std::cout << \"ok\\n\"; }\n"
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "cpp", Code: code}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		res, err := b.Run(context.Background(), 0, 0, BatchRun{Input: "bomb", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, StatusTimeout)
		res, err = b.Run(context.Background(), 0, 0, BatchRun{Input: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != StatusSuccess || res.Stdout != "ok\n" {
			t.Errorf("after the bomb: %+v", res)
		}
	})

	t.Run("a memory bomb in a run is memory_limit_exceeded", func(t *testing.T) {
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "python", Code: "s = 'x' * (1 << 30)\n"}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		// It must end by the memory limit: the time limit, long enough
		// for a far slower machine (testtiming.LimitWait), must not come
		// first.
		res, err := b.Run(context.Background(), 0, 0, BatchRun{Timeout: testtiming.LimitWait})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, StatusMemoryLimitExceeded)
	})

	t.Run("an output flood is cut at the run's cap", func(t *testing.T) {
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "python", Code: "while True: print('x' * 1000)\n"}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		res, err := b.Run(context.Background(), 0, 0, BatchRun{OutputBytes: 5000})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, res, StatusOutputLimitExceeded)
		if len(res.Stdout) != 5000 {
			t.Errorf("kept %d bytes", len(res.Stdout))
		}
	})

	t.Run("files and arguments reach the run, read-only", func(t *testing.T) {
		code := "import sys\nprint(open(sys.argv[1]).read())\ntry:\n    open('/run/data/new', 'w')\nexcept OSError as e:\n    print(e.errno)\n"
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "python", Code: code}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		res, err := b.Run(context.Background(), 0, 0, BatchRun{Args: []string{"/run/data/answer"}, Files: map[string]string{"answer": "42"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != "42\n30\n" { // EROFS
			t.Errorf("stdout %q stderr %q", res.Stdout, res.Stderr)
		}
		if _, err := b.Run(context.Background(), 0, 0, BatchRun{Files: map[string]string{"../x": ""}}); !errors.Is(err, ErrInvalidBatch) {
			t.Errorf("a path as a file name: %v", err)
		}
	})

	t.Run("a program that does not compile has a build and no batch", func(t *testing.T) {
		b, builds, err := r.OpenBatch(context.Background(), []Program{{Language: "cpp", Code: "int main() { return x; }"}}, 2)
		if err != nil || b != nil {
			t.Fatalf("batch %v, err %v", b, err)
		}
		if builds[0].Status != StatusCompileError || !strings.Contains(builds[0].Output, "not declared") {
			t.Errorf("build %+v", builds[0])
		}
	})

	t.Run("a client that goes away ends the run", func(t *testing.T) {
		b, _, err := r.OpenBatch(context.Background(), []Program{{Language: "python", Code: "import time\ntime.sleep(60)\n"}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*1e6)
		defer cancel()
		if _, err := b.Run(ctx, 0, 0, BatchRun{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the context's error", err)
		}
	})
}
