package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/codeexec/codeexec/internal/runner/leftovers"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/codeexec/codeexec/internal/testtiming"
	"golang.org/x/sys/unix"
)

// TestShimHosts checks that sandboxes share the shims of the shim hosts,
// and that a host whose shim dies fails only the runs in its sandboxes,
// which then end at once, and is replaced.
func TestShimHosts(t *testing.T) {
	t.Run("sandboxes run in the shim of their host", func(t *testing.T) {
		r := openPooled(t, 3, func(c *Config) { c.ShimHosts = 1 })
		if r.sb.ShimHosts() == 0 {
			t.Fatal("no shim hosts: this containerd has no sandbox records")
		}
		// Three pooled Python jobs and a C++ job's two sandboxes, at least
		// five sandboxes, and one shim: the host's.
		shims := sandbox.ShimProcesses(r.cfg.sandbox())
		if len(shims) != 1 || shims[0].ID != r.sb.ShimHostIDs()[0] {
			t.Fatalf("got shims %+v, want the one of host %v", shims, r.sb.ShimHostIDs())
		}
		res, err := r.Run(context.Background(), Request{Language: "python", Code: `print("hello world")`})
		if err != nil || res.Status != StatusSuccess || res.Stdout != "hello world\n" || !res.Warm {
			t.Fatalf("got %+v, %v", res, err)
		}
	})

	t.Run("a run whose host's shim dies fails at once and the next run gets a new host", func(t *testing.T) {
		r := MustOpenRunner(t, func(c *Config) { c.ShimHosts = 1 })
		first := r.sb.ShimHostIDs()
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
			for _, p := range leftovers.SandboxProcesses(r.cfg.Namespace) {
				if strings.Contains(p, "-run (") && strings.Contains(p, "python3") {
					if s := sandbox.ShimProcesses(r.cfg.sandbox()); len(s) == 1 {
						shim = s[0].PID
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the run's program never started: %v, shims %v", leftovers.SandboxProcesses(r.cfg.Namespace), sandbox.ShimProcesses(r.cfg.sandbox()))
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
		hosts := slices.DeleteFunc(r.sb.ShimHostIDs(), func(id string) bool { return id == first[0] })
		if len(hosts) != 1 {
			t.Fatalf("hosts %v after the shim of %s died, want one new host", hosts, first[0])
		}
		for deadline := time.Now().Add(testtiming.Settle); ; time.Sleep(50 * time.Millisecond) {
			now := r.sb.ShimHostIDs()
			if len(now) == 1 && now[0] == hosts[0] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("hosts before %v, after %v: want only the new host %s", first, now, hosts[0])
			}
		}
	})
	t.Run("with the shim wrapper, removing a sandbox runs the shim binary no more", func(t *testing.T) {
		// Each exec of the real shim binary opens it, which inotify
		// reports. Without the wrapper containerd 2.x runs "<shim> delete"
		// for every sandbox it removes; with it, none of those runs: the
		// shim hosts' own shim was started before the count begins.
		const runs = 4
		for _, wrapped := range []bool{false, true} {
			r := MustOpenRunner(t, func(c *Config) {
				c.ShimHosts = 1
				if !wrapped {
					c.ShimWrapper = ""
				}
			})
			if got := r.Stack().ShimWrapper; got != wrapped {
				t.Fatalf("Stack().ShimWrapper = %v, want %v", got, wrapped)
			}
			// The shim of this runner's host (an earlier runner's is
			// still up).
			shims := slices.DeleteFunc(sandbox.ShimProcesses(r.cfg.sandbox()), func(s sandbox.Shim) bool { return !slices.Contains(r.sb.ShimHostIDs(), s.ID) })
			if len(shims) != 1 {
				t.Fatalf("shims %+v, want the host's", shims)
			}
			execs := watchOpens(t, fmt.Sprintf("/proc/%d/exe", shims[0].PID))
			for range runs {
				res, err := r.Run(context.Background(), Request{Language: "python", Code: `print("hello world")`})
				if err != nil || res.Status != StatusSuccess || res.Stdout != "hello world\n" {
					t.Fatalf("got %+v, %v", res, err)
				}
			}
			r.Wait() // every run's teardown is done
			n := execs()
			switch {
			case wrapped && n != 0:
				t.Errorf("with the wrapper the shim binary was opened %d times for %d runs, want 0", n, runs)
			case !wrapped && n < runs:
				t.Errorf("without the wrapper the shim binary was opened %d times for %d runs, want one per run at least: the count does not see the execs", n, runs)
			}
		}
	})
}

// watchOpens starts counting the opens of the file that path resolves to;
// the function it returns reports the count so far.
func watchOpens(t *testing.T, path string) func() int {
	t.Helper()
	target, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, target, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	n := 0
	return func() int {
		buf := make([]byte, 64<<10)
		for {
			k, err := unix.Read(fd, buf)
			if err != nil || k <= 0 {
				return n
			}
			for off := 0; off+unix.SizeofInotifyEvent <= k; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				if ev.Mask&unix.IN_OPEN != 0 {
					n++
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}
