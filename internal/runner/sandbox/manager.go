package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Labels put on everything a manager creates in containerd, so that
// start-up can find and remove what a crashed instance left behind.
const (
	LabelManaged = "dev.codeexec.managed" // always "true"
	LabelOwner   = "dev.codeexec.owner"   // the owning instance's state directory
	LabelJob     = "dev.codeexec.job"     // the job's UUID
)

// ErrUnavailable is returned when containerd cannot be reached.
var ErrUnavailable = errors.New("container runtime unavailable")

// Config is what a manager needs to know: where containerd is, what it
// owns there, and how its sandboxes are made.
type Config struct {
	Socket      string // containerd's gRPC socket
	Namespace   string // containerd namespace the manager owns
	StateDir    string // holds jobs/ and fifo/; the manager owns it
	Snapshotter string
	Runtime     string // containerd's runtime (shim) name
	OCIRuntime  string // OCIRuntimeAuto, OCIRuntimeCrun or OCIRuntimeRunc
	// SharedRootfs lets every sandbox of a single-layer image use that
	// layer's directory as its read-only root (sharedRoot), instead of a
	// snapshot view of its own.
	SharedRootfs bool
	// ShimHosts is how many shim hosts the sandboxes are spread over
	// (shimHost); 0 gives every sandbox a shim of its own.
	ShimHosts int
	// ShimWrapper is the path of codeexec-shim (see shimRuntime); "" uses
	// Runtime as it is.
	ShimWrapper string

	// Images are the image references sandboxes are made from, by the
	// name a Spec gives (a language's name).
	Images map[string]string
	// OutputBytes caps a sandbox's stdout and stderr, each, until
	// Sandbox.SetLimits sets another cap.
	OutputBytes int
	// OwnLimits and OwnTimeout are those of the sandboxes the manager runs
	// for itself: the OCI runtime probe and the shim hosts' anchors.
	OwnLimits  oci.Limits
	OwnTimeout time.Duration
	// ProgramEnded, when set, is called whenever a program that Run
	// started has ended (see Programs).
	ProgramEnded func()
}

// Manager creates, runs and removes sandboxes in its containerd namespace,
// and removes what an earlier instance with the same state directory left
// there. It is safe for concurrent use.
type Manager struct {
	cfg      Config
	client   *client.Client
	imgMu    sync.RWMutex            // guards images and roots, which Adopt adds to
	images   map[string]client.Image // by Config.Images' names; only those present
	log      *slog.Logger
	janitor  *janitor               // retries failed removals
	down     atomic.Bool            // containerd stopped answering; see probe
	lease    string                 // the lease every containerd call runs under
	oci      ociRuntime             // chosen at start-up (chooseOCIRuntime)
	roots    map[string]*sharedRoot // by image name; none for an image whose sandboxes get views of their own
	hosts    *shimHosts             // nil when every sandbox starts a shim of its own
	version  string                 // containerd's version
	runtime  string                 // the runtime name sandboxes are created with (shimRuntime)
	programs atomic.Int64           // programs between their start and their exit (Run)
	// exitsFrom counts the programs whose exit Run learnt from the kernel
	// (watchExit) and from containerd.
	exitsFrom [2]atomic.Int64
}

