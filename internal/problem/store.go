package problem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Store keeps packages' archives by id, and a little about each (Meta),
// for every node of a fleet: a NATS JetStream object store
// (internal/submissions), or a local folder (DirStore) for one node.
type Store interface {
	// Put stores an archive and its meta under id; storing an id that
	// exists replaces its meta only.
	Put(ctx context.Context, id string, archive, meta []byte) error
	// Archive returns the archive stored under id, or ErrNotFound.
	Archive(ctx context.Context, id string) ([]byte, error)
	// Meta returns the meta stored under id, or ErrNotFound.
	Meta(ctx context.Context, id string) ([]byte, error)
	// Delete removes id; ErrNotFound when there is none.
	Delete(ctx context.Context, id string) error
	// Usage returns how many packages are stored and their archives'
	// bytes.
	Usage(ctx context.Context) (count int, bytes int64, err error)
}

// ErrNotFound is a Store's error for an id it does not hold.
var ErrNotFound = errors.New("no such problem")

// ID is a package's id: the SHA-256 of its archive's bytes, in hex. The
// same archive again is the same id.
func ID(archive []byte) string {
	sum := sha256.Sum256(archive)
	return hex.EncodeToString(sum[:])
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidID reports whether id is one ID could have returned.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// DirStore is a Store in a local folder: ID.archive and ID.json. It is
// the store of a single node (the embedded default without the queue);
// a fleet shares the NATS object store instead.
type DirStore struct{ Dir string }

func (s DirStore) path(id, ext string) (string, error) {
	if !ValidID(id) {
		return "", ErrNotFound
	}
	return filepath.Join(s.Dir, id+ext), nil
}

// Put writes the archive, then the meta, each through a temporary file
// and a rename, so that a reader never sees half of one.
func (s DirStore) Put(_ context.Context, id string, archive, meta []byte) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("problem store: %w", err)
	}
	a, err := s.path(id, ".archive")
	if err != nil {
		return err
	}
	m, _ := s.path(id, ".json")
	if _, err := os.Stat(a); errors.Is(err, os.ErrNotExist) {
		if err := writeAtomic(a, archive); err != nil {
			return err
		}
	}
	return writeAtomic(m, meta)
}

func writeAtomic(name string, b []byte) error {
	tmp := name + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("problem store: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("problem store: %w", err)
	}
	return nil
}

func (s DirStore) read(id, ext string) ([]byte, error) {
	p, err := s.path(id, ext)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// Archive implements Store.
func (s DirStore) Archive(_ context.Context, id string) ([]byte, error) {
	return s.read(id, ".archive")
}

// Meta implements Store.
func (s DirStore) Meta(_ context.Context, id string) ([]byte, error) { return s.read(id, ".json") }

// Delete implements Store.
func (s DirStore) Delete(_ context.Context, id string) error {
	a, err := s.path(id, ".archive")
	if err != nil {
		return err
	}
	m, _ := s.path(id, ".json")
	errA, errM := os.Remove(a), os.Remove(m)
	if errors.Is(errA, os.ErrNotExist) && errors.Is(errM, os.ErrNotExist) {
		return ErrNotFound
	}
	for _, err := range []error{errA, errM} {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("problem store: %w", err)
		}
	}
	return nil
}

// Usage implements Store.
func (s DirStore) Usage(context.Context) (int, int64, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("problem store: %w", err)
	}
	n, total := 0, int64(0)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".archive") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		n++
		total += info.Size()
	}
	return n, total, nil
}
