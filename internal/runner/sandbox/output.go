package sandbox

import (
	"bytes"
	"sync"
)

// CapWriter keeps the first max bytes written to it and counts the rest.
//
// It never returns an error: containerd's IO copy stops at the first write
// error, after which the FIFO fills and the program blocks until the
// timeout. Instead the writer discards what is over the cap and calls
// onExceed once, so the caller can kill the program at once.
type CapWriter struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	max      int
	exceeded bool
	onExceed func()
}

// NewCapWriter returns a writer that keeps max bytes and calls onExceed
// once when more come.
func NewCapWriter(max int, onExceed func()) *CapWriter {
	return &CapWriter{max: max, onExceed: onExceed}
}

func (w *CapWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	room := w.max - w.buf.Len()
	if len(p) <= room {
		w.buf.Write(p)
		w.mu.Unlock()
		return len(p), nil
	}
	w.buf.Write(p[:room])
	first := !w.exceeded
	w.exceeded = true
	w.mu.Unlock()
	if first && w.onExceed != nil {
		w.onExceed()
	}
	return len(p), nil
}

// Result returns what was kept and whether anything was discarded.
func (w *CapWriter) Result() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.exceeded
}

// setMax changes the cap before anything was written.
func (w *CapWriter) setMax(max int) {
	w.mu.Lock()
	w.max = max
	w.mu.Unlock()
}
