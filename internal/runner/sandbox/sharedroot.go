package sandbox

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/google/uuid"
	"github.com/opencontainers/image-spec/identity"
)

// sharedRoot is the read-only root filesystem every sandbox of one image
// uses, instead of a snapshot view of its own per sandbox: the directory of
// the image's only layer, kept from garbage collection by one labelled view
// that lives as long as the manager.
//
// It saves, per sandbox, a snapshot's creation and removal in containerd's
// metadata and a mount and unmount in the shim. The read-only guarantee is
// the spec's, as with a view: the runtime mounts the root read-only in the
// sandbox's own mount namespace before the program starts, and every mount
// point the sandbox needs exists in the image (a view is read-only too, so
// the runtime could never create one there). The directory itself stays
// root's on the host; nothing in a sandbox can reach it writable.
type sharedRoot struct {
	key  string // the pinning view's snapshot key
	path string // the layer's directory, the sandboxes' root
}

// shareRoot pins the root of img for its sandboxes. It returns nil, with no
// error, when the image's root is not one directory (an image of several
// layers is an overlay, which the runtime cannot take as a path); its
// sandboxes then get views of their own.
func (m *Manager) shareRoot(ctx context.Context, img client.Image) (*sharedRoot, error) {
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return nil, fmt.Errorf("read layers of %s: %w", img.Name(), err)
	}
	if len(diffIDs) != 1 {
		return nil, nil
	}
	sn := m.client.SnapshotService(m.cfg.Snapshotter)
	key := "codeexec-root-" + uuid.NewString()
	labels := map[string]string{LabelManaged: "true", LabelOwner: m.cfg.StateDir}
	mounts, err := sn.View(ctx, key, identity.ChainID(diffIDs).String(), snapshots.WithLabels(labels))
	if err != nil {
		return nil, Unavailable(fmt.Errorf("pin root of %s: %w", img.Name(), err))
	}
	if len(mounts) != 1 || mounts[0].Type != "bind" || !slices.Contains(mounts[0].Options, "ro") {
		// Another snapshotter: keep to a view per sandbox.
		if err := sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("remove view %s: %w", key, err)
		}
		return nil, nil
	}
	return &sharedRoot{key: key, path: mounts[0].Source}, nil
}

// unshareRoots removes the views that pin the shared roots.
func (m *Manager) unshareRoots(ctx context.Context) error {
	sn := m.client.SnapshotService(m.cfg.Snapshotter)
	var errs []error
	m.imgMu.Lock()
	defer m.imgMu.Unlock()
	for name, root := range m.roots {
		if err := sn.Remove(ctx, root.key); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove root view of %s: %w", name, err))
			continue
		}
		delete(m.roots, name)
	}
	return errors.Join(errs...)
}
