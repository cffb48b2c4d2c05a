package runner

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefillWaitsForTheProgram: a refill does not start while a program
// runs, even with cores to spare, and starts as soon as it has ended.
func TestRefillWaitsForTheProgram(t *testing.T) {
	r := &Runner{slots: make(chan struct{}, 8)}
	// No deadline to end the waits: only what they wait for can.
	var programs atomic.Int64
	p := &pools{r: r, cores: 2, delayMax: time.Hour, programs: programs.Load}

	r.slots <- struct{}{} // one slot taken: a core to spare
	programs.Add(1)       // and its program runs
	done := make(chan struct{})
	go func() {
		p.waitQuiet(context.Background())
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the refill went ahead while the program ran")
	case <-time.After(100 * time.Millisecond):
	}
	programs.Add(-1)
	r.programEnded()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the refill still waited after the program ended")
	}

	// With no program running and a core to spare it does not wait.
	done = make(chan struct{})
	go func() {
		p.waitQuiet(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the refill waited with nothing running")
	}
}
