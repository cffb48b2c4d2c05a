package bench

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
	"golang.org/x/sys/unix"
)

func TestCPUPerRunSplitsTheMachinesTime(t *testing.T) {
	a := cpuSample{at: time.Unix(0, 0)}
	b := cpuSample{
		at:         time.Unix(10, 0),
		total:      15 * time.Second, // 1.5 cores busy for 10 s
		sandboxes:  5 * time.Second,
		service:    2 * time.Second,
		containerd: 3 * time.Second,
		client:     1 * time.Second,
	}
	got := b.perRun(a, 100)
	want := CPUPerRun{TotalMS: 150, SandboxesMS: 50, ServiceMS: 20, ContainerdMS: 30, ClientMS: 10, OtherMS: 40, BusyCores: 1.5}
	if got == nil || *got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := b.perRun(a, 0); got != nil {
		t.Errorf("no runs: got %+v, want nil", got)
	}
}

// TestSampleCPUSeesThisProcessBurn: the counters come from the real /proc
// files, so burning CPU here must show in the machine's and this
// process's figures. It burns 300 ms of this thread's CPU time, as the
// kernel counts it (getrusage), not 300 ms of wall time: on a busy machine
// 300 ms of wall time gave the process 80 ms of CPU (make test-slow), and
// a lower bound on CPU time per wall time is a bet on an idle machine.
func TestSampleCPUSeesThisProcessBurn(t *testing.T) {
	// The burn is counted on this goroutine's thread: keep it there.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := sampleCPU("no-such-namespace", os.Getpid())
	start, giveUp := threadCPU(t), time.Now().Add(testtiming.Settle)
	x := 0
	for threadCPU(t)-start < 300*time.Millisecond {
		for range 100000 {
			x++
		}
		if time.Now().After(giveUp) {
			t.Fatalf("the thread got %s of CPU in %s", threadCPU(t)-start, testtiming.Settle)
		}
	}
	after := sampleCPU("no-such-namespace", os.Getpid())
	if d := after.client - before.client; d < 100*time.Millisecond {
		t.Errorf("this process burnt 300 ms, its counter moved %s", d)
	}
	if d := after.service - before.service; d < 100*time.Millisecond {
		t.Errorf("the process given as the service burnt 300 ms, its counter moved %s", d)
	}
	if d := after.total - before.total; d < 100*time.Millisecond {
		t.Errorf("the machine's busy time moved %s during a 300 ms burn", d)
	}
	if after.sandboxes != 0 {
		t.Errorf("a namespace without a cgroup has %s of CPU", after.sandboxes)
	}
	_ = x
}

func TestCPUTable(t *testing.T) {
	r := &Report{
		Machine:  Machine{Cores: 2},
		Programs: []Program{{Name: "python-hello"}},
		Methods:  []string{MethodWarm},
		Results: []*Result{{Program: "python-hello", Method: MethodWarm, Throughput: []Throughput{
			{Concurrency: 4, Runs: 100, Seconds: 10, PerSecond: 10, CPU: &CPUPerRun{TotalMS: 200, SandboxesMS: 50, BusyCores: 2}},
		}}},
	}
	got := r.CPUTable()
	if !strings.Contains(got, "| python-hello | warm | 4 | 10.0 | 2.00 | 200.0 | 50.0 |") || !strings.HasSuffix(strings.TrimSpace(got), "| 10.0 |") {
		t.Errorf("CPU table:\n%s", got)
	}
	if (&Report{}).CPUTable() != "" {
		t.Error("a report without profiles has a CPU table")
	}
}

// threadCPU is the CPU time the kernel counts for the calling thread.
func threadCPU(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
