package bench

import (
	"github.com/codeexec/codeexec/internal/procstat"

	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

// cpuSample is cumulative CPU time at one moment, by who spent it.
type cpuSample struct {
	at                                    time.Time
	total, sandboxes, service, containerd time.Duration
	client                                time.Duration
}

// clockTick is the unit of /proc/stat and /proc/<pid>/stat (USER_HZ),
// which Linux fixes at 100 per second for every architecture it exports.
const clockTick = 10 * time.Millisecond

// sampleCPU reads the cumulative CPU time of the machine, of the cgroup of
// containerd namespace ns (where the sandboxes' cgroups live), of process
// servicePID (0 for none), of every containerd daemon, and of this process
// with its waited-for children.
func sampleCPU(ns string, servicePID int) cpuSample {
	s := cpuSample{at: time.Now(), total: machineBusy(), sandboxes: runner.NamespaceCPUTime(ns), client: selfCPU()}
	if servicePID > 0 {
		s.service = processCPU(servicePID, false)
	}
	for _, pid := range processesNamed("containerd") {
		s.containerd += processCPU(pid, false)
	}
	return s
}

// perRun divides the CPU spent between a and b by runs.
func (b cpuSample) perRun(a cpuSample, runs int) *CPUPerRun {
	wall := b.at.Sub(a.at)
	if runs <= 0 || wall <= 0 {
		return nil
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(runs) }
	c := &CPUPerRun{
		TotalMS:      per(b.total - a.total),
		SandboxesMS:  per(b.sandboxes - a.sandboxes),
		ServiceMS:    per(b.service - a.service),
		ContainerdMS: per(b.containerd - a.containerd),
		ClientMS:     per(b.client - a.client),
		BusyCores:    float64(b.total-a.total) / float64(wall),
	}
	c.OtherMS = max(c.TotalMS-c.SandboxesMS-c.ServiceMS-c.ContainerdMS-c.ClientMS, 0)
	return c
}

// machineBusy is the time all CPUs spent on anything but idling and
// waiting for IO.
func machineBusy() time.Duration {
	busy, _ := procstat.CPU()
	return busy
}

// processCPU is a process's user and system time, with its waited-for
// children's when children is set.
func processCPU(pid int, children bool) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. Field 14 (utime) is the 12th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	last := 13 // utime, stime
	if children {
		last = 15 // and cutime, cstime
	}
	var ticks int64
	for _, v := range f[11:last] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

func selfCPU() time.Duration { return processCPU(os.Getpid(), true) }

// processesNamed lists the processes whose command name is name.
func processesNamed(name string) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// settle calls the machine quiet when it used at most settleQuiet of CPU
// (a tenth of one core's time, summed over all cores) over settleWindow; it
// waits at most settleTimeout.
const (
	settleWindow  = 250 * time.Millisecond
	settleQuiet   = settleWindow / 10
	settleTimeout = 15 * time.Second
)

// settle waits until the machine's CPU has been quiet for a settleWindow
// (background work such as a warm pool refilling after the previous phase
// is done), or settleTimeout passed, so that a timed phase neither pays for
// the previous phase's aftermath nor is measured with it.
func settle(ctx context.Context) {
	for start := time.Now(); time.Since(start) < settleTimeout; {
		before := machineBusy()
		select {
		case <-ctx.Done():
			return
		case <-time.After(settleWindow):
		}
		if machineBusy()-before <= settleQuiet {
			return
		}
	}
}
