package runner

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/codeexec/codeexec/internal/runner/lane"
	"github.com/codeexec/codeexec/internal/runner/pool"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

// Labels put on everything the runner creates in containerd, so that
// start-up can find and remove what a crashed instance left behind.
const (
	LabelManaged = sandbox.LabelManaged // always "true"
	LabelOwner   = sandbox.LabelOwner   // the owning instance's state directory
	LabelJob     = sandbox.LabelJob     // the job's UUID
)

// Runner runs programs in sandboxes. It is safe for concurrent use.
type Runner struct {
	cfg Config
	sb  *sandbox.Manager // makes, runs and removes the sandboxes
	log *slog.Logger

	slots   chan struct{}    // one token per running sandbox
	freed   pool.Changes     // signalled whenever a slot is released or a program ends
	multi   sync.Mutex       // held by whoever acquires several slots at once
	waiting atomic.Int64     // requests queued for a slot
	pending sync.WaitGroup   // teardowns still running
	pools   *pool.Pool[*job] // the warm pool; nil on the cold path
	lanes   *lane.Env        // what the batches' lanes share: the sandbox manager, the lane agent

	// served are the languages whose image is present, a subset of
	// cfg.Languages that only grows (watchImages); replaced, never changed.
	served    atomic.Pointer[map[string]Language]
	stopWatch context.CancelFunc // stops watchImages
	watching  sync.WaitGroup
}

// New connects to containerd, checks that every language's image is present
// and unpacked (unpacking it if needed), and removes whatever an earlier
// instance with the same state directory left behind.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, log: log, slots: make(chan struct{}, cfg.MaxConcurrent)}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	r.lanes = &lane.Env{JobsDir: jobsDir(cfg), Log: log}
	if cfg.LaneAgent != "" {
		var err error
		if r.lanes.Agent, err = lane.InstallAgent(cfg.StateDir, cfg.LaneAgent); err != nil {
			return nil, err
		}
	} else {
		log.Warn("no lane agent (codeexec-lane): each judged test gets a sandbox of its own, which costs several times more")
	}
	sbc := cfg.sandbox()
	sbc.ProgramEnded = r.programEnded
	sb, err := sandbox.New(ctx, sbc, log)
	if err != nil {
		return nil, err
	}
	r.sb = sb
	r.lanes.Sandboxes = sb
	// The languages whose image is missing are not served until it is
	// imported (an operator may build only some images:
	// scripts/images.sh --languages; a first start builds them while the
	// service runs); the manager has logged them.
	served := map[string]Language{}
	for _, name := range sb.Images() {
		served[name] = cfg.Languages[name]
	}
	r.served.Store(&served)
	log.Info("sandbox runtime", "containerd", sb.Version(), "shim", cfg.Runtime, "shim_wrapper", r.Stack().ShimWrapper, "oci_runtime", sb.OCIRuntime(),
		"shim_hosts", sb.ShimHosts(), "shared_roots", sb.SharedRoots())
	r.pools = r.startPool(cfg.PoolSize, cfg.PoolMaxIdle)
	wctx, stop := context.WithCancel(context.Background())
	r.stopWatch = stop
	if cfg.ImageWatch > 0 && len(sb.Missing()) > 0 {
		r.watching.Go(func() { r.watchImages(wctx, cfg.ImageWatch) })
	}
	return r, nil
}

// watchImages looks for the missing languages' images every interval and
// serves each one as soon as it is there, until none is missing or ctx
// ends.
func (r *Runner) watchImages(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := ""
	for len(r.sb.Missing()) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		added, err := r.sb.Adopt(ctx)
		if err != nil && err.Error() != failing && ctx.Err() == nil {
			// Said once per distinct failure, not every interval.
			r.log.Warn("picking up an imported image failed; trying again", "err", err)
		}
		failing = ""
		if err != nil {
			failing = err.Error()
		}
		if len(added) == 0 {
			continue
		}
		next := maps.Clone(*r.served.Load())
		for _, name := range added {
			next[name] = r.cfg.Languages[name]
			r.pools.Add(name)
		}
		r.served.Store(&next)
		r.log.Info("serving languages whose image arrived", "languages", added, "still_missing", r.sb.Missing())
	}
}

// language is the served language of that name.
func (r *Runner) language(name string) (Language, bool) {
	lang, ok := (*r.served.Load())[name]
	return lang, ok
}

// Wait blocks until the teardown of every finished run is done.
func (r *Runner) Wait() { r.pending.Wait() }

