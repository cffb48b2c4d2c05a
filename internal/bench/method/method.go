// Package method holds the ways a benchmark runs a program, besides the
// service itself (package bench's service): bare on the host (the floor),
// `ctr run` of the same image, and `docker run` when an engine answers;
// and what every way has in common (Method, Outcome). It measures
// nothing: package bench interleaves the methods and keeps the figures.
package method

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/bench/report"
)

// Program is one benchmark program (package report).
type Program = report.Program

// Method runs a program one way. Run must be safe for concurrent use.
type Method interface {
	Name() string
	// Run runs p once and reports the wall time the caller waited. A program
	// that could not run, or failed, is an Outcome with Err set.
	Run(ctx context.Context, p Program) Outcome
}

// Outcome is what one run of a program gave.
type Outcome struct {
	Elapsed time.Duration
	Stdout  string
	Server  map[string]float64 // the service's own *_ms timings; HTTP methods only
	Err     error
}

// limited is implemented by a method that runs only some languages.
type limited interface{ supports(Program) bool }

// Supports reports whether m can run p: the methods outside the service
// (bare, ctr, docker) know only Python and C++; the service runs every
// language it serves.
func Supports(m Method, p Program) bool {
	if l, ok := m.(limited); ok {
		return l.supports(p)
	}
	return true
}

func pythonOrCpp(p Program) bool { return p.Language == "python" || p.Language == "cpp" }

func (*bare) supports(p Program) bool   { return pythonOrCpp(p) }
func (*ctr) supports(p Program) bool    { return pythonOrCpp(p) }
func (*docker) supports(p Program) bool { return pythonOrCpp(p) }

// newJobDir makes a fresh directory under parent holding p's source file,
// with directory mode perm (a container user other than ours needs 0o777 to
// write the compiled binary into it).
func newJobDir(parent string, p Program, perm os.FileMode) (string, error) {
	dir, err := os.MkdirTemp(parent, "job-")
	if err != nil {
		return "", fmt.Errorf("make job directory: %w", err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		return "", fmt.Errorf("make job directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, sourceFile(p)), []byte(p.Code), 0o644); err != nil {
		return "", fmt.Errorf("write source: %w", err)
	}
	return dir, nil
}

// sourceFile is the name the service gives p's source file.
func sourceFile(p Program) string {
	if p.Language == "cpp" {
		return "main.cpp"
	}
	return "main.py"
}

// uniqueID returns a container name that no earlier run used.
func uniqueID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return prefix + "-" + hex.EncodeToString(b)
}

// Clip shortens s for an error message.
func Clip(s string) string {
	const limit = 200
	s = strings.TrimSpace(s)
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
