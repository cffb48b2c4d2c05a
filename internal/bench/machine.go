package bench

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/bench/method"
)

// describeMachine reads /proc and /etc/os-release and asks ctr (for the
// daemon's version, not the client's), runc and, when docker is set, the
// Docker engine.
func describeMachine(ctx context.Context, ctrBin, socket, baselineSocket, dockerBin string) Machine {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	read := func(path string) string { b, _ := os.ReadFile(path); return string(b) }
	m.CPU = cpuModel(read("/proc/cpuinfo"))
	m.MemoryBytes = memTotal(read("/proc/meminfo"))
	m.OS = osRelease(read("/etc/os-release"))
	m.Kernel = strings.TrimSpace(read("/proc/sys/kernel/osrelease"))
	if out, err := method.RunCommand(ctx, "", "", ctrBin, "--address", socket, "version"); err == nil {
		m.Containerd = ctrServerVersion(out)
	}
	if baselineSocket != "" {
		if out, err := method.RunCommand(ctx, "", "", ctrBin, "--address", baselineSocket, "version"); err == nil {
			m.BaselineContainerd = ctrServerVersion(out)
		}
	}
	if out, err := method.RunCommand(ctx, "", "", "runc", "--version"); err == nil {
		m.Runc = strings.TrimPrefix(firstLine(out), "runc version ")
	}
	if out, err := method.RunCommand(ctx, "", "", "crun", "--version"); err == nil {
		m.Crun = strings.TrimPrefix(firstLine(out), "crun version ")
	}
	if dockerBin != "" {
		if out, err := method.RunCommand(ctx, "", "", dockerBin, "version", "--format", "{{.Server.Version}}"); err == nil {
			m.Docker = strings.TrimSpace(out)
		}
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal returns MemTotal of /proc/meminfo in bytes.
func memTotal(meminfo string) int64 {
	for line := range strings.Lines(meminfo) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			return kib << 10
		}
	}
	return 0
}

// osRelease returns PRETTY_NAME of /etc/os-release.
func osRelease(s string) string {
	for line := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// ctrServerVersion returns the Version under "Server:" of `ctr version`.
func ctrServerVersion(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	server := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "Server:" {
			server = true
		}
		if v, ok := strings.CutPrefix(line, "Version:"); ok && server {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
