package runner

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// Attack classes 7 (disk), 8 (persistence) and 9 (links).

// pyManyFiles creates empty files in the directory named on stdin until
// creation fails, and prints how many it made and the errno.
const pyManyFiles = `import errno, os, sys
d = sys.stdin.read().strip()
n = 0
try:
    while n < 1000000:
        os.close(os.open(f'{d}/{n}', os.O_WRONLY | os.O_CREAT, 0o600))
        n += 1
        if n % 100000 == 0:
            print(d, n, 'files so far', flush=True)
    print(d, n, 'files, no error', flush=True)
except OSError as e:
    print(d, n, 'files', errno.errorcode[e.errno], flush=True)
`

func TestAttackDisk(t *testing.T) {
	r := openAttackRunner(t)
	runAttacks(t, r, []attack{
		{name: "a huge file is refused on read-only paths and stopped at 64 MiB on tmpfs", lang: "python",
			code: `import errno, os
chunk = b'x' * (1 << 20)
for p in ('/job/big', '/tmp/big', 'big-in-cwd', '/dev/shm/big', '/usr/big', '/var/tmp/big', '/run/big', '/big'):
    total, fd = 0, -1
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
        while True:
            total += os.write(fd, chunk)
    except OSError as e:
        print(p, errno.errorcode[e.errno], total >> 20, 'MiB', flush=True)
    if fd >= 0:
        os.close(fd)
        os.unlink(p)
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				// EFBIG, not ENOSPC: RLIMIT_FSIZE and the tmpfs size are both
				// 64 MiB, and the size limit is checked first.
				wantStdout(t, res, "/job/big EROFS 0 MiB\n/tmp/big EFBIG 64 MiB\nbig-in-cwd EFBIG 64 MiB\n/dev/shm/big EFBIG 64 MiB\n"+
					"/usr/big EROFS 0 MiB\n/var/tmp/big EROFS 0 MiB\n/run/big EACCES 0 MiB\n/big EROFS 0 MiB\n")
			}},
		{name: "a cpp program writing past the file size limit is killed by SIGXFSZ", lang: "cpp",
			code: `#include <cstdio>
#include <vector>
int main() {
    std::vector<char> chunk(1 << 20, 'x');
    std::FILE* f = std::fopen("/tmp/big", "w");
    std::puts("writing");
    std::fflush(stdout);
    for (;;) std::fwrite(chunk.data(), 1, chunk.size(), f);
}
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusRuntimeError)
				if res.Signal != "SIGXFSZ" {
					t.Errorf("signal %q, want SIGXFSZ", res.Signal)
				}
				wantStdout(t, res, "writing\n")
			}},
		{name: "a million small files in /tmp stop at the inode cap", lang: "python", code: pyManyFiles, input: "/tmp",
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				// One inode of the 4096 is the root directory.
				wantStdout(t, res, fmt.Sprintf("/tmp %d files ENOSPC\n", DefaultConfig().RunLimits.TmpInodes-1))
			}},
		{name: "a million small files in the working directory stop at the inode cap", lang: "python", code: pyManyFiles, input: ".",
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, fmt.Sprintf(". %d files ENOSPC\n", DefaultConfig().RunLimits.TmpInodes-1))
			}},
		{name: "a million small files in /dev/shm stop at an inode cap", lang: "python", code: pyManyFiles, input: "/dev/shm",
			check: func(t *testing.T, res Result) {
				// Each tmpfs inode costs about a kilobyte of kernel memory,
				// and tearing down hundreds of thousands of them delays
				// the kill; the scratch space must end with ENOSPC as
				// /tmp does, not with the memory or the time limit.
				t.Logf("status %s after %s, memory peak %d MiB", res.Status, res.Time, res.MemoryPeakBytes>>20)
				wantStatus(t, res, StatusSuccess)
				wantMatch(t, "stdout", res.Stdout, `^/dev/shm \d+ files ENOSPC\n$`)
				if res.Time > testtiming.EarlyStop {
					t.Errorf("the run lasted %s", res.Time)
				}
			}},
	})
}

// persistencePaths are every place a program might write to leave
// something for the next run: the writable mounts, the job directory,
// the working directory, the read-only root (a .pth file that Python runs
// at start-up, a preloaded library), and the IPC namespace.
const persistencePaths = `paths = ['/tmp/marker', '/dev/shm/marker', '/dev/mqueue/marker', '/run/marker', '/var/tmp/marker',
         '/job/marker', 'marker-in-cwd', '/usr/lib/python3/dist-packages/zz-persist.pth', '/etc/ld.so.preload']
KEY = 0x5EC0DE08
`

// pyPlant writes a marker at each of persistencePaths and creates a SysV
// shared memory segment.
const pyPlant = `import ctypes, errno, os
` + persistencePaths + `for p in paths:
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
        print(p, 'written')
    except OSError as e:
        print(p, errno.errorcode[e.errno])
libc = ctypes.CDLL(None, use_errno=True)
print('sysv shm', 'created' if libc.shmget(KEY, 4096, 0o1000 | 0o666) >= 0 else errno.errorcode[ctypes.get_errno()])
`

// pyPlanted is what pyPlant prints: it wrote wherever it could.
const pyPlanted = `/tmp/marker written
/dev/shm/marker written
/dev/mqueue/marker written
/run/marker EACCES
/var/tmp/marker EROFS
/job/marker EROFS
marker-in-cwd written
/usr/lib/python3/dist-packages/zz-persist.pth EROFS
/etc/ld.so.preload EROFS
sysv shm created
`

