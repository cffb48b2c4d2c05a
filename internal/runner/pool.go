package runner

import (
	"context"
	"runtime"
	"time"

	"github.com/codeexec/codeexec/internal/runner/pool"
)

// startPool starts the warm pool (package pool): per language, size jobs
// prepared ahead of requests, each serving one run. Its refills wait while
// as many sandbox slots are taken as the machine has cores, or a program
// runs (pool.Config.Busy). It returns nil, the cold path, when size is 0.
func (r *Runner) startPool(size int, maxIdle time.Duration) *pool.Pool[*job] {
	cores := runtime.NumCPU()
	return pool.Start(pool.Config[*job]{
		Keys:    r.ServedLanguages(),
		Size:    size,
		MaxIdle: maxIdle,
		Make: func(ctx context.Context, lang string) (*job, error) {
			return r.newJob(ctx, r.cfg.Languages[lang], true, r.defaultLimits())
		},
		Usable:  (*job).alive,
		Created: func(j *job) time.Time { return j.created },
		Destroy: func(j *job) { j.destroy(r) },
		Name:    func(j *job) string { return j.id },
		Busy:    func() bool { return r.Running() >= cores || r.sb.Programs() > 0 },
		Freed:   r.freed.Wait,
		Pending: &r.pending,
		Log:     r.log,
	})
}
