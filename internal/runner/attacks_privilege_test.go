package runner

import (
	"testing"
)

// Attack classes 12 (privilege) and 17 (seccomp).

// cppReport is the head of the C++ attack programs: report prints the
// errno name of a failed call, or "ok" and its result.
const cppReport = `#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>
static void report(const char* what, long rc) {
    if (rc == -1) std::printf("%s: %s\n", what, strerrorname_np(errno));
    else std::printf("%s: ok %ld\n", what, rc);
    std::fflush(stdout);
}
`

func TestAttackPrivilege(t *testing.T) {
	r := openAttackRunner(t)
	runAttacks(t, r, []attack{
		{name: "privileged calls are refused", lang: "cpp",
			code: cppReport + `#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/keyctl.h>
int main() {
    report("setuid(0)", setuid(0));
    report("setgid(0)", setgid(0));
    report("setresuid(0,0,0)", setresuid(0, 0, 0));
    report("setuid(10002)", setuid(10002));
    gid_t root = 0;
    report("setgroups([0])", setgroups(1, &root));
    report("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, nullptr));
    report("umount /job", umount2("/job", MNT_DETACH));
    report("unshare(CLONE_NEWUSER|CLONE_NEWNS)", unshare(CLONE_NEWUSER | CLONE_NEWNS));
    report("unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET));
    report("clone(CLONE_NEWUSER)", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    report("setns", syscall(SYS_setns, 0, CLONE_NEWNET));
    report("mknod /tmp/mem", mknod("/tmp/mem", S_IFCHR | 0666, makedev(1, 1)));
    report("chroot /tmp", chroot("/tmp"));
    report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    report("add_key", syscall(SYS_add_key, "user", "k", "v", 1, KEY_SPEC_SESSION_KEYRING));
    char buf[64];
    report("syslog (dmesg)", klogctl(3, buf, sizeof buf));
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    report("ptrace(PTRACE_ATTACH) of a child", ptrace(PTRACE_ATTACH, child, 0, 0));
    report("ptrace(PTRACE_SEIZE) of a child", ptrace(PTRACE_SEIZE, child, 0, 0));
    struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
    report("process_vm_readv of a child", process_vm_readv(child, &local, 1, &remote, 1, 0));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    child = fork();
    if (child == 0) { report("ptrace(PTRACE_TRACEME)", ptrace(PTRACE_TRACEME, 0, 0, 0)); _exit(0); }
    waitpid(child, nullptr, 0);
}
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, `setuid(0): EPERM
setgid(0): EPERM
setresuid(0,0,0): EPERM
setuid(10002): EPERM
setgroups([0]): EPERM
mount tmpfs: EPERM
umount /job: EPERM
unshare(CLONE_NEWUSER|CLONE_NEWNS): EPERM
unshare(CLONE_NEWNET): EPERM
clone(CLONE_NEWUSER): EPERM
setns: EPERM
mknod /tmp/mem: EPERM
chroot /tmp: EPERM
pivot_root: EPERM
keyctl: EPERM
add_key: EPERM
syslog (dmesg): EPERM
ptrace(PTRACE_ATTACH) of a child: EPERM
ptrace(PTRACE_SEIZE) of a child: EPERM
process_vm_readv of a child: EPERM
ptrace(PTRACE_TRACEME): EPERM
`)
			}},
		{name: "the process holds no capability and runs as 10001", lang: "python",
			code: `for line in open('/proc/self/status'):
    key = line.split(':')[0]
    if key in ('Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'):
        print(key, ' '.join(line.split()[1:]))
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, `Uid 10001 10001 10001 10001
Gid 10001 10001 10001 10001
Groups 10001
CapInh 0000000000000000
CapPrm 0000000000000000
CapEff 0000000000000000
CapBnd 0000000000000000
CapAmb 0000000000000000
NoNewPrivs 1
Seccomp 2
`)
			}},
		{name: "setuid binaries of the image grant nothing", lang: "python",
			// The image has su, mount, passwd... setuid root. no_new_privs
			// makes exec ignore the bit: su keeps uid 10001 in all four slots.
			code: `import os, subprocess, time
su = subprocess.Popen(['/usr/bin/su', 'root', '-c', 'id'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
time.sleep(0.3)
for line in open(f'/proc/{su.pid}/status'):
    if line.startswith(('Name', 'Uid', 'CapEff')):
        print('su', ' '.join(line.split()))
su.kill()
m = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/tmp'], capture_output=True, text=True)
print('mount exit', m.returncode, m.stderr.splitlines()[0])
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "su Name: su\nsu Uid: 10001 10001 10001 10001\nsu CapEff: 0000000000000000\n"+
					"mount exit 32 mount: /tmp: must be superuser to use mount.\n")
			}},
		{name: "resource limits cannot be raised", lang: "python",
			code: `import resource
for name in ('RLIMIT_NOFILE', 'RLIMIT_FSIZE', 'RLIMIT_CORE'):
    r = getattr(resource, name)
    soft, hard = resource.getrlimit(r)
    try:
        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print(name, soft, hard, 'raised')
    except ValueError as e:  # Python's word for EPERM from setrlimit
        print(name, soft, hard, e)
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "RLIMIT_NOFILE 256 256 not allowed to raise maximum limit\n"+
					"RLIMIT_FSIZE 67108864 67108864 not allowed to raise maximum limit\n"+
					"RLIMIT_CORE 0 0 not allowed to raise maximum limit\n")
			}},
	})
}

