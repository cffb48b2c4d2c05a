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

// Transcript is a recorded conversation, in the Kattis format's
// .interaction form: each line a sent, "<" from b to a, ">" from a to b.
type Transcript struct {
	Text      string
	Truncated bool // more was said than the record holds
	// AClosed and BClosed are when the service saw each side's stdout
	// close, by CLOCK_MONOTONIC (0: not seen): a side that ends closes it,
	// and the other sees end-of-file only after the service passed the
	// close on, so their order is the order of the causes.
	AClosed, BClosed time.Duration
}

// Converse runs a and b at once, each in its own lane's sandbox, the
// stdout of each the stdin of the other: an interactive problem's
// submission (a) and its validator (b). The two FIFOs are made in a's
// data directory and hard-linked into b's, so each sandbox sees them and
// nothing else of the other's; a opens its stdin first and b its stdout
// first, so that neither waits for the other forever. Each side keeps its
// own limits: a side whose partner is gone reads end-of-file or gets
// SIGPIPE, and one that waits for ever meets its time limit. The FIFOs are
// removed before Converse returns.
//
// The service sits between the two (relay.go): each side gets FIFOs of
// its own, whose other ends the service opens and copies between, and it
// sees which side's stdout closed first (Transcript.AClosed, BClosed:
// which side ended first, by cause). With record > 0 it also keeps up to
// record bytes of what they said. It costs each message a pass through
// the service.
func Converse(ctx context.Context, a, b *Lane, inA, inB Input, record int) (Outcome, Outcome, Transcript, error) {
	if a.Fresh() || b.Fresh() {
		return Outcome{}, Outcome{}, Transcript{}, errors.New("a conversation needs the lane agent: a fresh sandbox per run has no FIFOs for its stdio")
	}
	dirA, err := a.ensureDataDirLocked()
	if err != nil {
		return Outcome{}, Outcome{}, Transcript{}, err
	}
	dirB, err := b.ensureDataDirLocked()
	if err != nil {
		return Outcome{}, Outcome{}, Transcript{}, err
	}
	var made []string
	defer func() {
		for _, p := range made {
			_ = os.Remove(p)
		}
	}()
	mkfifo := func(p string) error {
		_ = os.Remove(p) // a conversation that failed half-way
		if err := unix.Mkfifo(p, 0o600); err != nil {
			return fmt.Errorf("make conversation FIFO: %w", err)
		}
		made = append(made, p)
		// Only the sandbox user opens them (and the service, root); neither
		// side can replace them (the data directories are read-only inside).
		if err := os.Chown(p, oci.SandboxUID, oci.SandboxGID); err != nil {
			return fmt.Errorf("hand conversation FIFO to the sandbox user: %w", err)
		}
		return nil
	}
	for _, name := range []string{fifoToA, fifoFromA} {
		for _, dir := range []string{dirA, dirB} {
			if err := mkfifo(filepath.Join(dir, name)); err != nil {
				return Outcome{}, Outcome{}, Transcript{}, err
			}
		}
	}
	// b reads its own .talk-out and writes its own .talk-in: the names as a
	// has them, each FIFO one direction between a side and the service.
	inA.Talk = &Talk{In: fifoToA, Out: fifoFromA}
	inB.Talk = &Talk{In: fifoToA, Out: fifoFromA, StdoutFirst: true}
	rel := startRelay(record,
		filepath.Join(dirA, fifoFromA), filepath.Join(dirB, fifoToA), // a says, b hears
		filepath.Join(dirB, fifoFromA), filepath.Join(dirA, fifoToA)) // b says, a hears
	var outB Outcome
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() { outB, errB = b.Run(ctx, inB) })
	outA, errA := a.Run(ctx, inA)
	wg.Wait()
	t := rel.stop() // every process of both sides is dead: nothing opens the FIFOs any more
	return outA, outB, t, errors.Join(errA, errB)
}

// BFirst tells, of a conversation's two sides, whether b ended before a.
// Causes come first: a run of a that its time limit ended ended then (it
// was killed; b may have ended because of it, or long before), by the
// agents' and the service's CLOCK_MONOTONIC; a run of a killed by SIGPIPE
// wrote after its only reader, b, was gone. Then the order in which the
// service saw their stdouts close (t): a side's end closes its stdout, and
// the other sees that only after the service passed it on, so a side that
// ended because the other did is always seen second, however late the
// machine runs either. Otherwise the two processes' exits by the
// scheduler's clock decide; those can be late by a preemption inside the
// exit (a busy machine made a validator's exit look later than the crash
// it caused), and the agents' reaps, later still, only where the kernel
// does not say.
func BFirst(a, b Outcome, t Transcript) bool {
	switch {
	case a.KilledAt > 0:
		return b.End < a.KilledAt
	case a.Signal == "SIGPIPE":
		return true
	case t.AClosed > 0 && t.BClosed > 0:
		return t.BClosed < t.AClosed
	case a.Exited > 0 && b.Exited > 0:
		return b.Exited < a.Exited
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