// pyLook looks for what pyPlant left.
const pyLook = `import ctypes, errno, os
` + persistencePaths + `for p in paths:
    print(p, 'present' if os.path.lexists(p) else 'absent')
libc = ctypes.CDLL(None, use_errno=True)
print('sysv shm', 'present' if libc.shmget(KEY, 0, 0) >= 0 else errno.errorcode[ctypes.get_errno()])
`

// pyNothingLeft is what pyLook prints in a fresh sandbox.
const pyNothingLeft = `/tmp/marker absent
/dev/shm/marker absent
/dev/mqueue/marker absent
/run/marker absent
/var/tmp/marker absent
/job/marker absent
marker-in-cwd absent
/usr/lib/python3/dist-packages/zz-persist.pth absent
/etc/ld.so.preload absent
sysv shm ENOENT
`

func TestAttackPersistence(t *testing.T) {
	r := openAttackRunner(t)
	first := run(t, r, "python", pyPlant, "")
	wantStatus(t, first, StatusSuccess)
	wantStdout(t, first, pyPlanted)
	second := run(t, r, "python", pyLook, "")
	wantStatus(t, second, StatusSuccess)
	wantStdout(t, second, pyNothingLeft)
}

func TestAttackLinks(t *testing.T) {
	r := openAttackRunner(t)
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	if strings.Contains(string(hostPasswd), "sandbox:x:10001:10001:") {
		t.Log("the host has the image's sandbox user too: the passwd check below cannot tell the files apart")
	}
	stateDir := r.cfg.StateDir // exists on the host, not in the sandbox

	runAttacks(t, r, []attack{
		{name: "a run cannot create, replace or remove anything in /job", lang: "python",
			code: `import errno, os
ops = [
    ('symlink /job/shadow', lambda: os.symlink('/etc/shadow', '/job/shadow')),
    ('hard link /job/hard', lambda: os.link('/job/main.py', '/job/hard')),
    ('rename /job/main.py', lambda: os.rename('/job/main.py', '/job/moved.py')),
    ('unlink /job/main.py', lambda: os.unlink('/job/main.py')),
    ('truncate /job/main.py', lambda: open('/job/main.py', 'w')),
    ('chmod /job', lambda: os.chmod('/job', 0o777)),
    ('mkdir /job/d', lambda: os.mkdir('/job/d')),
    ('mkfifo /job/fifo', lambda: os.mkfifo('/job/fifo')),
]
for name, op in ops:
    try:
        op()
        print(name, 'done')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
print(sorted(os.listdir('/job')))
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "symlink /job/shadow EROFS\nhard link /job/hard EROFS\nrename /job/main.py EROFS\nunlink /job/main.py EROFS\n"+
					"truncate /job/main.py EROFS\nchmod /job EROFS\nmkdir /job/d EROFS\nmkfifo /job/fifo EROFS\n['main.py']\n")
			}},
		{name: "links in /tmp lead to the image's files, not the host's", lang: "python", input: stateDir,
			code: `import errno, os, sys
def read(p):
    try:
        with open(p) as f:
            return f.read()
    except OSError as e:
        return errno.errorcode[e.errno]
os.symlink('/etc/shadow', '/tmp/shadow')
print('/tmp/shadow -> /etc/shadow:', read('/tmp/shadow'))
try:
    os.link('/etc/shadow', '/tmp/shadow-hard')
    print('hard link to /etc/shadow made')
except OSError as e:
    print('hard link to /etc/shadow:', errno.errorcode[e.errno])
os.symlink('/etc/passwd', '/tmp/passwd')
print('/tmp/passwd has the image user:', 'sandbox:x:10001:10001::/nonexistent:/usr/sbin/nologin' in read('/tmp/passwd'))
os.symlink(sys.stdin.read(), '/tmp/state')
print('link to the host state dir:', 'exists' if os.path.exists('/tmp/state') else 'dangling')
print('/proc/1/root ->', os.readlink('/proc/1/root'))
print('/proc/1/root/etc/shadow:', read('/proc/1/root/etc/shadow'))
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "/tmp/shadow -> /etc/shadow: EACCES\nhard link to /etc/shadow: EXDEV\n/tmp/passwd has the image user: True\n"+
					"link to the host state dir: dangling\n/proc/1/root -> /\n/proc/1/root/etc/shadow: EACCES\n")
			}},
		{name: "a compiled program cannot make its binary setuid", lang: "cpp",
			code: `#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <sys/stat.h>
#include <sys/statvfs.h>
int main() {
    struct stat st;
    for (const char* p : {"/job/main", "/job/main.cpp", "/job"}) {
        stat(p, &st);
        std::printf("%s mode %o uid %u\n", p, st.st_mode & 07777, st.st_uid);
    }
    std::printf("chmod u+s /job/main: %s\n", chmod("/job/main", 04755) ? strerrorname_np(errno) : "done");
    struct statvfs vfs;
    statvfs("/job", &vfs);
    std::printf("/job mount:%s%s%s\n", vfs.f_flag & ST_RDONLY ? " ro" : " rw",
                vfs.f_flag & ST_NOSUID ? " nosuid" : "", vfs.f_flag & ST_NODEV ? " nodev" : "");
}
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "/job/main mode 755 uid 10001\n/job/main.cpp mode 644 uid 0\n/job mode 700 uid 10001\n"+
					"chmod u+s /job/main: EROFS\n/job mount: ro nosuid nodev\n")
			}},
	})
}
