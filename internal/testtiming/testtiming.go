// Package testtiming holds, in one place, every margin that the project's
// tests allow around a duration, and a measure of what the machine gave a
// test's program. The tests run on shared 2-core machines that may be busy
// with other work: an assertion that depends on how fast the machine is, or
// how idle, fails someone's CI. Each timing assertion in a test therefore
// states its margin through a constant here (docs/testing.md lists them),
// and no test asserts a lower bound on CPU time that a loaded machine may
// not grant: it asks WantBusy instead.
package testtiming

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/codeexec/codeexec/internal/procstat"
)

// ScaleEnv names the environment variable that multiplies every margin
// and bound here: a positive number, 1 when unset. Only a machine slower
// than the project's own sets it: `make test-cgroup2` runs the tests in a
// guest under qemu's software emulation, where a process starts about
// fifty times slower. The limits the tests set and assert (a 2 s time
// limit is still 2 s) do not scale; only how long after them an answer may
// come, and how long a wait may last.
const ScaleEnv = "CODEEXEC_TEST_TIME_SCALE"

// Scale is the factor ScaleEnv gives.
var Scale = scaleFromEnv()

var (
	// KillMargin is how long after its wall-clock limit a run may still take
	// to be reported as timed out: the kill, the PID namespace's teardown,
	// the exit event and, over HTTP, the answer. A 2 s limit is answered
	// within 2.5 s. It is far below the limits themselves, so a run that
	// was not killed at its limit still fails the check.
	KillMargin = Scaled(500 * time.Millisecond)

	// EarlyStop is the longest a run stopped by something other than its
	// wall-clock limit (an output overflow, a full tmpfs, a client that
	// went away) may last: half the default 2 s limit, so a run that was in
	// fact stopped by the limit fails the check.
	EarlyStop = Scaled(time.Second)

	// Settle bounds waits for something that must happen, not how fast:
	// a pool refilling, children appearing in a cgroup, a leftover process
	// exiting. A loaded machine makes them slower, not wrong, so the bound
	// is generous and never asserted as a duration.
	Settle = Scaled(30 * time.Second)

	// LimitWait is the time limit of a run whose verdict must come from
	// something else: the program ends by itself, or by its memory, pids
	// or output limit. The slowest such program of the suite (bash's
	// memory bomb, 3.0-3.3 s on the project's slower 2-core machines)
	// would need about 10 s on a machine three times slower; 30 s leaves
	// room beyond that, and costs nothing when the run ends as it should.
	LimitWait = Scaled(30 * time.Second)
)

// OneCoreSlack is how much a run's CPU time may exceed its wall time on
// one core: the CFS quota lets through at most one period's worth (100
// ms) more than a core, and the figures are read at slightly different
// moments. Sixteen threads on two cores without the quota would reach
// twice the wall time.
const OneCoreSlack = 10 // percent

// Scaled returns d times Scale: a margin or bound of a test's own.
func Scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * Scale)
}

func scaleFromEnv() float64 {
	v := os.Getenv(ScaleEnv)
	if v == "" {
		return 1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		panic(fmt.Sprintf("testtiming: %s=%q: want a positive number", ScaleEnv, v))
	}
	return f
}

// StartupCPU is the CPU time a run's cgroup may have used before its wall
// time starts: the OCI runtime's own init in the sandbox (runc's is a Go
// program) and the exec of the program. A few milliseconds here; under
// emulation a Go program's start alone costs hundreds (scaled).
var StartupCPU = Scaled(20 * time.Millisecond)

// OverOneCore reports whether cpu is more than one core's worth of wall,
// beyond OneCoreSlack and StartupCPU.
func OverOneCore(cpu, wall time.Duration) bool {
	return cpu > wall*(100+OneCoreSlack)/100+StartupCPU
}

// Idle measures the CPU time the machine's cores spent idle (idle and
// iowait in /proc/stat, summed over all cores) from Start to Since.
type Idle struct{ start time.Duration }

// StartIdle starts measuring the machine's idle CPU time.
func StartIdle() Idle { return Idle{start: machineIdle()} }

// Since returns the idle CPU time since StartIdle.
func (i Idle) Since() time.Duration { return max(machineIdle()-i.start, 0) }

func machineIdle() time.Duration {
	_, idle := procstat.CPU()
	return idle
}

// WantBusy checks that a program that was runnable for all of its wall time
// (busy loops, spinning threads) got the CPU the machine could give it. On
// an idle machine that is its one core, and on a loaded one it is less, by
// however much the other work took. The machine's idle time during the run
// tells which: a program held to one core that kept running leaves at most
// the other cores idle, and takes at least half of what was idle, up to
// half its wall time. A program that did not in fact run leaves the machine
// idle and takes nothing, and fails; one starved by other work on a busy
// machine leaves no idle time, and passes. It returns "" when the check
// passes, or what is wrong.
func WantBusy(cpu, wall, idle time.Duration) string {
	want := min(wall/2, idle)
	if cpu >= want {
		return ""
	}
	return fmt.Sprintf("cpu time %s in %s of wall time while the machine had %s of idle CPU: the program did not run (want at least %s)",
		cpu, wall, idle, want)
}
