package lane

import (
	"bytes"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// relay copies a conversation between two sides through the service,
// keeping what was said (Converse with a record). Each direction is two
// FIFOs: the side that speaks writes one, the service reads it and writes
// the other, which the side that hears reads. The service opens its ends
// as the sides open theirs (blocking opens, each in a goroutine of its
// own); when the speaker's end closes, the service closes the hearer's
// (end-of-file), and when the hearer is gone, the service closes the
// speaker's (SIGPIPE on its next write), as a direct FIFO would.
type relay struct {
	max  int
	mu   sync.Mutex
	text []byte
	cut  bool
	part [2][]byte // each direction's unfinished line
	wg   sync.WaitGroup
	ends []*relayEnd
	// closed is when each direction's speaker closed its end, by
	// CLOCK_MONOTONIC: taken before the close is passed on.
	closed [2]atomic.Int64
}

// relayEnd is one FIFO end the service opens.
type relayEnd struct {
	path   string
	flag   int
	opened atomic.Bool
	done   chan struct{}
	f      *os.File
}

// The directions' marks, as the Kattis format's .interaction files have
// them: ">" the submission (a) to the validator (b), "<" back.
var relayMarks = [2]string{">", "<"}

// startRelay starts copying aSays to bHears and bSays to aHears, keeping
// up to max bytes of the transcript.
func startRelay(max int, aSays, bHears, bSays, aHears string) *relay {
	r := &relay{max: max}
	r.pipe(0, aSays, bHears)
	r.pipe(1, bSays, aHears)
	return r
}

// open opens an end in the background.
func (r *relay) open(path string, flag int) *relayEnd {
	e := &relayEnd{path: path, flag: flag, done: make(chan struct{})}
	r.ends = append(r.ends, e)
	go func() {
		defer close(e.done)
		f, err := os.OpenFile(path, flag|syscall.O_CLOEXEC, 0)
		if err == nil {
			e.f = f
			e.opened.Store(true)
		}
	}()
	return e
}

func (r *relay) pipe(dir int, from, to string) {
	in, out := r.open(from, os.O_RDONLY), r.open(to, os.O_WRONLY)
	r.wg.Go(func() {
		<-in.done
		<-out.done
		if in.f != nil {
			defer in.f.Close()
		}
		if out.f != nil {
			defer out.f.Close()
		}
		if in.f == nil || out.f == nil {
			return
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := in.f.Read(buf)
			if n > 0 {
				r.note(dir, buf[:n])
				if _, werr := out.f.Write(buf[:n]); werr != nil {
					return // the hearer is gone: closing in gives the speaker SIGPIPE
				}
			}
			if err != nil {
				// The speaker closed: closing out gives the hearer
				// end-of-file, after the time is taken.
				r.closed[dir].Store(int64(monotonic()))
				return
			}
		}
	})
}

// note keeps what one direction said, line by line, marked.
func (r *relay) note(dir int, p []byte) {
	if r.max <= 0 {
		return // nothing is recorded
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.part[dir] = append(r.part[dir], p...)
	for {
		i := bytes.IndexByte(r.part[dir], '\n')
		if i < 0 {
			break
		}
		r.keep(relayMarks[dir] + string(r.part[dir][:i+1]))
		r.part[dir] = r.part[dir][i+1:]
	}
	if len(r.part[dir]) > r.max { // a line longer than the record: keep its start
		r.keep(relayMarks[dir] + string(r.part[dir][:r.max]) + "\n")
		r.part[dir] = r.part[dir][:0]
	}
}

// keep appends a line to the transcript, as far as it holds.
func (r *relay) keep(line string) {
	if r.cut {
		return
	}
	if len(r.text)+len(line) > r.max {
		r.text = append(r.text, line[:r.max-len(r.text)]...)
		r.cut = true
		return
	}
	r.text = append(r.text, line...)
}

// stop ends the relay once no side can open a FIFO any more (every
// process of both sandboxes is dead): an open of the service's still
// waiting for a side that never came is released by opening the other
// end itself, without blocking. It returns the transcript.
func (r *relay) stop() Transcript {
	for _, e := range r.ends {
		r.release(e)
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // not seen; a copy still waiting is let go
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for dir, part := range r.part {
		if len(part) > 0 {
			r.keep(relayMarks[dir] + string(part) + "\n")
			r.part[dir] = nil
		}
	}
	return Transcript{Text: string(r.text), Truncated: r.cut,
		AClosed: time.Duration(r.closed[0].Load()), BClosed: time.Duration(r.closed[1].Load())}
}

// release makes a waiting open of e's return: a reader waits for a
// writer and a writer for a reader, so the service opens the other end
// for a moment (a non-blocking write open fails until the reader waits).
func (r *relay) release(e *relayEnd) {
	other := os.O_RDONLY
	if e.flag == os.O_RDONLY {
		other = os.O_WRONLY
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		select {
		case <-e.done:
			return
		default:
		}
		f, err := os.OpenFile(e.path, other|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != nil {
			time.Sleep(5 * time.Millisecond) // the opener is not waiting yet
			continue
		}
		select {
		case <-e.done:
		case <-time.After(50 * time.Millisecond):
		}
		f.Close()
	}
}