// New connects to containerd, checks that the configured images are
// present and unpacked (unpacking them if needed), removes whatever an
// earlier instance with the same state directory left behind, and chooses
// the OCI runtime. An image that is missing is logged and left out
// (Manager.Images lists the others); none at all is an error.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Manager, error) {
	for _, dir := range []string{cfg.StateDir, JobsDir(cfg.StateDir), FIFODir(cfg)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}
	c, err := Dial(cfg.Socket, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, client: c, log: log, images: map[string]client.Image{}}
	ctx = m.Context(ctx)
	v, err := c.Version(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd is not answering at %s (start it, or point the service at the right socket): %w", cfg.Socket, err)
	}
	m.version = v.Version
	if m.runtime, err = shimRuntime(cfg, m.version); err != nil {
		c.Close()
		return nil, err
	}
	var missing []string
	var firstMissing error
	for name, ref := range cfg.Images {
		img, err := m.checkImage(ctx, ref)
		if errors.Is(err, errImageMissing) {
			missing = append(missing, name)
			firstMissing = cmp.Or(firstMissing, fmt.Errorf("language %s: %w", name, err))
			continue
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("language %s: %w", name, err)
		}
		m.images[name] = img
	}
	if len(m.images) == 0 {
		c.Close()
		return nil, firstMissing
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		log.Warn("languages without an image are not served until it is imported", "languages", missing,
			"build", "scripts/images.sh --namespace "+cfg.Namespace)
	}
	if err := m.Reconcile(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("remove leftovers of an earlier run: %w", err)
	}
	// One lease, labelled like everything else, for all the manager's
	// calls: without it the client creates a temporary, unlabelled lease
	// per container, which a crash leaves behind for 24 hours.
	l, err := c.LeasesService().Create(ctx, leases.WithID("codeexec-"+uuid.NewString()),
		leases.WithLabels(map[string]string{LabelManaged: "true", LabelOwner: cfg.StateDir}))
	if err != nil {
		c.Close()
		return nil, Unavailable(fmt.Errorf("create lease: %w", err))
	}
	m.lease = l.ID
	m.janitor = m.startJanitor()
	m.roots = map[string]*sharedRoot{}
	if cfg.SharedRootfs {
		for name, img := range m.images {
			root, err := m.shareRoot(m.Context(ctx), img)
			if err != nil {
				m.Close()
				return nil, fmt.Errorf("language %s: %w", name, err)
			}
			if root != nil {
				m.roots[name] = root
			}
		}
	}
	if err := m.chooseOCIRuntime(ctx); err != nil {
		m.Close()
		return nil, err
	}
	if m.hosts, err = m.startShimHosts(m.Context(ctx), cfg.ShimHosts); err != nil {
		m.Close()
		return nil, fmt.Errorf("start shim hosts: %w", err)
	}
	return m, nil
}

// Close removes the shim hosts, retries failed removals once more, removes
// the root views and the lease, and releases the connection to containerd.
// Every sandbox must have been destroyed before.
func (m *Manager) Close() error {
	m.hosts.close()
	m.janitor.close()
	ctx, cancel := m.cleanupContext()
	defer cancel()
	if err := m.unshareRoots(ctx); err != nil {
		m.log.Error("remove root views; the next start-up will", "err", err)
	}
	if err := m.client.LeasesService().Delete(ctx, leases.Lease{ID: m.lease}); err != nil && !errdefs.IsNotFound(err) {
		m.log.Error("delete lease; the next start-up will", "lease", m.lease, "err", err)
	}
	return m.client.Close()
}

// Ready reports why the manager cannot make sandboxes, or nil: containerd
// must answer, and every image it serves must be present and unpacked.
func (m *Manager) Ready(ctx context.Context) error {
	ctx = m.Context(ctx)
	if _, err := m.client.Version(ctx); err != nil {
		return fmt.Errorf("containerd is not answering at %s", m.cfg.Socket)
	}
	for _, name := range m.Images() {
		ref := m.cfg.Images[name]
		img, err := m.client.GetImage(ctx, ref)
		if err != nil {
			return fmt.Errorf("language %s: image %s is missing", name, ref)
		}
		if ok, err := img.IsUnpacked(ctx, m.cfg.Snapshotter); err != nil || !ok {
			return fmt.Errorf("language %s: image %s is not unpacked", name, ref)
		}
	}
	return nil
}

