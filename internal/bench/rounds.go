package bench

import (
	"context"
	"log/slog"
	"time"

	"github.com/codeexec/codeexec/internal/bench/method"
)

// measureLatency runs warmup rounds, whose outcomes count only as warm-up
// errors, then runs measured rounds. A round runs every program once with
// every method, one run at a time; the order of the methods rotates from one
// round to the next, so no method always follows the same neighbour and
// noise on the machine is spread over all of them alike.
func measureLatency(ctx context.Context, r *Report, programs []Program, methods []Method, warmup, runs int, timeout, gap time.Duration, log *slog.Logger) error {
	total := warmup + runs
	for round := range total {
		warm := round < warmup
		for _, p := range programs {
			for i := range methods {
				m := methods[(round+i)%len(methods)]
				if err := ctx.Err(); err != nil {
					return err
				}
				if !method.Supports(m, p) {
					continue
				}
				res := r.Result(p.Name, m.Name())
				if gap > 0 {
					// The machine settles (teardown, pool refill) before
					// each run: a single request on an idle machine.
					select {
					case <-time.After(gap):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				o := runOnce(ctx, m, p, timeout)
				if err := check(p, o); err != nil {
					res.AddError(err, warm)
					log.Debug("run failed", "program", p.Name, "method", m.Name(), "err", err)
					continue
				}
				if !warm {
					res.Samples = append(res.Samples, Sample{MS: milliseconds(o.Elapsed), Server: o.Server})
				}
			}
		}
		if round == warmup-1 || round == total-1 || (round-warmup+1)%10 == 0 {
			log.Info("latency", "round", round+1, "of", total, "warm-up", warm)
		}
	}
	return nil
}

// runOnce runs p with m under a timeout of its own.
func runOnce(ctx context.Context, m Method, p Program, timeout time.Duration) Outcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return m.Run(ctx, p)
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
