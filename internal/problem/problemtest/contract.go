// Package problemtest holds what tests of problem stores share.
package problemtest

import (
	"context"
	"errors"
	"testing"

	"github.com/codeexec/codeexec/internal/problem"
)

// StoreContract checks what every Store must do; the NATS store runs it
// too (internal/submissions).
func StoreContract(t testing.TB, s problem.Store) {
	t.Helper()
	ctx := context.Background()
	archive := []byte("an archive")
	id := problem.ID(archive)
	if _, err := s.Archive(ctx, id); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("before Put: %v", err)
	}
	if err := s.Put(ctx, id, archive, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, id, archive, []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Archive(ctx, id); err != nil || string(b) != "an archive" {
		t.Fatalf("archive %q %v", b, err)
	}
	if b, err := s.Meta(ctx, id); err != nil || string(b) != `{"v":2}` {
		t.Fatalf("meta %q %v", b, err)
	}
	if n, bytes, err := s.Usage(ctx); err != nil || n != 1 || bytes != int64(len(archive)) {
		t.Fatalf("usage %d %d %v", n, bytes, err)
	}
	if _, err := s.Meta(ctx, "../../etc/passwd"); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("a bad id: %v", err)
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, id); !errors.Is(err, problem.ErrNotFound) {
		t.Fatalf("deleted twice: %v", err)
	}
	if n, _, err := s.Usage(ctx); err != nil || n != 0 {
		t.Fatalf("usage after delete %d %v", n, err)
	}
}
