package method

import (
	"slices"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/runner"
)

// hasSeq reports whether args holds seq as consecutive elements.
func hasSeq(args []string, seq ...string) bool {
	for i := range args {
		if i+len(seq) <= len(args) && slices.Equal(args[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}

func TestCtrArgs(t *testing.T) {
	c := &ctr{bin: "ctr", socket: "/run/c.sock", namespace: "ns", limits: runner.DefaultConfig()}
	run := ctrRun{id: "bench-ctr-1", image: "img:latest", jobDir: "/w/job-1", memoryBytes: 256 << 20, argv: []string{"/usr/bin/tini", "--", "python3", "/job/main.py"}}
	args := c.args(run)
	for _, seq := range [][]string{
		{"ctr", "--address", "/run/c.sock", "-n", "ns", "run", "--rm", "--read-only", "--net-host=false", "--seccomp"},
		{"--memory-limit", "268435456"},
		{"--cpus", "1"},
		{"--mount", "type=bind,src=/w/job-1,dst=/job,options=rbind:ro"},
		{"--cap-drop", "CAP_SYS_CHROOT"},
		{"img:latest", "bench-ctr-1", "/usr/bin/tini", "--", "python3", "/job/main.py"},
	} {
		if !hasSeq(args, seq...) {
			t.Errorf("ctr args lack %v: %v", seq, args)
		}
	}
	if !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev")
	}) {
		t.Errorf("no tmpfs at /tmp: %v", args)
	}
	if got := strings.Count(strings.Join(args, " "), "--cap-drop"); got != len(defaultCaps) {
		t.Errorf("%d capabilities dropped, want all %d of the default spec", got, len(defaultCaps))
	}
	t.Run("the compile step mounts the job directory writable", func(t *testing.T) {
		run.writable = true
		if !hasSeq(c.args(run), "--mount", "type=bind,src=/w/job-1,dst=/job,options=rbind:rw") {
			t.Errorf("args: %v", c.args(run))
		}
	})
}

func TestDockerArgs(t *testing.T) {
	d := &docker{bin: "docker"}
	run := dockerRun{id: "bench-docker-1", image: "img:latest", jobDir: "/w/job-1", memory: "256m", argv: []string{"/usr/bin/tini", "--", "/job/main"}}
	args := d.args(run)
	for _, seq := range [][]string{
		{"docker", "run", "--rm", "-i", "--name", "bench-docker-1"},
		{"--network", "none", "--cap-drop", "ALL", "--read-only", "--memory", "256m", "--cpus", "1", "--pids-limit", "64", "--user", "1000:1000"},
		{"-v", "/w/job-1:/job:ro"},
		{"--entrypoint", "/usr/bin/tini", "img:latest", "--", "/job/main"},
	} {
		if !hasSeq(args, seq...) {
			t.Errorf("docker args lack %v: %v", seq, args)
		}
	}
	t.Run("the compile step mounts the job directory writable", func(t *testing.T) {
		run.writable = true
		if !hasSeq(d.args(run), "-v", "/w/job-1:/job") {
			t.Errorf("args: %v", d.args(run))
		}
	})
}