// Images lists the names of the images that are present, which sandboxes
// can be made from.
func (m *Manager) Images() []string {
	m.imgMu.RLock()
	defer m.imgMu.RUnlock()
	names := make([]string, 0, len(m.images))
	for name := range m.images {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// image is the image of that name and its shared root (nil when its
// sandboxes get views of their own); a nil image when it is not present.
func (m *Manager) image(name string) (client.Image, *sharedRoot) {
	m.imgMu.RLock()
	defer m.imgMu.RUnlock()
	return m.images[name], m.roots[name]
}

// Missing lists, sorted, the names of Config.Images whose image is not
// present yet.
func (m *Manager) Missing() []string {
	m.imgMu.RLock()
	defer m.imgMu.RUnlock()
	var out []string
	for name := range m.cfg.Images {
		if _, ok := m.images[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Adopt looks for the images that were missing (Missing), and serves those
// that have arrived since: each is unpacked if it is not yet and, with
// Config.SharedRootfs, gets its shared root, as at start-up. It returns the
// names added, sorted; err joins what went wrong with the others, which a
// later call tries again.
func (m *Manager) Adopt(ctx context.Context) (added []string, err error) {
	ctx = m.Context(ctx)
	var errs []error
	for _, name := range m.Missing() {
		img, err := m.checkImage(ctx, m.cfg.Images[name])
		if errors.Is(err, errImageMissing) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("language %s: %w", name, err))
			continue
		}
		var root *sharedRoot
		if m.cfg.SharedRootfs {
			if root, err = m.shareRoot(ctx, img); err != nil {
				errs = append(errs, fmt.Errorf("language %s: %w", name, err))
				continue
			}
		}
		m.imgMu.Lock()
		m.images[name] = img
		if root != nil {
			m.roots[name] = root
		}
		m.imgMu.Unlock()
		added = append(added, name)
	}
	return added, errors.Join(errs...)
}

// Down reports whether containerd stopped answering the last time the
// janitor asked (every second): requests are then refused at once.
func (m *Manager) Down() bool { return m.down.Load() }

// NoteDown has the manager's probe ask containerd whether it is down when
// err says the runtime was unavailable, and returns err.
func (m *Manager) NoteDown(err error) error {
	if errors.Is(err, ErrUnavailable) {
		// A shim that died fails its runs the same way while containerd
		// answers: ask containerd itself (at once, in the background)
		// before refusing every request.
		go m.probe()
	}
	return err
}

// probe asks containerd whether it answers and records the answer, which
// Down reports. The janitor calls it every second, so the service notices
// containerd going away and coming back without a request having to wait
// for it.
func (m *Manager) probe() bool {
	ctx, cancel := context.WithTimeout(m.Context(context.Background()), 2*dialTimeout)
	defer cancel()
	_, err := m.client.Version(ctx)
	m.setDown(err != nil)
	return err == nil
}

// setDown records whether containerd is down, logging the changes.
func (m *Manager) setDown(down bool) {
	if m.down.Swap(down) == down {
		return
	}
	if down {
		m.log.Error("containerd is not answering; refusing runs until it does", "socket", m.cfg.Socket)
	} else {
		m.log.Info("containerd answers again", "socket", m.cfg.Socket)
	}
}

// Exit sources, the indexes of Manager.exitsFrom.
const (
	exitFromKernel = iota
	exitFromContainerd
)

// ExitSources returns how many programs' exits Run learnt first from the
// kernel (a pidfd, Linux 6.15 and later) and from containerd's event.
func (m *Manager) ExitSources() map[string]int64 {
	return map[string]int64{
		"kernel":     m.exitsFrom[exitFromKernel].Load(),
		"containerd": m.exitsFrom[exitFromContainerd].Load(),
	}
}

// Programs is how many programs Run has started that have not ended yet.
func (m *Manager) Programs() int64 { return m.programs.Load() }

// programEnded uncounts a program counted in programs when Run started
// it, once its process has exited and its output is in.
func (m *Manager) programEnded() {
	m.programs.Add(-1)
	if m.cfg.ProgramEnded != nil {
		m.cfg.ProgramEnded()
	}
}

// Version is containerd's version.
func (m *Manager) Version() string { return m.version }

// OCIRuntime is the name of the OCI runtime the sandboxes run with (crun
// or runc).
func (m *Manager) OCIRuntime() string { return m.oci.name }

// ShimHosts is how many shim hosts the sandboxes are spread over; 0 when
// each starts a shim of its own.
func (m *Manager) ShimHosts() int { return m.hosts.size() }

// ShimHostIDs lists the shim hosts not yet removed.
func (m *Manager) ShimHostIDs() []string { return m.hosts.ids() }

// SharedRoots is how many images' sandboxes share a read-only root.
func (m *Manager) SharedRoots() int {
	m.imgMu.RLock()
	defer m.imgMu.RUnlock()
	return len(m.roots)
}

// PendingRemovals is how many sandboxes whose removal failed wait for the
// janitor's next try.
func (m *Manager) PendingRemovals() int { return m.janitor.pending() }

// Context returns ctx in the manager's namespace and under its lease, as
// every containerd call of the manager runs.
func (m *Manager) Context(ctx context.Context) context.Context {
	ctx = namespaces.WithNamespace(ctx, m.cfg.Namespace)
	if m.lease != "" {
		ctx = leases.WithLease(ctx, m.lease)
	}
	return ctx
}

func (m *Manager) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.Context(context.Background()), CleanupTimeout)
}

// dialTimeout bounds each attempt to connect to containerd's socket. The
// containerd client waits that long for a missing socket to appear, and a
// request made while containerd is down waits for one attempt: short, so
// that the answer (a 503) is prompt.
const dialTimeout = time.Second

// Dial connects to the containerd at socket, in namespace ns.
func Dial(socket, ns string) (*client.Client, error) {
	c, err := client.New(socket, client.WithDefaultNamespace(ns), client.WithTimeout(dialTimeout))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", socket, err)
	}
	return c, nil
}

