package runner

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// pools keeps, per language, jobs prepared ahead of requests. Each job
// serves one run and is destroyed afterwards; a refiller per language
// prepares the next one in the background. A nil *pools is the cold path.
type pools struct {
	r       *Runner
	ready   map[string]chan *job
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	cores   int           // refills wait while this many slots or more are taken, or a program runs (waitQuiet)
	filling chan struct{} // held by the one refill preparing a job
	maxIdle time.Duration
	size    int
	mu      sync.Mutex
	warmed  map[string]bool // the language's pool has been full at least once

	delayMax time.Duration // when set, replaces refillDelayMax (tests)
	programs func() int64  // programs running (sandbox.Manager.Programs)
}

// startPools starts one refiller per language, each keeping size jobs ready.
func (r *Runner) startPools(size int, maxIdle time.Duration) *pools {
	if size <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pools{r: r, programs: r.sb.Programs, ready: map[string]chan *job{}, cancel: cancel, maxIdle: maxIdle, size: size, warmed: map[string]bool{},
		cores: runtime.NumCPU(), filling: make(chan struct{}, 1)}
	for name, lang := range r.cfg.Languages {
		ch := make(chan *job, size)
		p.ready[name] = ch
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.refill(ctx, lang, ch)
		}()
	}
	return p
}

// refill prepares jobs until ctx ends, blocking while the pool is full.
// When preparing fails (containerd down, say) it backs off, up to 10 s.
func (p *pools) refill(ctx context.Context, lang Language, ch chan *job) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		p.waitQuiet(ctx)
		// One refill at a time across languages: with many languages, their
		// refills at once (at start-up, say) starve the runs in flight.
		select {
		case p.filling <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		j, err := p.r.newJob(ctx, lang, true, p.r.defaultLimits())
		<-p.filling
		if err != nil {
			if ctx.Err() == nil {
				p.r.log.Warn("prepare pooled sandbox", "language", lang.Name, "err", err, "retry_in", backoff)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		select {
		case ch <- j:
			if len(ch) == cap(ch) {
				p.mu.Lock()
				p.warmed[lang.Name] = true
				p.mu.Unlock()
			}
		case <-ctx.Done():
			j.destroy(p.r)
		}
	}
}

// refillDelayMax bounds how long a refill waits for the runs in flight.
const refillDelayMax = time.Second

// waitQuiet waits, at most refillDelayMax, until fewer sandbox slots are
// taken than the machine has cores and no program is running. Preparing a
// sandbox costs more CPU than a short program (containerd, the runtime),
// and a refill that competes with the runs in flight for the cores slows
// them down: the request that just took a pooled sandbox would pay for its
// replacement, and its program's wall time would include the service's
// own work. Even with a core to spare, the refill's processes (containerd,
// the shim, the runtime) land on the program's core as often as not, so the
// refill starts once the program has exited, while the result goes back;
// with one client sending requests one after the other the next request
// still finds a prepared sandbox. Under steady load the wait runs out and
// the refill goes ahead anyway. It sleeps until a slot is released or a
// program ends, not polling.
func (p *pools) waitQuiet(ctx context.Context) {
	delayMax := refillDelayMax
	if p.delayMax > 0 {
		delayMax = p.delayMax
	}
	deadline := time.NewTimer(delayMax)
	defer deadline.Stop()
	for {
		freed := p.r.freed.wait()
		if p.r.Running() < p.cores && p.programs() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-freed:
		}
	}
}

// warmedUp reports the first language whose pool has never been full yet.
func (p *pools) warmedUp() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, ch := range p.ready {
		if !p.warmed[name] {
			return fmt.Errorf("warm pool %s: %d of %d prepared, still warming up", name, len(ch), p.size)
		}
	}
	return nil
}

// take returns a ready job of the language, or false when none is. Jobs
// that waited longer than maxIdle, or whose task exited or shim died, are
// destroyed instead of used.
func (p *pools) take(lang string) (*job, bool) {
	if p == nil {
		return nil, false
	}
	for {
		select {
		case j := <-p.ready[lang]:
			if time.Since(j.created) <= p.maxIdle && j.alive() {
				return j, true
			}
			p.r.log.Info("discarding stale pooled sandbox", "id", j.id, "age", time.Since(j.created), "alive", j.alive())
			p.r.pending.Add(1)
			go func() {
				defer p.r.pending.Done()
				j.destroy(p.r)
			}()
		default:
			return nil, false
		}
	}
}

// close stops the refillers and destroys every idle job.
func (p *pools) close() {
	if p == nil {
		return
	}
	p.cancel()
	p.wg.Wait()
	for _, ch := range p.ready {
		for {
			select {
			case j := <-ch:
				j.destroy(p.r)
				continue
			default:
			}
			break
		}
	}
}

// Ready returns how many prepared jobs wait, per language.
func (p *pools) levels() map[string]int {
	out := map[string]int{}
	if p == nil {
		return out
	}
	for name, ch := range p.ready {
		out[name] = len(ch)
	}
	return out
}
