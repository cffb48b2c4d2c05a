package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ctrsandbox "github.com/containerd/containerd/v2/core/sandbox"
	"github.com/containerd/errdefs"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// anchorArgs is the idle init of a shim host's sandbox: tini as PID 1,
// and its child sleeps until the host is removed. Every sandbox image has
// both (tini is the runtimes' own init).
var anchorArgs = []string{"/usr/bin/tini", "--", "/bin/sleep", "infinity"}

// anchorPids bounds the tasks of an anchor's cgroup. Idle, the anchor
// runs two processes (tini and sleep), but before they exist the
// runtime's own init runs there: runc's is a Go program whose threads
// count against the limit too. With a limit of 2, runc's init now and then
// failed to start a thread ("failed to create new OS thread", exit 2)
// before the anchor was started, and the sandbox joining the new host
// failed with "cannot start a stopped process". The anchor runs no
// untrusted code, so the limit only bounds a fault; 32 leaves room.
const anchorPids = 32

// A shim host is a long-lived sandbox whose containerd shim also serves
// the sandboxes that join it, so that a sandbox does not start a shim of
// its own and tear it down again (on containerd 2.x that is three execs of
// the shim binary per sandbox). A sandbox joins through containerd 2.x's
// sandbox records: a record with the host's ID, and the sandbox's
// container naming it as its SandboxID, make containerd hand the new task
// to the running shim of the host's task (core/runtime/v2's
// ShimManager.Start).
//
// Only the shim process is shared. The host is an ordinary sandbox (the
// full spec, idle: tini and sleep as AnchorUID), and every joined sandbox
// keeps its own container, spec, namespaces and cgroup, so no isolation
// property changes. The failure domain does: a host's shim that dies takes
// the runs in flight in its sandboxes with it. They fail with
// ErrUnavailable (503, Retry-After) and are killed through their cgroups as
// any run whose shim went away; the host is replaced before its slot is
// used again.
//
// Sandboxes are spread over Config.ShimHosts hosts in turn. Containerd 1.6
// and 1.7 have no sandbox records: there every sandbox keeps a shim of its
// own, as before.

// shimHost is one host.
type shimHost struct {
	id      string
	dir     string   // the anchor's (empty) job directory
	box     *Sandbox // the anchor's sandbox
	users   int      // joined sandboxes not yet removed; under shimHosts.mu
	retired bool     // no sandbox joins it any more; under shimHosts.mu
}

// shimHosts are the manager's hosts.
type shimHosts struct {
	m     *Manager
	mu    sync.Mutex
	slots []*shimHost // nil for a slot whose host is not made yet
	next  atomic.Uint64
	all   map[string]*shimHost // every host not yet removed, retired ones included; under mu
	// making serialises the creation of hosts, so that a burst of
	// requests after a host died replaces it once.
	making sync.Mutex
}

// errNoSandboxRecords means containerd keeps no sandbox records (1.6, 1.7).
var errNoSandboxRecords = errors.New("containerd has no sandbox records")

