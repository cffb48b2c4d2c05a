package sandbox

import (
	"sync"
	"time"
)

// janitor retries the removal of sandboxes whose teardown failed, most
// often because containerd was down. Their shims keep running meanwhile, so
// a containerd that comes back still knows the tasks, and the janitor
// removes them without waiting for the service's next start-up
// reconciliation.
type janitor struct {
	m      *Manager
	mu     sync.Mutex
	failed []*Sandbox
	stop   chan struct{}
	done   chan struct{}
}

// janitorInterval is how often the janitor retries.
const janitorInterval = time.Second

func (m *Manager) startJanitor() *janitor {
	j := &janitor{m: m, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(j.done)
		t := time.NewTicker(janitorInterval)
		defer t.Stop()
		for {
			select {
			case <-j.stop:
				return
			case <-t.C:
				if j.m.probe() {
					j.retry()
				}
			}
		}
	}()
	return j
}

// Destroy kills and removes p, and hands it to the janitor when that
// fails. What is left when the janitor gives up is removed at the next
// start-up with the same state directory (Reconcile).
func (m *Manager) Destroy(p *Sandbox) {
	if err := p.destroy(); err != nil {
		m.log.Warn("remove sandbox; will retry", "id", p.id, "err", err)
		m.janitor.add(p)
	}
}

func (j *janitor) add(p *Sandbox) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.failed = append(j.failed, p)
}

// pending returns how many sandboxes wait for removal.
func (j *janitor) pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.failed)
}

// retry tries once more to remove each failed sandbox, and reports how
// many are still there.
func (j *janitor) retry() int {
	j.mu.Lock()
	failed := j.failed
	j.failed = nil
	j.mu.Unlock()
	var left []*Sandbox
	for _, p := range failed {
		if err := p.destroy(); err != nil {
			left = append(left, p)
			continue
		}
		j.m.log.Info("removed sandbox on retry", "id", p.id)
	}
	if len(left) < len(failed) {
		// A task whose creation containerd's stop interrupted can leave its
		// shim running with no task containerd knows of: the container's
		// removal succeeds and nobody stops the shim.
		ctx, cancel := j.m.cleanupContext()
		if err := j.m.removeOrphanShims(ctx); err != nil {
			j.m.log.Warn("remove orphaned shims", "err", err)
		}
		cancel()
	}
	j.mu.Lock()
	j.failed = append(j.failed, left...)
	n := len(j.failed)
	j.mu.Unlock()
	return n
}

// close stops the janitor after a last try. What still cannot be removed
// is left to the next start-up's reconciliation.
func (j *janitor) close() {
	close(j.stop)
	<-j.done
	if j.pending() == 0 {
		return
	}
	if !j.m.probe() {
		j.m.log.Error("sandboxes could not be removed: containerd is down; the next start-up will remove them", "count", j.pending())
		return
	}
	if n := j.retry(); n > 0 {
		j.m.log.Error("sandboxes could not be removed; the next start-up will remove them", "count", n)
	}
}
