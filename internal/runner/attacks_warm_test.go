package runner

import (
	"testing"
	"time"
)

// The warm pool changes how a Python run starts: its sandbox was created,
// and its launcher started, before the request came (see launcher.py). The
// attacks here run on that path and check that it isolates as the cold
// path does, and that an attack cannot harm the sandboxes waiting for the
// next requests.

func TestAttackWarmPool(t *testing.T) {
	r := openPooled(t, 1, func(c *Config) { c.QueueTimeout = 5 * time.Minute })
	warm := func(t *testing.T, code, input string) Result {
		t.Helper()
		waitPoolFull(t, r, 1)
		res := run(t, r, "python", code, input)
		if !res.Warm {
			t.Fatal("the run did not come from the warm pool")
		}
		return res
	}

	t.Run("markers planted in a warm run are absent from the next warm run", func(t *testing.T) {
		first := warm(t, pyPlant, "")
		wantStatus(t, first, StatusSuccess)
		wantStdout(t, first, pyPlanted)
		second := warm(t, pyLook, "")
		wantStatus(t, second, StatusSuccess)
		wantStdout(t, second, pyNothingLeft)
	})

	t.Run("a warm run has the cold run's identity, environment and mounts", func(t *testing.T) {
		res := warm(t, `import os
for line in open('/proc/self/status'):
    if line.split(':')[0] in ('Uid', 'Gid', 'Groups', 'CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp'):
        print(line.split(':')[0], ' '.join(line.split()[1:]))
print(sorted(os.environ.items()))
print(os.getcwd(), sorted(os.listdir('/job')), sorted(os.listdir('/tmp')))
`, "")
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, `Uid 10001 10001 10001 10001
Gid 10001 10001 10001 10001
Groups 10001
CapEff 0000000000000000
CapBnd 0000000000000000
NoNewPrivs 1
Seccomp 2
[('HOME', '/tmp'), ('LANG', 'C.UTF-8'), ('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'), ('TMPDIR', '/tmp')]
/tmp ['main.py'] []
`)
		mounts := warm(t, "print(open('/proc/self/mountinfo').read(), end='')\n", "")
		wantStatus(t, mounts, StatusSuccess)
		wantOnlyOwnJobMount(t, r.cfg, mounts)
	})

	t.Run("the program reads exactly the request's input, not the handover", func(t *testing.T) {
		res := warm(t, "import sys\nprint(repr(sys.stdin.buffer.read()))\n", "go\nline\n")
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "b'go\\nline\\n'\n")
	})

	t.Run("a fork bomb that kills everything it sees leaves the waiting sandboxes intact", func(t *testing.T) {
		res := warm(t, `import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
`+pyForkBomb, "")
		wantTimeout(t, res)
		wantNoProcessOf(t, res.ID)
		// The pool refilled while the bomb ran; its sandbox must work.
		next := warm(t, "print('ok')\n", "")
		wantStatus(t, next, StatusSuccess)
		wantStdout(t, next, "ok\n")
	})
}