// Close destroys the warm pool, waits for pending teardowns, retries
// failed removals once more and releases the connection to containerd.
func (r *Runner) Close() error {
	r.stopWatch()
	r.watching.Wait()
	r.pools.Close()
	r.pending.Wait()
	return r.sb.Close()
}

// Ready reports why the runner cannot serve well yet, or nil: containerd
// must answer, every language's image must be present and unpacked, and
// each warm pool must have been filled once since start. (A pool drained
// by load afterwards does not make the service unready: it still answers,
// on the cold path.)
func (r *Runner) Ready(ctx context.Context) error {
	if err := r.sb.Ready(ctx); err != nil {
		return err
	}
	return r.pools.WarmedUp()
}

// QueueDepth returns how many requests wait for a sandbox slot.
func (r *Runner) QueueDepth() int { return int(r.waiting.Load()) }

// Running returns how many sandbox slots are taken (running or tearing down).
func (r *Runner) Running() int { return len(r.slots) }

// ExitSources returns how many programs' exits run learnt first from the
// kernel (a pidfd, Linux 6.15 and later) and from containerd's event.
func (r *Runner) ExitSources() map[string]int64 { return r.sb.ExitSources() }

// PoolLevels returns how many prepared jobs wait, per language.
func (r *Runner) PoolLevels() map[string]int { return r.pools.Levels() }

// Languages returns the languages served now (their image is present), by
// name. The map is not changed afterwards; a language whose image arrives
// later is in the next call's.
func (r *Runner) Languages() map[string]Language { return *r.served.Load() }

// ServedLanguages lists, sorted, the names of the languages served now.
func (r *Runner) ServedLanguages() []string { return slices.Sorted(maps.Keys(*r.served.Load())) }

// PendingLanguages lists, sorted, the configured languages not served yet:
// their image is not in the namespace (yet).
func (r *Runner) PendingLanguages() []string { return r.sb.Missing() }

func (r *Runner) nsContext(ctx context.Context) context.Context { return r.sb.Context(ctx) }

// acquire waits for a sandbox slot, at most QueueTimeout, and fails with
// ErrBusy at once when MaxQueue requests are already waiting.
func (r *Runner) acquire(ctx context.Context) (release func(), err error) {
	select {
	case r.slots <- struct{}{}:
		return r.releaseSlot, nil
	default:
	}
	if r.waiting.Add(1) > int64(r.cfg.MaxQueue) {
		r.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer r.waiting.Add(-1)
	t := time.NewTimer(r.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case r.slots <- struct{}{}:
		return r.releaseSlot, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// acquireN waits for n sandbox slots as acquire does for one. Those who
// take several take them one at a time under a mutex, so two of them
// cannot each hold a part of what the other waits for.
func (r *Runner) acquireN(ctx context.Context, n int) (release func(), err error) {
	r.multi.Lock()
	defer r.multi.Unlock()
	var releases []func()
	releaseAll := func() {
		for _, f := range releases {
			f()
		}
	}
	for range n {
		rel, err := r.acquire(ctx)
		if err != nil {
			releaseAll()
			return nil, err
		}
		releases = append(releases, rel)
	}
	return releaseAll, nil
}

// releaseSlot gives a sandbox slot back and tells whoever waits for one to
// be freed (pool.Config.Freed).
func (r *Runner) releaseSlot() {
	<-r.slots
	r.freed.Signal()
}

// programEnded tells the pool's refills (pool.Config.Freed) that a program
// ended (sandbox.Config.ProgramEnded).
func (r *Runner) programEnded() { r.freed.Signal() }

// tryAcquireN takes n sandbox slots if they are free now, and none otherwise.
func (r *Runner) tryAcquireN(n int) (release func(), ok bool) {
	r.multi.Lock()
	defer r.multi.Unlock()
	taken := 0
	releaseAll := func() {
		for range taken {
			r.releaseSlot()
		}
	}
	for range n {
		select {
		case r.slots <- struct{}{}:
			taken++
		default:
			releaseAll()
			return nil, false
		}
	}
	return releaseAll, true
}

// NamespaceCPUTime is the CPU time charged to the cgroup of containerd
// namespace ns, where every sandbox's cgroup lives, removed ones included
// (a parent cgroup keeps what its removed children used).
func NamespaceCPUTime(ns string) time.Duration {
	return time.Duration(cgroups.ReadStats(cgroups.Root, "/"+ns).CPUTimeNanos)
}