// JobsDir is the directory of the job directories under a state
// directory.
func JobsDir(stateDir string) string { return filepath.Join(stateDir, "jobs") }

// FIFODir is the directory of the FIFOs of cfg's tasks.
func FIFODir(cfg Config) string { return filepath.Join(cfg.StateDir, "fifo") }

// errImageMissing means an image is not in the namespace.
var errImageMissing = errors.New("image missing")

// checkImage finds the image ref and makes sure it is unpacked for the
// snapshotter, so the request path only creates a snapshot view.
func (m *Manager) checkImage(ctx context.Context, ref string) (client.Image, error) {
	img, err := m.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: image %s is not in containerd namespace %q: build and import it with `scripts/images.sh --namespace %s`", errImageMissing, ref, m.cfg.Namespace, m.cfg.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("look up image %s: %w", ref, err)
	}
	ok, err := img.IsUnpacked(ctx, m.cfg.Snapshotter)
	if err != nil {
		return nil, fmt.Errorf("check image %s: %w", ref, err)
	}
	if !ok {
		m.log.Info("unpacking image", "image", ref, "snapshotter", m.cfg.Snapshotter)
		if err := img.Unpack(ctx, m.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %s: %w", ref, err)
		}
	}
	return img, nil
}

// Unavailable wraps err with ErrUnavailable when it means containerd could
// not be reached.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	if errdefs.IsUnavailable(err) || status.Code(errors.Unwrap(err)) == codes.Unavailable || status.Code(err) == codes.Unavailable {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// CopyExecutable copies src to dst, mode 0755 whatever the umask, through
// a temporary file renamed into place.
func CopyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Chmod(0o755), out.Close())
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// ShimWrapped reports whether codeexec-shim stands in for the shim binary
// (Config.ShimWrapper, shimRuntime).
func (m *Manager) ShimWrapped() bool { return m.runtime != m.cfg.Runtime }

// ImageDigest is the digest of the image of that name, or "" when it is
// not present.
func (m *Manager) ImageDigest(name string) string {
	if img, _ := m.image(name); img != nil {
		return img.Target().Digest.String()
	}
	return ""
}

// Client is the manager's containerd client.
func (m *Manager) Client() *client.Client { return m.client }

// Config is the manager's configuration.
func (m *Manager) Config() Config { return m.cfg }

// Owned lists what the manager keeps for its whole life (its lease, root
// views and shim hosts, with their tasks, processes, cgroups, directories
// and shims): leftovers.Of does not count them.
func (m *Manager) Owned() []string {
	own := []string{m.lease}
	m.imgMu.RLock()
	defer m.imgMu.RUnlock()
	for _, root := range m.roots {
		own = append(own, root.key)
	}
	return append(own, m.hosts.ids()...)
}
