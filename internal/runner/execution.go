package runner

import (
	"time"

	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

// classify maps an execution to a Status. Output overflow wins because the
// service killed the program for it; then the memory limit, as judges
// report it: the OOM killer killed a process, or the program failed (timed
// out, crashed, exited non-zero) after its memory use reached the limit,
// whatever stopped it then (a program stalled in reclaim at the limit is
// killed by the wall clock); then the wall-clock kill; then the exit code.
// Output on stderr alone is not a failure.
func classify(e *sandbox.Execution) Status {
	switch {
	case e.StdoutTruncated || e.StderrTruncated:
		return StatusOutputLimitExceeded
	case e.Stats.OOMKills > 0 || (e.Failed() && e.Stats.LimitHits > 0):
		return StatusMemoryLimitExceeded
	case e.TimedOut:
		return StatusTimeout
	case e.ExitCode != nil && *e.ExitCode == 0:
		return StatusSuccess
	default:
		return StatusRuntimeError
	}
}

// result is the Result of an execution of the run phase.
func result(x *sandbox.Execution) Result {
	return Result{
		Status: classify(x), Stdout: x.Stdout, Stderr: x.Stderr,
		StdoutTruncated: x.StdoutTruncated, StderrTruncated: x.StderrTruncated,
		ExitCode: x.ExitCode, Signal: x.Signal, Time: x.Elapsed,
		CPUTime: time.Duration(x.Stats.CPUTimeNanos), MemoryPeakBytes: x.Stats.MemoryPeakBytes,
		OOMKilled: x.Stats.OOMKills > 0,
	}
}