func TestAttackSeccomp(t *testing.T) {
	r := openAttackRunner(t)
	res := run(t, r, "cpp", cppReport+`#include <csignal>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/io_uring.h>
// in_child runs f in a child and reports how the child ended, so that a
// call that kills the caller (SIGSYS) does not end the program.
template <class F> static void in_child(const char* what, F f) {
    pid_t c = fork();
    if (c == 0) { f(); _exit(0); }
    int st = 0;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st)) std::printf("%s: killed by SIG%s\n", what, sigabbrev_np(WTERMSIG(st)));
    std::fflush(stdout);
}
int main() {
    io_uring_params p{};
    report("io_uring_setup", syscall(SYS_io_uring_setup, 8, &p));
    report("io_uring_enter", syscall(SYS_io_uring_enter, 0, 0, 0, 0, nullptr, 0));
    report("io_uring_register", syscall(SYS_io_uring_register, 0, 0, nullptr, 0));
    report("bpf", syscall(SYS_bpf, 0, nullptr, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, nullptr, 0));
    report("init_module", syscall(SYS_init_module, nullptr, 0, ""));
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, 0, nullptr, 0));
    report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    report("open_tree", syscall(SYS_open_tree, -100, "/", 0));
    // The 32-bit entry: getpid is 20 in the i386 table. It must never
    // return a pid.
    in_child("int 0x80 getpid", [] {
        long r;
        asm volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory", "r8", "r9", "r10", "r11", "cc");
        std::printf("int 0x80 getpid: returned %ld\n", r);
    });
    // The x32 ABI: getpid with the x32 bit set.
    in_child("x32 getpid", [] { report("x32 getpid", syscall(0x40000000 | SYS_getpid)); });
}
`, "")
	wantStatus(t, res, StatusSuccess)
	// io_uring, ptrace and process_vm_* (TestAttackPrivilege) would succeed
	// without the profile; x32 calls would return ENOSYS from the kernel,
	// not kill. int 0x80 is refused twice over: seccomp kills a foreign-arch
	// call with SIGSYS, and kernels whose 32-bit entry is off (the reference
	// host's) raise a general protection fault (SIGSEGV) before seccomp
	// runs; either way no pid comes back.
	m := wantMatch(t, "stdout", res.Stdout, `^io_uring_setup: EPERM
io_uring_enter: EPERM
io_uring_register: EPERM
bpf: EPERM
perf_event_open: EPERM
userfaultfd: EPERM
kexec_load: EPERM
init_module: EPERM
open_by_handle_at: EPERM
fsopen: EPERM
open_tree: EPERM
int 0x80 getpid: killed by (SIGSYS|SIGSEGV)
x32 getpid: killed by SIGSYS
$`)
	if m != nil {
		t.Logf("int 0x80 was stopped by %s", m[1])
	}
}
