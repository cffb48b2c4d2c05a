package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeexec/codeexec/internal/bench/report"
)

// measureThroughputs measures the throughput of every (program, method) at
// each of c's concurrencies, one measurement after the other, into r.
// With c.ProcessAccounting, each measurement also records the CPU of the
// processes that exited during it, by command, with files in work.
func measureThroughputs(ctx context.Context, r *Report, programs []Program, methods []Method, c Config, work string, log *slog.Logger) error {
	for _, p := range programs {
		for _, m := range methods {
			res := r.Result(p.Name, m.Name())
			if res == nil {
				continue // m cannot run p
			}
			for _, conc := range c.concurrencies() {
				pid := 0
				if s, ok := m.(*service); ok {
					pid = s.pid
				}
				var acct *accounting
				if c.ProcessAccounting {
					var err error
					if acct, err = startAccounting(work); err != nil {
						return err
					}
				}
				before := sampleCPU(c.Namespace, pid)
				t, failures := measureThroughput(ctx, m, p, conc, c.ThroughputRuns, c.ThroughputDuration, c.RunTimeout)
				t.CPU = sampleCPU(c.Namespace, pid).perRun(before, t.Runs)
				if acct != nil {
					var err error
					if t.Processes, err = acct.stop(t.Runs); err != nil {
						return err
					}
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				res.Throughput = append(res.Throughput, t)
				for _, err := range failures {
					if len(res.ErrorExamples) < report.MaxErrorExamples {
						res.ErrorExamples = append(res.ErrorExamples, err.Error())
					}
				}
				log.Info("throughput", "program", p.Name, "method", m.Name(), "concurrency", conc,
					"runs_per_s", fmt.Sprintf("%.1f", t.PerSecond), "errors", t.Errors)
			}
		}
	}
	return nil
}

// measureThroughput runs p with m from concurrency workers at once, either
// runs times in all (when runs > 0) or until span has passed, and reports
// correct runs per second over the time until the last run ended. Runs still
// in flight at the end of span finish and count.
func measureThroughput(ctx context.Context, m Method, p Program, concurrency, runs int, span, timeout time.Duration) (Throughput, []error) {
	var (
		left     atomic.Int64
		ok, bad  atomic.Int64
		mu       sync.Mutex
		failures []error
		wg       sync.WaitGroup
	)
	left.Store(int64(runs))
	start := time.Now()
	deadline := start.Add(span)
	more := func() bool {
		if ctx.Err() != nil {
			return false
		}
		if runs > 0 {
			return left.Add(-1) >= 0
		}
		return time.Now().Before(deadline)
	}
	for range concurrency {
		wg.Go(func() {
			for more() {
				if err := check(p, runOnce(ctx, m, p, timeout)); err != nil {
					bad.Add(1)
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	t := Throughput{Concurrency: concurrency, Runs: int(ok.Load()), Errors: int(bad.Load()), Seconds: secs}
	if secs > 0 {
		t.PerSecond = float64(t.Runs) / secs
	}
	return t, failures
}