// startShimHosts makes the first host to learn whether containerd supports
// them; it returns nil (every sandbox gets a shim of its own) when n is 0
// or containerd does not.
func (m *Manager) startShimHosts(ctx context.Context, n int) (*shimHosts, error) {
	if n == 0 {
		return nil, nil
	}
	hs := &shimHosts{m: m, slots: make([]*shimHost, n), all: map[string]*shimHost{}}
	h, err := hs.make(ctx)
	if errors.Is(err, errNoSandboxRecords) {
		m.log.Info("sandboxes start shims of their own: containerd has no sandbox records", "containerd", m.version)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	hs.mu.Lock()
	hs.slots[0] = h
	hs.mu.Unlock()
	return hs, nil
}

// join returns the ID of the host the next sandbox joins, and the function
// to call once that sandbox is removed. It makes or replaces the slot's
// host when needed.
func (hs *shimHosts) join(ctx context.Context) (string, func(), error) {
	i := int(hs.next.Add(1)-1) % len(hs.slots)
	h, err := hs.hostOf(ctx, i)
	if err != nil {
		return "", nil, err
	}
	return h.id, func() { hs.leave(h) }, nil
}

// hostOf returns slot i's live host with a user added for the caller.
func (hs *shimHosts) hostOf(ctx context.Context, i int) (*shimHost, error) {
	hs.mu.Lock()
	if h := hs.slots[i]; h != nil && h.box.Alive() {
		h.users++
		hs.mu.Unlock()
		return h, nil
	}
	hs.mu.Unlock()

	hs.making.Lock()
	defer hs.making.Unlock()
	hs.mu.Lock()
	if h := hs.slots[i]; h != nil && h.box.Alive() {
		// Another caller replaced it meanwhile.
		h.users++
		hs.mu.Unlock()
		return h, nil
	}
	old := hs.slots[i]
	hs.slots[i] = nil
	hs.mu.Unlock()
	if old != nil {
		hs.m.log.Warn("shim host is gone; replacing it", "id", old.id)
		hs.retire(old)
	}
	h, err := hs.make(ctx)
	if err != nil {
		return nil, err
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.slots[i] = h
	h.users++
	return h, nil
}

// make creates a host: its anchor sandbox, then the sandbox record that
// lets other sandboxes join its shim.
func (hs *shimHosts) make(ctx context.Context) (_ *shimHost, retErr error) {
	m := hs.m
	h := &shimHost{id: shimHostID(m.cfg)}
	h.dir = filepath.Join(JobsDir(m.cfg.StateDir), h.id)
	if err := os.Mkdir(h.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create shim host directory: %w", err)
	}
	hs.mu.Lock()
	hs.all[h.id] = h
	hs.mu.Unlock()
	defer func() {
		if retErr != nil {
			hs.remove(h)
		}
	}()
	lim := m.cfg.OwnLimits
	lim.Pids = anchorPids
	p, err := m.Prepare(ctx, Spec{
		ID: h.id, Job: h.id, Image: m.firstImage(), Args: anchorArgs, Cwd: "/", JobDir: h.dir,
		Anchor: true, Prestart: true, Limits: lim, Timeout: m.cfg.OwnTimeout, NoShimHost: true, NullIO: true,
	})
	if err != nil {
		return nil, err
	}
	h.box = p
	now := time.Now()
	_, err = m.client.SandboxStore().Create(m.Context(ctx), ctrsandbox.Sandbox{
		ID:        h.id,
		Labels:    map[string]string{LabelManaged: "true", LabelOwner: m.cfg.StateDir, LabelJob: h.id},
		Runtime:   ctrsandbox.RuntimeOpts{Name: m.runtime},
		CreatedAt: now, UpdatedAt: now,
	})
	if IsUnimplemented(err) {
		return nil, errNoSandboxRecords
	}
	if err != nil {
		return nil, Unavailable(fmt.Errorf("create sandbox record: %w", err))
	}
	// Removing the host deletes the record first (the last step added is
	// the first run); a failure is retried with the host's other steps.
	p.td.add(func() error {
		cctx, cancel := m.cleanupContext()
		defer cancel()
		if err := m.client.SandboxStore().Delete(cctx, h.id); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete sandbox record: %w", err)
		}
		return nil
	})
	return h, nil
}

// IsUnimplemented reports whether err says containerd lacks the API.
func IsUnimplemented(err error) bool {
	return err != nil && (errdefs.IsNotImplemented(err) || status.Code(err) == codes.Unimplemented ||
		strings.Contains(err.Error(), "unknown service"))
}

// leave records that a sandbox of h was removed, and removes a retired h
// that no sandbox uses any more.
func (hs *shimHosts) leave(h *shimHost) {
	hs.mu.Lock()
	h.users--
	done := h.retired && h.users == 0
	hs.mu.Unlock()
	if done {
		hs.remove(h)
	}
}

// retire stops sandboxes from joining h, and removes it once none uses it.
func (hs *shimHosts) retire(h *shimHost) {
	hs.mu.Lock()
	h.retired = true
	done := h.users == 0
	hs.mu.Unlock()
	if done {
		hs.remove(h)
	}
}

// remove deletes h's sandbox record and anchor sandbox (the shim exits once
// its last task is deleted), then its directory. A step that fails is
// retried by the janitor, or by the next start-up.
func (hs *shimHosts) remove(h *shimHost) {
	m := hs.m
	if h.box != nil {
		m.Destroy(h.box)
	}
	if err := os.RemoveAll(h.dir); err != nil {
		m.log.Error("remove shim host directory", "dir", h.dir, "err", err)
	}
	hs.mu.Lock()
	delete(hs.all, h.id)
	hs.mu.Unlock()
}

// close retires every host; each is removed now, or when its last sandbox is.
func (hs *shimHosts) close() {
	if hs == nil {
		return
	}
	hs.mu.Lock()
	hosts := make([]*shimHost, 0, len(hs.slots))
	for i, h := range hs.slots {
		if h != nil {
			hosts = append(hosts, h)
			hs.slots[i] = nil
		}
	}
	hs.mu.Unlock()
	for _, h := range hosts {
		hs.retire(h)
	}
}

// ids lists the hosts not yet removed.
func (hs *shimHosts) ids() []string {
	if hs == nil {
		return nil
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := make([]string, 0, len(hs.all))
	for id := range hs.all {
		out = append(out, id)
	}
	return out
}

// size is how many hosts the sandboxes are spread over; 0 for nil.
func (hs *shimHosts) size() int {
	if hs == nil {
		return 0
	}
	return len(hs.slots)
}

// shimHostID is a new host's ID: "<uuid>-<owner tag>-shim". The tag names
// the manager (its state directory), so that a scan of the namespace's
// cgroups, processes and shims tells one manager's hosts from another's.
func shimHostID(cfg Config) string {
	return uuid.NewString() + "-" + OwnerTag(cfg) + "-shim"
}

// OwnerTag is a short digest of cfg's state directory.
func OwnerTag(cfg Config) string {
	sum := sha256.Sum256([]byte(cfg.StateDir))
	return hex.EncodeToString(sum[:4])
}
