package lane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"golang.org/x/sys/unix"
)

// The FIFOs of a conversation, in both lanes' data directories: names
// that start with a dot, which no run's file can have.
const (
	fifoToA   = ".talk-in"  // b writes, a reads
	fifoFromA = ".talk-out" // a writes, b reads
)

// Converse runs a and b at once, each in its own lane's sandbox, the
// stdout of each the stdin of the other: an interactive problem's
// submission (a) and its validator (b). The two FIFOs are made in a's
// data directory and hard-linked into b's, so each sandbox sees them and
// nothing else of the other's; a opens its stdin first and b its stdout
// first, so that neither waits for the other forever. Each side keeps its
// own limits: a side whose partner is gone reads end-of-file or gets
// SIGPIPE, and one that waits for ever meets its time limit. The FIFOs are
// removed before Converse returns.
func Converse(ctx context.Context, a, b *Lane, inA, inB Input) (Outcome, Outcome, error) {
	if a.Fresh() || b.Fresh() {
		return Outcome{}, Outcome{}, errors.New("a conversation needs the lane agent: a fresh sandbox per run has no FIFOs for its stdio")
	}
	dirA, err := a.ensureDataDirLocked()
	if err != nil {
		return Outcome{}, Outcome{}, err
	}
	dirB, err := b.ensureDataDirLocked()
	if err != nil {
		return Outcome{}, Outcome{}, err
	}
	var made []string
	defer func() {
		for _, p := range made {
			_ = os.Remove(p)
		}
	}()
	for _, name := range []string{fifoToA, fifoFromA} {
		p := filepath.Join(dirA, name)
		_ = os.Remove(p) // a conversation that failed half-way
		if err := unix.Mkfifo(p, 0o600); err != nil {
			return Outcome{}, Outcome{}, fmt.Errorf("make conversation FIFO: %w", err)
		}
		made = append(made, p)
		// Only the sandbox user opens them; neither side can replace them
		// (the data directories are read-only inside).
		if err := os.Chown(p, oci.SandboxUID, oci.SandboxGID); err != nil {
			return Outcome{}, Outcome{}, fmt.Errorf("hand conversation FIFO to the sandbox user: %w", err)
		}
		link := filepath.Join(dirB, name)
		_ = os.Remove(link)
		if err := os.Link(p, link); err != nil {
			return Outcome{}, Outcome{}, fmt.Errorf("link conversation FIFO: %w", err)
		}
		made = append(made, link)
	}
	inA.Talk = &Talk{In: fifoToA, Out: fifoFromA}
	inB.Talk = &Talk{In: fifoFromA, Out: fifoToA, StdoutFirst: true}
	var outB Outcome
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() { outB, errB = b.Run(ctx, inB) })
	outA, errA := a.Run(ctx, inA)
	wg.Wait()
	return outA, outB, errors.Join(errA, errB)
}

// BFirst tells, of a conversation's two sides, whether b ended before a.
// The agents' reaps are on one clock, but each lags its process's end by
// its agent's scheduling, which can reorder two ends a millisecond apart;
// so the causes come first. A run of a that its time limit ended ended
// then (it was killed; b may have ended because of it, or long before). A
// run of a killed by SIGPIPE wrote after its only reader, b, was gone.
// Otherwise the reaps' order decides.
func BFirst(a, b Outcome) bool {
	switch {
	case a.KilledAt > 0:
		return b.End < a.KilledAt
	case a.Signal == "SIGPIPE":
		return true
	}
	return b.End < a.End
}

// monotonic reads CLOCK_MONOTONIC, the agents' clock.
func monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return time.Duration(ts.Nano())
}

// ensureDataDirLocked is ensureDataDir under the lane's lock, returning
// the directory.
func (l *Lane) ensureDataDirLocked() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.ensureDataDir(); err != nil {
		return "", err
	}
	return l.dataDir, nil
}
