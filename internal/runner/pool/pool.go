// Package pool keeps items prepared ahead of requests, per key (a
// language): a refiller per key makes the next one in the background while
// the pool is not full, and waits for a quiet moment first, so that making
// one does not slow down the runs in flight. Each item serves one request
// and is destroyed afterwards by whoever took it; an item that waited too
// long or can no longer be used is destroyed instead of handed out.
//
// It knows nothing of what an item is (package runner's jobs: prepared
// sandboxes), of containerd or of HTTP; its callers give it functions to
// make, check and destroy items, and to tell whether the machine is busy.
package pool

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Config says how a pool makes, checks and destroys its items, and when it
// may refill.
type Config[T any] struct {
	Keys    []string      // a refiller for each
	Size    int           // items kept ready per key
	MaxIdle time.Duration // an item older than this is destroyed, not handed out

	Make    func(ctx context.Context, key string) (T, error)
	Usable  func(T) bool      // the item can still serve a request
	Created func(T) time.Time // when the item was made
	Destroy func(T)
	Name    func(T) string // the item's name in the log

	// Busy reports that the machine is busy serving requests (its sandbox
	// slots taken up to its cores, or a program running); a refill waits
	// until it is not, at most DelayMax (default RefillDelayMax). Freed
	// returns a channel closed the next time that may have changed (a slot
	// freed, a program ended).
	Busy     func() bool
	Freed    func() <-chan struct{}
	DelayMax time.Duration

	// Pending counts the destruction of discarded items, which runs in the
	// background; nil when nobody waits for it.
	Pending *sync.WaitGroup
	Log     *slog.Logger
}

// RefillDelayMax bounds how long a refill waits for the runs in flight.
const RefillDelayMax = time.Second

// Pool keeps Size items ready per key. A nil *Pool is an empty pool that
// never has an item (the cold path).
type Pool[T any] struct {
	cfg     Config[T]
	ctx     context.Context // the refillers'; cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	filling chan struct{} // held by the one refill making an item
	mu      sync.Mutex
	ready   map[string]chan T // by key; Add adds to it
	warmed  map[string]bool   // the key's pool has been full at least once
	closed  bool
}

// Start starts one refiller per key, each keeping cfg.Size items ready. It
// returns nil, the cold path, when cfg.Size is not positive.
func Start[T any](cfg Config[T]) *Pool[T] {
	if cfg.Size <= 0 {
		return nil
	}
	if cfg.DelayMax <= 0 {
		cfg.DelayMax = RefillDelayMax
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool[T]{cfg: cfg, ctx: ctx, ready: map[string]chan T{}, cancel: cancel, warmed: map[string]bool{},
		filling: make(chan struct{}, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, key := range cfg.Keys {
		p.startLocked(key)
	}
	return p
}

// Add starts a refiller for a key the pool does not have yet (a language
// whose image arrived after start-up). The service is ready without it:
// WarmedUp does not wait for a key added this way. Adding a key the pool
// has, or adding to a closed pool, does nothing.
func (p *Pool[T]) Add(key string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ready[key]; ok || p.closed {
		return
	}
	p.startLocked(key)
}

// startLocked starts key's refiller; p.mu is held.
func (p *Pool[T]) startLocked(key string) {
	ch := make(chan T, p.cfg.Size)
	p.ready[key] = ch
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.refill(p.ctx, key, ch)
	}()
}

// channel is key's channel of ready items, nil (never ready) for a key the
// pool does not have.
func (p *Pool[T]) channel(key string) chan T {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready[key]
}

// refill makes items until ctx ends, blocking while the pool is full.
// When making one fails (containerd down, say) it backs off, up to 10 s.
func (p *Pool[T]) refill(ctx context.Context, key string, ch chan T) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		p.waitQuiet(ctx)
		// One refill at a time across keys: with many languages, their
		// refills at once (at start-up, say) starve the runs in flight.
		select {
		case p.filling <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		item, err := p.cfg.Make(ctx, key)
		<-p.filling
		if err != nil {
			if ctx.Err() == nil {
				p.cfg.Log.Warn("prepare pooled sandbox", "language", key, "err", err, "retry_in", backoff)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		select {
		case ch <- item:
			if len(ch) == cap(ch) {
				p.mu.Lock()
				p.warmed[key] = true
				p.mu.Unlock()
			}
		case <-ctx.Done():
			p.cfg.Destroy(item)
		}
	}
}

// waitQuiet waits, at most DelayMax, until the machine is not busy (Busy).
// Preparing a sandbox costs more CPU than a short program (containerd, the
// runtime), and a refill that competes with the runs in flight for the
// cores slows them down: the request that just took a pooled sandbox would
// pay for its replacement, and its program's wall time would include the
// service's own work. Even with a core to spare, the refill's processes
// (containerd, the shim, the runtime) land on the program's core as often
// as not, so the refill starts once the program has exited, while the
// result goes back; with one client sending requests one after the other
// the next request still finds a prepared sandbox. Under steady load the
// wait runs out and the refill goes ahead anyway. It sleeps until Freed
// says something changed, not polling.
func (p *Pool[T]) waitQuiet(ctx context.Context) {
	deadline := time.NewTimer(p.cfg.DelayMax)
	defer deadline.Stop()
	for {
		freed := p.cfg.Freed()
		if !p.cfg.Busy() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-freed:
		}
	}
}

// WarmedUp reports the first key whose pool has never been full yet.
func (p *Pool[T]) WarmedUp() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Only Start's keys: one added later (Add) is not waited for.
	for _, key := range p.cfg.Keys {
		if ch := p.ready[key]; !p.warmed[key] {
			return fmt.Errorf("warm pool %s: %d of %d prepared, still warming up", key, len(ch), p.cfg.Size)
		}
	}
	return nil
}

// Take returns a ready item of key, or false when none is. Items that
// waited longer than MaxIdle, or are no longer Usable, are destroyed (in
// the background) instead of handed out.
func (p *Pool[T]) Take(key string) (T, bool) {
	var zero T
	if p == nil {
		return zero, false
	}
	ch := p.channel(key)
	for {
		select {
		case item := <-ch:
			age, usable := time.Since(p.cfg.Created(item)), p.cfg.Usable(item)
			if age <= p.cfg.MaxIdle && usable {
				return item, true
			}
			p.cfg.Log.Info("discarding stale pooled sandbox", "id", p.cfg.Name(item), "age", age, "alive", usable)
			if p.cfg.Pending != nil {
				p.cfg.Pending.Add(1)
			}
			go func() {
				if p.cfg.Pending != nil {
					defer p.cfg.Pending.Done()
				}
				p.cfg.Destroy(item)
			}()
		default:
			return zero, false
		}
	}
}

// Close stops the refillers and destroys every idle item.
func (p *Pool[T]) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	// No refiller runs and none can start: p.ready no longer changes.
	for _, ch := range p.ready {
		for {
			select {
			case item := <-ch:
				p.cfg.Destroy(item)
				continue
			default:
			}
			break
		}
	}
}

// Levels returns how many items wait, per key.
func (p *Pool[T]) Levels() map[string]int {
	out := map[string]int{}
	if p == nil {
		return out
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, ch := range p.ready {
		out[key] = len(ch)
	}
	return out
}

// Changes wakes every goroutine waiting on it when signalled: what a
// pool's Config.Freed returns (Changes.Wait), signalled by whoever frees
// what Busy looks at. The zero value is ready to use.
type Changes struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel closed at the next Signal.
func (c *Changes) Wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// Signal wakes the current waiters.
func (c *Changes) Signal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}
