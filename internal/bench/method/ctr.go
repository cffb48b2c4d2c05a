package method

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/codeexec/codeexec/internal/bench/report"
	"github.com/codeexec/codeexec/internal/runner"
)

// defaultCaps are the capabilities of containerd's default spec. ctr 1.6
// drops capabilities only by name (it has no "ALL"), so all are listed.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// ctr runs programs with `ctr run --rm` of the service's images, with the
// closest flags ctr 1.6 has to the service's sandbox: read-only rootfs, a
// network namespace of its own, no capabilities, containerd's seccomp
// profile, the CPU and memory limits, a tmpfs at /tmp, and the job directory
// bind-mounted at /job. ctr 1.6 has no --user (the image's USER, 10001:10001,
// applies) and no pids limit. C++ is two runs: compile, then run.
type ctr struct {
	bin       string // the ctr binary
	socket    string
	namespace string
	work      string
	langs     map[string]runner.Language
	limits    runner.Config // CPU, memory and /tmp size, as the service's defaults
}

// NewCtr returns the ctr method: ctr at socket, in namespace, with job
// directories under work, the languages' images and the service's default
// limits.
func NewCtr(bin, socket, namespace, work string, langs map[string]runner.Language, limits runner.Config) Method {
	return &ctr{bin: bin, socket: socket, namespace: namespace, work: work, langs: langs, limits: limits}
}

// ctrRun is one container of a ctr method run.
type ctrRun struct {
	id, image, jobDir string
	writable          bool // mount /job read-write (the compile step)
	memoryBytes       int64
	argv              []string
}

func (c *ctr) Name() string { return report.MethodCtr }

func (c *ctr) Run(ctx context.Context, p Program) Outcome {
	lang, ok := c.langs[p.Language]
	if !ok {
		return Outcome{Err: fmt.Errorf("ctr: unknown language %q", p.Language)}
	}
	dir, err := newJobDir(c.work, p, 0o777)
	if err != nil {
		return Outcome{Err: err}
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	if lang.Compiled() {
		r := ctrRun{id: uniqueID("bench-ctr"), image: lang.Image, jobDir: dir, writable: true,
			memoryBytes: c.limits.CompileLimits.MemoryBytes, argv: lang.Compile}
		if _, err := c.run(ctx, r, ""); err != nil {
			return Outcome{Elapsed: time.Since(start), Err: fmt.Errorf("compile: %w", err)}
		}
	}
	r := ctrRun{id: uniqueID("bench-ctr"), image: lang.Image, jobDir: dir,
		memoryBytes: c.limits.RunLimits.MemoryBytes, argv: lang.Run}
	out, err := c.run(ctx, r, p.Input)
	return Outcome{Elapsed: time.Since(start), Stdout: out, Err: err}
}

// run runs one container and, when that failed, removes whatever of it is
// left (ctr's --rm does not run when ctr itself is killed).
func (c *ctr) run(ctx context.Context, r ctrRun, stdin string) (string, error) {
	out, err := RunCommand(ctx, c.work, stdin, c.args(r)...)
	if err != nil {
		c.remove(r.id)
	}
	return out, err
}

// args is the ctr command line of r.
func (c *ctr) args(r ctrRun) []string {
	mode := "ro"
	if r.writable {
		mode = "rw"
	}
	args := []string{c.bin, "--address", c.socket, "-n", c.namespace, "run", "--rm",
		"--read-only", "--net-host=false", "--seccomp",
		"--memory-limit", strconv.FormatInt(r.memoryBytes, 10),
		"--cpus", strconv.FormatFloat(c.limits.RunLimits.CPUs, 'f', -1, 64),
		"--label", "dev.codeexec.bench=ctr",
		"--env", "HOME=/tmp", "--env", "TMPDIR=/tmp", "--cwd", "/tmp",
		"--mount", fmt.Sprintf("type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev:size=%d", c.limits.RunLimits.TmpBytes),
		"--mount", fmt.Sprintf("type=bind,src=%s,dst=/job,options=rbind:%s", r.jobDir, mode),
	}
	for _, cap := range defaultCaps {
		args = append(args, "--cap-drop", cap)
	}
	args = append(args, r.image, r.id)
	return append(args, r.argv...)
}

// remove deletes container id and its task, if they exist, on a context of
// its own: it runs after a failure, often because ctx ended.
func (c *ctr) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	base := []string{c.bin, "--address", c.socket, "-n", c.namespace}
	_, _ = RunCommand(ctx, c.work, "", append(base, "tasks", "kill", "-s", "SIGKILL", id)...)
	_, _ = RunCommand(ctx, c.work, "", append(base, "tasks", "rm", "-f", id)...)
	_, _ = RunCommand(ctx, c.work, "", append(base, "containers", "rm", id)...)
}
