package bench

import (
	"os"
	"strings"
	"testing"
	"time"
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
// process's figures.
func TestSampleCPUSeesThisProcessBurn(t *testing.T) {
	before := sampleCPU("no-such-namespace", os.Getpid())
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
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
