package submissions

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/codeexec/codeexec/internal/problem"
	"github.com/nats-io/nats.go/jetstream"
)

// ProblemsBucket is the object store of problem packages: ID.archive and
// ID.json per package, kept until deleted (no TTL), with the queue's
// replicas, so every node of a fleet judges against the same packages
// and a node's loss loses none.
const ProblemsBucket = "codeexec_problems"

// ProblemStore is a problem.Store in JetStream's object store.
type ProblemStore struct{ obj jetstream.ObjectStore }

// Problems opens (creating if need be) the queue's problem store.
func (q *Queue) Problems(ctx context.Context) (*ProblemStore, error) {
	obj, err := q.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      ProblemsBucket,
		Description: "codeexec problem packages, by the SHA-256 of their archive",
		Storage:     jetstream.FileStorage,
		Replicas:    q.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create object store %s: %w", ProblemsBucket, err)
	}
	return &ProblemStore{obj: obj}, nil
}

// Put implements problem.Store: the archive once, the meta each time.
func (s *ProblemStore) Put(ctx context.Context, id string, archive, meta []byte) error {
	if _, err := s.obj.GetInfo(ctx, id+".archive"); errors.Is(err, jetstream.ErrObjectNotFound) {
		if _, err := s.obj.PutBytes(ctx, id+".archive", archive); err != nil {
			return fmt.Errorf("store problem: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("store problem: %w", err)
	}
	if _, err := s.obj.PutBytes(ctx, id+".json", meta); err != nil {
		return fmt.Errorf("store problem: %w", err)
	}
	return nil
}

func (s *ProblemStore) get(ctx context.Context, name string) ([]byte, error) {
	b, err := s.obj.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, problem.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read problem: %w", err)
	}
	return b, nil
}

// Archive implements problem.Store.
func (s *ProblemStore) Archive(ctx context.Context, id string) ([]byte, error) {
	if !problem.ValidID(id) {
		return nil, problem.ErrNotFound
	}
	return s.get(ctx, id+".archive")
}

// Meta implements problem.Store.
func (s *ProblemStore) Meta(ctx context.Context, id string) ([]byte, error) {
	if !problem.ValidID(id) {
		return nil, problem.ErrNotFound
	}
	return s.get(ctx, id+".json")
}

// Delete implements problem.Store.
func (s *ProblemStore) Delete(ctx context.Context, id string) error {
	if !problem.ValidID(id) {
		return problem.ErrNotFound
	}
	// Deleting a deleted object is no error to the object store: ask first.
	if _, err := s.obj.GetInfo(ctx, id+".archive"); errors.Is(err, jetstream.ErrObjectNotFound) {
		if _, err := s.obj.GetInfo(ctx, id+".json"); errors.Is(err, jetstream.ErrObjectNotFound) {
			return problem.ErrNotFound
		}
	}
	errA, errM := s.obj.Delete(ctx, id+".archive"), s.obj.Delete(ctx, id+".json")
	for _, err := range []error{errA, errM} {
		if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("delete problem: %w", err)
		}
	}
	return nil
}

// Usage implements problem.Store.
func (s *ProblemStore) Usage(ctx context.Context) (int, int64, error) {
	infos, err := s.obj.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("list problems: %w", err)
	}
	n, total := 0, int64(0)
	for _, i := range infos {
		if strings.HasSuffix(i.Name, ".archive") {
			n++
			total += int64(i.Size)
		}
	}
	return n, total, nil
}
