package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeexec/codeexec/internal/runner/cgroups"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Labels put on everything the runner creates in containerd, so that
// start-up can find and remove what a crashed instance left behind.
const (
	LabelManaged = "dev.codeexec.managed" // always "true"
	LabelOwner   = "dev.codeexec.owner"   // the owning instance's state directory
	LabelJob     = "dev.codeexec.job"     // the job's UUID
)

// Runner runs programs in sandboxes. It is safe for concurrent use.
type Runner struct {
	cfg    Config
	client *client.Client
	images map[string]client.Image // by language name
	log    *slog.Logger

	slots    chan struct{}          // one token per running sandbox
	freed    broadcast              // signalled whenever a slot is released or a program ends
	programs atomic.Int64           // programs between their start and their exit (run)
	multi    sync.Mutex             // held by whoever acquires several slots at once
	waiting  atomic.Int64           // requests queued for a slot
	pending  sync.WaitGroup         // teardowns still running
	pools    *pools                 // nil on the cold path
	janitor  *janitor               // retries failed removals
	down     atomic.Bool            // containerd stopped answering; see probe
	lease    string                 // the lease every containerd call of the runner runs under
	oci      ociRuntime             // chosen at start-up (chooseOCIRuntime)
	roots    map[string]*sharedRoot // by language name; none for a language whose sandboxes get views of their own
	hosts    *shimHosts             // nil when every sandbox starts a shim of its own
	version  string                 // containerd's version
	agent    string                 // the lane agent's copy in the state directory; "" when lanes run without one
	runtime  string                 // the runtime name sandboxes are created with (shimRuntime)
	// exitsFrom counts the programs whose exit run learnt from the kernel
	// (watchExit) and from containerd.
	exitsFrom [2]atomic.Int64
}

// New connects to containerd, checks that every language's image is present
// and unpacked (unpacking it if needed), and removes whatever an earlier
// instance with the same state directory left behind.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, dir := range []string{cfg.StateDir, jobsDir(cfg), fifoDir(cfg)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}
	c, err := dial(cfg)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, client: c, log: log, images: map[string]client.Image{}, slots: make(chan struct{}, cfg.MaxConcurrent)}
	ctx = r.nsContext(ctx)
	v, err := c.Version(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd is not answering at %s (start it, or point the service at the right socket): %w", cfg.Socket, err)
	}
	r.version = v.Version
	if r.runtime, err = shimRuntime(cfg, r.version); err != nil {
		c.Close()
		return nil, err
	}
	if cfg.LaneAgent != "" {
		if r.agent, err = installAgent(cfg.StateDir, cfg.LaneAgent); err != nil {
			c.Close()
			return nil, err
		}
	} else {
		log.Warn("no lane agent (codeexec-lane): each judged test gets a sandbox of its own, which costs several times more")
	}
	// The languages whose image is missing are not served (an operator
	// may build only some images: scripts/images.sh --languages); none at
	// all is an error.
	r.cfg.Languages = maps.Clone(cfg.Languages)
	var missing []string
	var firstMissing error
	for name, lang := range cfg.Languages {
		img, err := r.checkImage(ctx, lang)
		if errors.Is(err, errImageMissing) {
			missing = append(missing, name)
			firstMissing = cmp.Or(firstMissing, fmt.Errorf("language %s: %w", name, err))
			delete(r.cfg.Languages, name)
			continue
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("language %s: %w", name, err)
		}
		r.images[name] = img
	}
	if len(r.images) == 0 {
		c.Close()
		return nil, firstMissing
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		log.Warn("languages without an image are not served", "languages", missing,
			"build", "scripts/images.sh --namespace "+cfg.Namespace)
	}
	if err := r.Reconcile(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("remove leftovers of an earlier run: %w", err)
	}
	// One lease, labelled like everything else, for all the runner's
	// calls: without it the client creates a temporary, unlabelled lease
	// per container, which a crash leaves behind for 24 hours.
	l, err := c.LeasesService().Create(ctx, leases.WithID("codeexec-"+uuid.NewString()),
		leases.WithLabels(map[string]string{LabelManaged: "true", LabelOwner: cfg.StateDir}))
	if err != nil {
		c.Close()
		return nil, unavailable(fmt.Errorf("create lease: %w", err))
	}
	r.lease = l.ID
	r.janitor = r.startJanitor()
	r.roots = map[string]*sharedRoot{}
	if cfg.SharedRootfs {
		for name, img := range r.images {
			root, err := r.shareRoot(r.nsContext(ctx), img)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("language %s: %w", name, err)
			}
			if root != nil {
				r.roots[name] = root
			}
		}
	}
	if err := r.chooseOCIRuntime(ctx); err != nil {
		r.Close()
		return nil, err
	}
	if r.hosts, err = r.startShimHosts(r.nsContext(ctx), cfg.ShimHosts); err != nil {
		r.Close()
		return nil, fmt.Errorf("start shim hosts: %w", err)
	}
	log.Info("sandbox runtime", "containerd", r.version, "shim", cfg.Runtime, "shim_wrapper", r.Stack().ShimWrapper, "oci_runtime", r.oci.name,
		"shim_hosts", r.hosts.size(), "shared_roots", len(r.roots))
	r.pools = r.startPools(cfg.PoolSize, cfg.PoolMaxIdle)
	return r, nil
}

