package runner

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Attack class 13: information leaks. What stays visible on purpose is
// listed in docs/security.md, "What remains visible".

// maskedPaths are the kernel interfaces that reveal the host's memory,
// keys, scheduler, timers, firmware or kernel log.
var maskedPaths = []string{
	"/proc/kcore", "/proc/keys", "/proc/sched_debug", "/proc/timer_list", "/proc/latency_stats",
	"/proc/timer_stats", "/proc/scsi", "/proc/acpi", "/sys/firmware", "/proc/kmsg", "/dev/kmsg",
	"/proc/kpagecount", "/proc/kpageflags", "/proc/vmallocinfo", "/proc/slabinfo", "/proc/interrupts",
	"/sys/kernel/debug", "/sys/kernel/security", "/sys/kernel/tracing", "/sys/fs/cgroup",
}

func TestAttackInformationLeaks(t *testing.T) {
	const canary = "CODEEXEC_ATTACK_CANARY"
	t.Setenv(canary, "host-secret-4f9a1c") // the service's own environment
	r := openAttackRunner(t)
	hostName, _ := os.Hostname()

	runAttacks(t, r, []attack{
		{name: "the environment is the spec's, for the program and for PID 1", lang: "python",
			code: `import os
for k in sorted(os.environ):
    print(k + '=' + os.environ[k])
print(open('/proc/1/environ').read().replace('\0', ' '))
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				env := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 TMPDIR=/tmp "
				wantStdout(t, res, "HOME=/tmp\nLANG=C.UTF-8\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nTMPDIR=/tmp\n"+env+"\n")
			}},
		{name: "the hostname is sandbox", lang: "python",
			code: "import os, socket\nprint(socket.gethostname(), os.uname().nodename, open('/proc/sys/kernel/hostname').read().strip())\n",
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "sandbox sandbox sandbox\n")
			}},
		{name: "the image carries no name or resolver of the host it was built on", lang: "python",
			code: `import json
files = {}
for p in ('/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/etc/mailname'):
    try:
        files[p] = open(p).read()
    except OSError as e:
        files[p] = e.strerror
print(json.dumps(files))
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				t.Logf("the sandbox's files:\n%s", res.Stdout)
				var files map[string]string
				if err := json.Unmarshal([]byte(res.Stdout), &files); err != nil {
					t.Fatalf("stdout %q: %v", res.Stdout, err)
				}
				if hostName != "" && strings.TrimSpace(files["/etc/hostname"]) == hostName {
					t.Errorf("/etc/hostname in the image is the host's name %q", hostName)
				}
				if hostName != "" && regexp.MustCompile(`(?m)\s`+regexp.QuoteMeta(hostName)+`(\s|$)`).MatchString(files["/etc/hosts"]) {
					t.Errorf("/etc/hosts in the image names the host %q", hostName)
				}
				for _, ns := range nameservers("/etc/resolv.conf") {
					if strings.Contains(files["/etc/resolv.conf"], ns) {
						t.Errorf("/etc/resolv.conf in the image lists the host's name server %s", ns)
					}
				}
			}},
		{name: "kernel interfaces that reveal the host are masked", lang: "python",
			code: `import errno, os, sys
for p in sys.stdin.read().split():
    try:
        if os.path.isdir(p):
            print(p, 'empty' if not os.listdir(p) else 'listable')
        else:
            with open(p, 'rb') as f:
                print(p, 'empty' if not f.read(4096) else 'readable')
    except OSError as e:
        print(p, errno.errorcode[e.errno])
`, input: strings.Join(maskedPaths, " "),
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
				if len(lines) != len(maskedPaths) {
					t.Fatalf("stdout:\n%s\nwant one line per path of %v", res.Stdout, maskedPaths)
				}
				for i, l := range lines {
					if !regexp.MustCompile(`^` + regexp.QuoteMeta(maskedPaths[i]) + ` (ENOENT|EACCES|EPERM|empty)$`).MatchString(l) {
						t.Errorf("%q: want the path absent, empty or unreadable", l)
					}
				}
			}},
		{name: "the kernel log is refused and kernel addresses are hidden", lang: "python",
			code: `import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(4096)
rc = libc.klogctl(3, buf, 4096)
print('syslog read:', errno.errorcode[ctypes.get_errno()] if rc < 0 else 'read %d bytes' % rc)
addrs = {l.split()[0] for l in open('/proc/kallsyms')}
print('kallsyms addresses:', addrs)
`,
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "syslog read: EPERM\nkallsyms addresses: {'0000000000000000'}\n")
			}},
		{name: "mountinfo shows no host path of the service but this run's job directory", lang: "python",
			code: "print(open('/proc/self/mountinfo').read(), end='')\n",
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantOnlyOwnJobMount(t, r.cfg, res)
			}},
	})
	t.Run("the service's environment does not reach the sandbox", func(t *testing.T) {
		res := run(t, r, "python", "import os\nprint(open('/proc/self/environ').read(), open('/proc/1/environ').read())\n", "")
		wantStatus(t, res, StatusSuccess)
		if strings.Contains(res.Stdout, canary) || strings.Contains(res.Stdout, os.Getenv(canary)) {
			t.Errorf("the service's environment leaked into the sandbox: %q", res.Stdout)
		}
	})
}

// wantOnlyOwnJobMount checks the mount table a run printed against what
// docs/security.md accepts as visible: the root is an overlay whose options
// name containerd's snapshot directories (read-only layers, no upper or work
// directory); /job names this run's own job directory; no other mount names
// a host path of the service (state directory, other jobs, FIFOs).
func wantOnlyOwnJobMount(t *testing.T, cfg Config, res Result) {
	t.Helper()
	ownJob := filepath.Join(jobsDir(cfg), res.ID)
	layer := regexp.MustCompile(`^/.*/io\.containerd\.snapshotter\.v1\.` + regexp.QuoteMeta(cfg.Snapshotter) + `/snapshots/\d+/fs$`)
	jobMounts := 0
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			t.Errorf("mountinfo line %q", line)
			continue
		}
		root, mountPoint, superOptions := f[3], f[4], f[len(f)-1]
		switch mountPoint {
		case "/":
			for _, opt := range strings.Split(superOptions, ",") {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "lowerdir":
					for _, dir := range strings.Split(v, ":") {
						if !layer.MatchString(dir) {
							t.Errorf("the root overlay names %q, not a snapshot layer", dir)
						}
					}
				case "upperdir", "workdir":
					t.Errorf("the root overlay has a writable layer: %q", opt)
				}
			}
		case "/job":
			jobMounts++
			// The root is the path inside the source filesystem: all of
			// ownJob, or its tail when the state directory is a mount.
			if !strings.HasSuffix(ownJob, root) || !strings.HasSuffix(root, "/"+res.ID) {
				t.Errorf("/job is mounted from %q, want this run's job directory %q", root, ownJob)
			}
		default:
			if strings.Contains(line, cfg.StateDir) || strings.Contains(line, "/jobs/") {
				t.Errorf("mountinfo reveals a host path of the service: %q", line)
			}
		}
	}
	if jobMounts != 1 {
		t.Errorf("%d mounts at /job, want 1:\n%s", jobMounts, res.Stdout)
	}
}

// nameservers returns the addresses of the nameserver lines of a resolv.conf.
func nameservers(name string) []string {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "nameserver" {
			out = append(out, fs[1])
		}
	}
	return out
}
