package runner

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// Attack classes 14 (cross-run isolation) and 15 (orphans).

// pyNeighbour plants, under the name read from stdin, a file in /tmp and in
// /dev/shm, a SysV shared memory segment, a listening abstract unix socket
// and a child process with the name in its command line; then, for 1 s,
// it looks for the same things planted by its neighbour (the other name)
// and prints what it ever saw. It first checks that it sees its own, so
// that a broken probe cannot pass for isolation.
const pyNeighbour = `import ctypes, errno, os, socket, subprocess, sys, time
me, other = sys.stdin.read().split()
libc = ctypes.CDLL(None, use_errno=True)
def key(name): return 0x5EC0DE00 + ord(name[-1])
def plant(name):
    for d in ('/tmp', '/dev/shm'):
        open(f'{d}/planted-{name}', 'w').close()
    assert libc.shmget(key(name), 4096, 0o1000 | 0o666) >= 0
    s = socket.socket(socket.AF_UNIX)
    s.bind('\0codeexec-neighbour-' + name)
    s.listen()
    p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', '#neighbour-' + name])
    return s, p
def seen(name):
    found = set()
    for d in ('/tmp', '/dev/shm'):
        if os.path.exists(f'{d}/planted-{name}'):
            found.add('file in ' + d)
    if libc.shmget(key(name), 0, 0) >= 0:
        found.add('shm segment')
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect('\0codeexec-neighbour-' + name)
        found.add('abstract socket')
    except OSError:
        pass
    c.close()
    for pid in os.listdir('/proc'):
        try:
            if pid.isdigit() and ('#neighbour-' + name).encode() in open(f'/proc/{pid}/cmdline', 'rb').read():
                found.add('process')
        except OSError:
            pass
    return found
keep = plant(me)
own, t0 = seen(me), time.time()
while 'process' not in own and time.time() - t0 < 0.5:  # the child may not have exec'd yet
    time.sleep(0.01)
    own = seen(me)
print('sees its own:', sorted(own))
start = time.time()
found = set()
while time.time() - start < 1:
    found |= seen(other)
    time.sleep(0.05)
print('saw of the neighbour:', sorted(found))
print('pids:', len([p for p in os.listdir('/proc') if p.isdigit()]))
print('alive from', start, 'to', time.time())
`

func TestAttackCrossRun(t *testing.T) {
	r := openAttackRunner(t)

	t.Run("two concurrent runs see nothing of each other", func(t *testing.T) {
		results := make(chan Result, 2)
		for _, names := range []string{"A B", "B A"} {
			go func() {
				res, err := r.Run(context.Background(), Request{Language: "python", Code: pyNeighbour, Input: names})
				if err != nil {
					t.Errorf("run: %v", err)
				}
				results <- res
			}()
		}
		var spans [][2]float64
		for range 2 {
			res := <-results
			wantStatus(t, res, StatusSuccess)
			// Three pids: tini, python and its child; none of the neighbour's.
			m := wantMatch(t, "stdout", res.Stdout, `^sees its own: \['abstract socket', 'file in /dev/shm', 'file in /tmp', 'process', 'shm segment'\]
saw of the neighbour: \[\]
pids: 3
alive from (\d+\.\d+) to (\d+\.\d+)
$`)
			if m != nil {
				from, _ := strconv.ParseFloat(m[1], 64)
				to, _ := strconv.ParseFloat(m[2], 64)
				spans = append(spans, [2]float64{from, to})
			}
		}
		if len(spans) == 2 && (spans[0][1] < spans[1][0] || spans[1][1] < spans[0][0]) {
			t.Errorf("the runs did not overlap (%v): the test proved nothing", spans)
		}
	})

	t.Run("kill(-1) in one run does not reach another", func(t *testing.T) {
		victim := make(chan Result, 1)
		go func() {
			res, err := r.Run(context.Background(), Request{Language: "python",
				Code: "import time\nprint('victim started at', time.time(), flush=True)\ntime.sleep(1.5)\nprint('victim survived')\n"})
			if err != nil {
				t.Errorf("run: %v", err)
			}
			victim <- res
		}()
		time.Sleep(400 * time.Millisecond)
		// Every process of uid 10001 this program can see, i.e. its own
		// PID namespace, gets SIGKILL; the victim has the same uid.
		// It finds none besides itself and its PID 1, which kill(-1) skips.
		killer := run(t, r, "python", `import errno, os, signal, time
try:
    os.kill(-1, signal.SIGKILL)
    result = 'sent'
except OSError as e:
    result = errno.errorcode[e.errno]
print('kill(-1, SIGKILL):', result, 'at', time.time())
`, "")
		wantStatus(t, killer, StatusSuccess)
		v := <-victim
		wantStatus(t, v, StatusSuccess)
		started := wantMatch(t, "victim's stdout", v.Stdout, `^victim started at (\d+\.\d+)\nvictim survived\n$`)
		sent := wantMatch(t, "killer's stdout", killer.Stdout, `^kill\(-1, SIGKILL\): ESRCH at (\d+\.\d+)\n$`)
		if started != nil && sent != nil {
			a, _ := strconv.ParseFloat(started[1], 64)
			b, _ := strconv.ParseFloat(sent[1], 64)
			if b < a || b > a+1.5 {
				t.Errorf("the kill (at %f) was not sent while the victim (started %f) slept", b, a)
			}
		}
	})
}

func TestAttackOrphans(t *testing.T) {
	r := openAttackRunner(t)
	// The daemon detaches twice, leaves the session, ignores every signal it
	// may, and would outlive the run by far.
	const daemon = `import os, signal, time
def daemonize():
    if os.fork() > 0:
        return
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(s, signal.SIG_IGN)
    os.close(1)
    os.close(2)
    while True:
        time.sleep(30)
daemonize()
print('daemon detached', flush=True)
`
	runAttacks(t, r, []attack{
		{name: "a detached daemon dies when the program exits", lang: "python", code: daemon,
			check: func(t *testing.T, res Result) {
				// Checked before teardown: when Run returns, the run's
				// processes must already be gone.
				wantNoProcessOf(t, res.ID)
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "daemon detached\n")
			}},
		{name: "a detached daemon dies when the program times out", lang: "python", code: daemon + "time.sleep(60)\n",
			check: func(t *testing.T, res Result) {
				wantNoProcessOf(t, res.ID)
				wantTimeout(t, res)
				wantStdout(t, res, "daemon detached\n")
			}},
		{name: "a cpp daemon that blocks every signal dies with the run", lang: "cpp",
			code: `#include <csignal>
#include <cstdio>
#include <unistd.h>
int main() {
    if (fork() == 0) {
        setsid();
        if (fork() > 0) _exit(0);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, nullptr);
        close(1);
        close(2);
        for (;;) pause();
    }
    std::puts("daemon detached");
}
`,
			check: func(t *testing.T, res Result) {
				wantNoProcessOf(t, res.ID)
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "daemon detached\n")
			}},
	})
	// The leak check of MustOpenRunner's cleanup covers the rest: no
	// container, task, snapshot, cgroup, job directory or process remains.
}
