package runner

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// TestShimHosts checks that sandboxes share the shims of the shim hosts,
// and that a host whose shim dies fails only the runs in its sandboxes,
// which then end at once, and is replaced.
func TestShimHosts(t *testing.T) {
	t.Run("sandboxes run in the shim of their host", func(t *testing.T) {
		r := openPooled(t, 3, func(c *Config) { c.ShimHosts = 1 })
		if r.hosts == nil {
			t.Fatal("no shim hosts: this containerd has no sandbox records")
		}
		// Three pooled Python jobs and a C++ job's two sandboxes, at least
		// five sandboxes, and one shim: the host's.
		shims := shimProcesses(r.cfg)
		if len(shims) != 1 || shims[0].id != r.hosts.ids()[0] {
			t.Fatalf("got shims %+v, want the one of host %v", shims, r.hosts.ids())
		}
		res, err := r.Run(context.Background(), Request{Language: "python", Code: `print("hello world")`})
		if err != nil || res.Status != StatusSuccess || res.Stdout != "hello world\n" || !res.Warm {
			t.Fatalf("got %+v, %v", res, err)
		}
	})

	t.Run("a run whose host's shim dies fails at once and the next run gets a new host", func(t *testing.T) {
		r := MustOpenRunner(t, func(c *Config) { c.ShimHosts = 1 })
		first := r.hosts.ids()
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			res, err := r.Run(context.Background(), Request{Language: "python", Code: "import time\nprint('up', flush=True)\ntime.sleep(30)\n",
				Limits: Limits{Timeout: 8 * time.Second}})
			if err == nil {
				err = errors.New("run ended " + string(res.Status))
			}
			done <- err
		}()
		// Kill the shim once the run's program is up.
		var shim int
		for deadline := time.Now().Add(5 * time.Second); shim == 0; {
			select {
			case err := <-done:
				t.Fatalf("the run ended before its shim was killed: %v", err)
			default:
			}
			for _, p := range sandboxProcesses(r.cfg.Namespace) {
				if strings.Contains(p, "-run (") && strings.Contains(p, "python3") {
					if s := shimProcesses(r.cfg); len(s) == 1 {
						shim = s[0].pid
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the run's program never started: %v, shims %v", sandboxProcesses(r.cfg.Namespace), shimProcesses(r.cfg))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("the run ended with %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("the run ended %s after it started, want well before its 8 s limit", d)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the run did not end after its shim died")
		}
		res, err := r.Run(context.Background(), Request{Language: "python", Code: `print("hello world")`})
		if err != nil || res.Status != StatusSuccess || res.Stdout != "hello world\n" {
			t.Fatalf("the run after the shim died got %+v, %v", res, err)
		}
		// The slot has a new host at once. The dead host is removed once
		// its sandboxes are: containerd may refuse the first deletes of a
		// task whose shim died ("ttrpc: closed"), and the janitor retries
		// them each second.
		r.hosts.mu.Lock()
		slot := r.hosts.slots[0]
		r.hosts.mu.Unlock()
		if slot == nil || slot.id == first[0] {
			t.Fatalf("slot 0 holds %v after the shim of %s died, want a new host", slot, first[0])
		}
		for deadline := time.Now().Add(testtiming.Settle); ; time.Sleep(50 * time.Millisecond) {
			now := r.hosts.ids()
			if len(now) == 1 && now[0] == slot.id {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("hosts before %v, after %v: want only the new host %s", first, now, slot.id)
			}
		}
	})
}
