package runner

import (
	"fmt"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
)

// effective are the limits one run works with.
type effective struct {
	run            oci.Limits
	runTimeout     time.Duration
	compile        oci.Limits
	compileTimeout time.Duration
	output         int
}

// limitsFor merges a request's limits into the configured defaults, after
// checking each against its maximum.
func (r *Runner) limitsFor(l Limits) (effective, error) {
	m := r.cfg.MaxLimits
	e := effective{run: r.cfg.RunLimits, runTimeout: r.cfg.RunTimeout, compile: r.cfg.CompileLimits,
		compileTimeout: r.cfg.CompileTimeout, output: r.cfg.OutputBytes}
	check := func(name string, v, lo, hi int64) error {
		if v < lo || v > hi {
			return fmt.Errorf("%w: %s is %d; it must be between %d and %d", ErrInvalidLimits, name, v, lo, hi)
		}
		return nil
	}
	if l.Timeout != 0 {
		if err := check("timeout_ms", l.Timeout.Milliseconds(), 1, m.Timeout.Milliseconds()); err != nil {
			return e, err
		}
		e.runTimeout = l.Timeout
	}
	if l.MemoryBytes != 0 {
		if err := check("memory_mb", l.MemoryBytes>>20, 16, m.MemoryBytes>>20); err != nil {
			return e, err
		}
		e.run.MemoryBytes = l.MemoryBytes
	}
	if l.Pids != 0 {
		if err := check("pids", l.Pids, 2, m.Pids); err != nil {
			return e, err
		}
		e.run.Pids = l.Pids
	}
	if l.OutputBytes != 0 {
		if err := check("output_bytes", int64(l.OutputBytes), 1, int64(m.OutputBytes)); err != nil {
			return e, err
		}
		e.output = l.OutputBytes
	}
	if l.CompileTimeout != 0 {
		if err := check("compile_timeout_ms", l.CompileTimeout.Milliseconds(), 100, m.CompileTimeout.Milliseconds()); err != nil {
			return e, err
		}
		e.compileTimeout = l.CompileTimeout
	}
	if l.CompileMemoryBytes != 0 {
		if err := check("compile_memory_mb", l.CompileMemoryBytes>>20, 16, m.CompileMemoryBytes>>20); err != nil {
			return e, err
		}
		e.compile.MemoryBytes = l.CompileMemoryBytes
	}
	return e, nil
}

// poolable reports whether a pooled job, prepared with the default spec
// limits, can serve these limits: the wall-clock and output limits are
// applied at run time, memory and pids live in the spec.
func (r *Runner) poolable(e effective) bool {
	return e.run == r.cfg.RunLimits && e.compile == r.cfg.CompileLimits
}

// defaultLimits are the limits of a request that sets none.
func (r *Runner) defaultLimits() effective {
	e, _ := r.limitsFor(Limits{})
	return e
}
