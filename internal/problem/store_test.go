package problem_test

import (
	"testing"

	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/problem/problemtest"
)

func TestDirStore(t *testing.T) {
	problemtest.StoreContract(t, problem.DirStore{Dir: t.TempDir() + "/problems"})
}

func TestID(t *testing.T) {
	if problem.ID([]byte("x")) != problem.ID([]byte("x")) || problem.ID([]byte("x")) == problem.ID([]byte("y")) || !problem.ValidID(problem.ID([]byte("x"))) {
		t.Fatal("ID is not a content hash")
	}
}