// Wait blocks until the teardown of every finished run is done.
func (r *Runner) Wait() { r.pending.Wait() }

// Close destroys the warm pool, waits for pending teardowns, retries
// failed removals once more and releases the connection to containerd.
func (r *Runner) Close() error {
	r.pools.close()
	r.pending.Wait()
	r.hosts.close()
	r.janitor.close()
	ctx, cancel := r.cleanupContext()
	defer cancel()
	if err := r.unshareRoots(ctx); err != nil {
		r.log.Error("remove root views; the next start-up will", "err", err)
	}
	if err := r.client.LeasesService().Delete(ctx, leases.Lease{ID: r.lease}); err != nil && !errdefs.IsNotFound(err) {
		r.log.Error("delete lease; the next start-up will", "lease", r.lease, "err", err)
	}
	return r.client.Close()
}

// Ready reports why the runner cannot serve well yet, or nil: containerd
// must answer, every language's image must be present and unpacked, and
// each warm pool must have been filled once since start. (A pool drained
// by load afterwards does not make the service unready: it still answers,
// on the cold path.)
func (r *Runner) Ready(ctx context.Context) error {
	ctx = r.nsContext(ctx)
	if _, err := r.client.Version(ctx); err != nil {
		return fmt.Errorf("containerd is not answering at %s", r.cfg.Socket)
	}
	for name, lang := range r.cfg.Languages {
		img, err := r.client.GetImage(ctx, lang.Image)
		if err != nil {
			return fmt.Errorf("language %s: image %s is missing", name, lang.Image)
		}
		if ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter); err != nil || !ok {
			return fmt.Errorf("language %s: image %s is not unpacked", name, lang.Image)
		}
	}
	return r.pools.warmedUp()
}

// probe asks containerd whether it answers and records the answer, which
// Run consults to refuse requests at once while containerd is down. The
// janitor calls it every second, so the service notices containerd going
// away and coming back without a request having to wait for it.
func (r *Runner) probe() bool {
	ctx, cancel := context.WithTimeout(r.nsContext(context.Background()), 2*dialTimeout)
	defer cancel()
	_, err := r.client.Version(ctx)
	r.setDown(err != nil)
	return err == nil
}

// setDown records whether containerd is down, logging the changes.
func (r *Runner) setDown(down bool) {
	if r.down.Swap(down) == down {
		return
	}
	if down {
		r.log.Error("containerd is not answering; refusing runs until it does", "socket", r.cfg.Socket)
	} else {
		r.log.Info("containerd answers again", "socket", r.cfg.Socket)
	}
}

