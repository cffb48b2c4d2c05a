package pool

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// item is a fake pooled item.
type item struct {
	name      string
	created   time.Time
	usable    bool
	destroyed atomic.Bool
}

// config is a pool of fake items made by make, never busy.
func config(size int, maxIdle time.Duration, make func() (*item, error)) Config[*item] {
	return Config[*item]{
		Keys: []string{"python"}, Size: size, MaxIdle: maxIdle,
		Make:    func(context.Context, string) (*item, error) { return make() },
		Usable:  func(i *item) bool { return i.usable },
		Created: func(i *item) time.Time { return i.created },
		Destroy: func(i *item) { i.destroyed.Store(true) },
		Name:    func(i *item) string { return i.name },
		Busy:    func() bool { return false },
		Freed:   new(Changes).Wait,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// waitFull waits until p holds n items of "python".
func waitFull(t *testing.T, p *Pool[*item], n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); p.Levels()["python"] < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %d, want %d", p.Levels()["python"], n)
		}
	}
}

// TestTakeDiscards: an item that can no longer be used, or waited longer
// than MaxIdle, is destroyed instead of handed out; a good one is handed
// out and not destroyed.
func TestTakeDiscards(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  *item
	}{
		{"an item that cannot be used", &item{name: "dead", created: time.Now()}},
		{"an item that waited too long", &item{name: "stale", created: time.Now().Add(-time.Hour), usable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.bad
			var made atomic.Int64
			var pending sync.WaitGroup
			cfg := config(1, time.Minute, func() (*item, error) {
				if made.Add(1) == 1 {
					return bad, nil
				}
				return &item{name: "good", created: time.Now(), usable: true}, nil
			})
			cfg.Pending = &pending
			p := Start(cfg)
			defer p.Close()
			waitFull(t, p, 1)
			// Take may hand out the good item the refiller made meanwhile,
			// never the bad one.
			if got, ok := p.Take("python"); ok && got == bad {
				t.Fatal("the bad item was handed out")
			}
			pending.Wait()
			if !bad.destroyed.Load() {
				t.Fatal("the bad item was not destroyed")
			}
			waitFull(t, p, 1)
			good, ok := p.Take("python")
			if !ok || good.name != "good" || good.destroyed.Load() {
				t.Fatalf("got %+v, %v; want the good item, not destroyed", good, ok)
			}
		})
	}
}

// TestWarmedUpAndClose: the pool is warmed up once full, keeps making
// items after a failure, and destroys what it holds when closed.
func TestWarmedUpAndClose(t *testing.T) {
	var made atomic.Int64
	var items []*item
	var mu sync.Mutex
	p := Start(config(2, time.Minute, func() (*item, error) {
		if made.Add(1) == 1 {
			return nil, errors.New("containerd is down")
		}
		i := &item{created: time.Now(), usable: true}
		mu.Lock()
		items = append(items, i)
		mu.Unlock()
		return i, nil
	}))
	if err := p.WarmedUp(); err == nil {
		// Possible only if both items were made already; the first Make
		// failed and backs off 100 ms, so they cannot have been.
		t.Fatal("warmed up before anything was made")
	}
	waitFull(t, p, 2)
	if err := p.WarmedUp(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, i := range items {
		if !i.destroyed.Load() {
			t.Error("an idle item survived Close")
		}
	}
	var cold *Pool[*item]
	if _, ok := cold.Take("python"); ok || cold.WarmedUp() != nil || len(cold.Levels()) != 0 {
		t.Error("the nil pool is not the empty cold path")
	}
}

// TestRefillWaitsForQuiet: a refill does not start while the machine is
// busy (a program runs), and starts as soon as it is not.
func TestRefillWaitsForQuiet(t *testing.T) {
	var busy atomic.Bool
	var freed Changes
	cfg := config(1, time.Minute, nil)
	// No deadline to end the waits: only what they wait for can.
	cfg.DelayMax, cfg.Busy, cfg.Freed = time.Hour, busy.Load, freed.Wait
	p := &Pool[*item]{cfg: cfg}

	busy.Store(true)
	done := make(chan struct{})
	go func() {
		p.waitQuiet(context.Background())
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the refill went ahead while the machine was busy")
	case <-time.After(100 * time.Millisecond):
	}
	busy.Store(false)
	freed.Signal()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the refill still waited once the machine was quiet")
	}

	// With nothing running it does not wait.
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

// TestAdd: a key added after Start (a language whose image arrived) gets
// its refiller and hands out its items; the pool stays warmed up while the
// new key fills; adding it twice, or after Close, starts nothing more, and
// Close destroys what the added key holds.
func TestAdd(t *testing.T) {
	var mu sync.Mutex
	made := map[string][]*item{}
	cfg := config(1, time.Minute, nil)
	gate := make(chan struct{})
	cfg.Make = func(_ context.Context, key string) (*item, error) {
		if key == "ruby" {
			<-gate // ruby's first item waits until the test lets it go
		}
		i := &item{name: key, created: time.Now(), usable: true}
		mu.Lock()
		made[key] = append(made[key], i)
		mu.Unlock()
		return i, nil
	}
	p := Start(cfg)
	waitFull(t, p, 1)
	if _, ok := p.Take("ruby"); ok {
		t.Fatal("an item of a key the pool does not have")
	}
	p.Add("ruby")
	p.Add("ruby")
	if err := p.WarmedUp(); err != nil {
		t.Fatalf("a key added later holds up the warm-up: %v", err)
	}
	if lv := p.Levels(); len(lv) != 2 || lv["ruby"] != 0 {
		t.Fatalf("levels %v, want python and an empty ruby", lv)
	}
	close(gate)
	for deadline := time.Now().Add(time.Minute); p.Levels()["ruby"] < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the added key was never filled")
		}
	}
	got, ok := p.Take("ruby")
	if !ok || got.name != "ruby" {
		t.Fatalf("Take(ruby) = %v, %v", got, ok)
	}
	waitFull(t, p, 1)
	for deadline := time.Now().Add(time.Minute); p.Levels()["ruby"] < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the added key was not refilled")
		}
	}
	p.Close()
	p.Add("php")
	if _, ok := p.Levels()["php"]; ok {
		t.Error("a key was added to a closed pool")
	}
	mu.Lock()
	defer mu.Unlock()
	// One refiller: the item taken, the one that refilled the pool, and
	// perhaps one more it made while the pool was full.
	if n := len(made["ruby"]); n < 2 || n > 3 {
		t.Errorf("ruby made %d items, want 2 or 3 (one refiller, Size 1)", n)
	}
	for _, i := range made["ruby"] {
		if i != got && !i.destroyed.Load() {
			t.Error("an idle item of the added key survived Close")
		}
	}
}