// QueueDepth returns how many requests wait for a sandbox slot.
func (r *Runner) QueueDepth() int { return int(r.waiting.Load()) }

// Running returns how many sandbox slots are taken (running or tearing down).
func (r *Runner) Running() int { return len(r.slots) }

// Exit sources, the indexes of Runner.exitsFrom.
const (
	exitFromKernel = iota
	exitFromContainerd
)

// ExitSources returns how many programs' exits run learnt first from the
// kernel (a pidfd, Linux 6.15 and later) and from containerd's event.
func (r *Runner) ExitSources() map[string]int64 {
	return map[string]int64{
		"kernel":     r.exitsFrom[exitFromKernel].Load(),
		"containerd": r.exitsFrom[exitFromContainerd].Load(),
	}
}

// PoolLevels returns how many prepared jobs wait, per language.
func (r *Runner) PoolLevels() map[string]int { return r.pools.levels() }

// Languages returns the configured languages by name.
func (r *Runner) Languages() map[string]Language { return r.cfg.Languages }

func (r *Runner) nsContext(ctx context.Context) context.Context {
	ctx = namespaces.WithNamespace(ctx, r.cfg.Namespace)
	if r.lease != "" {
		ctx = leases.WithLease(ctx, r.lease)
	}
	return ctx
}

// dialTimeout bounds each attempt to connect to containerd's socket. The
// containerd client waits that long for a missing socket to appear, and a
// request made while containerd is down waits for one attempt: short, so
// that the answer (a 503) is prompt.
const dialTimeout = time.Second

// dial connects to cfg's containerd.
func dial(cfg Config) (*client.Client, error) {
	c, err := client.New(cfg.Socket, client.WithDefaultNamespace(cfg.Namespace), client.WithTimeout(dialTimeout))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Socket, err)
	}
	return c, nil
}

func jobsDir(cfg Config) string { return filepath.Join(cfg.StateDir, "jobs") }
func fifoDir(cfg Config) string { return filepath.Join(cfg.StateDir, "fifo") }

// errImageMissing means a language's image is not in the namespace.
var errImageMissing = errors.New("image missing")

// checkImage finds the language's image and makes sure it is unpacked for
// the snapshotter, so the request path only creates a snapshot view.
func (r *Runner) checkImage(ctx context.Context, lang Language) (client.Image, error) {
	img, err := r.client.GetImage(ctx, lang.Image)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: image %s is not in containerd namespace %q: build and import it with `scripts/images.sh --namespace %s`", errImageMissing, lang.Image, r.cfg.Namespace, r.cfg.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("look up image %s: %w", lang.Image, err)
	}
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return nil, fmt.Errorf("check image %s: %w", lang.Image, err)
	}
	if !ok {
		r.log.Info("unpacking image", "image", lang.Image, "snapshotter", r.cfg.Snapshotter)
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %s: %w", lang.Image, err)
		}
	}
	return img, nil
}

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
// be freed (pools.waitQuiet).
func (r *Runner) releaseSlot() {
	<-r.slots
	r.freed.signal()
}

// programEnded uncounts a program counted in programs when run began, once
// its process has exited and its output is in, and tells the pool's
// refills (pools.waitQuiet).
func (r *Runner) programEnded() {
	r.programs.Add(-1)
	r.freed.signal()
}

// broadcast wakes every goroutine waiting on it when signalled.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next signal.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// signal wakes the current waiters.
func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

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

// unavailable wraps err with ErrUnavailable when it means containerd could
// not be reached.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if errdefs.IsUnavailable(err) || status.Code(errors.Unwrap(err)) == codes.Unavailable || status.Code(err) == codes.Unavailable {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// NamespaceCPUTime is the CPU time charged to the cgroup of containerd
// namespace ns, where every sandbox's cgroup lives, removed ones included
// (a parent cgroup keeps what its removed children used).
func NamespaceCPUTime(ns string) time.Duration {
	return time.Duration(cgroups.ReadStats(cgroups.Root, "/"+ns).CPUTimeNanos)
}
