package sandbox

import (
	"os/exec"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"
)

// kernelHasPidfdExit reports whether the running kernel is 6.15 or later,
// where PIDFD_GET_INFO reports an exit status.
func kernelHasPidfdExit(t *testing.T) bool {
	ok, err := KernelHasPidfdExit()
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// child starts script in a shell and returns the command, not yet waited
// for, and a pidfd of it.
func child(t *testing.T, script string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("pidfd_open: %v", err)
	}
	t.Cleanup(func() { unix.Close(pidfd) })
	return cmd, pidfd
}

// expectNone fails if exits delivers a status within a short while.
func expectNone(t *testing.T, exits <-chan client.ExitStatus, why string) {
	t.Helper()
	select {
	case st := <-exits:
		t.Fatalf("%s, yet an exit status came: %d", why, st.ExitCode())
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWatchExit(t *testing.T) {
	if !kernelHasPidfdExit(t) {
		cmd, pidfd := child(t, "exit 7")
		exits, stop := watchExit(pidfd)
		defer stop()
		cmd.Wait()
		expectNone(t, exits, "a kernel before 6.15 has no exit status for a pidfd")
		t.Skip("kernel before 6.15: no exit status through the pidfd; run waits for containerd's")
	}
	cases := []struct {
		script string
		want   uint32
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -KILL $$", 128 + 9},
		{"kill -SEGV $$", 128 + 11},
	}
	for _, c := range cases {
		t.Run(c.script, func(t *testing.T) {
			cmd, pidfd := child(t, c.script)
			exits, stop := watchExit(pidfd)
			defer stop()
			cmd.Wait() // the shim reaps the init as soon as it exits
			select {
			case st := <-exits:
				if st.Error() != nil || st.ExitCode() != c.want {
					t.Fatalf("exit status %d (%v), want %d", st.ExitCode(), st.Error(), c.want)
				}
				if st.ExitTime().IsZero() {
					t.Fatal("no exit time")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no exit status through the pidfd")
			}
		})
	}

	t.Run("not reaped yet", func(t *testing.T) {
		// The kernel records the status when the parent reaps the
		// process, and wakes the pidfd's pollers again then.
		cmd, pidfd := child(t, "exit 3")
		exits, stop := watchExit(pidfd)
		defer stop()
		for deadline := time.Now().Add(30 * time.Second); !pidfdExited(pidfd); {
			if time.Now().After(deadline) {
				t.Fatal("the process did not exit")
			}
			time.Sleep(time.Millisecond)
		}
		expectNone(t, exits, "the process is a zombie")
		cmd.Wait()
		select {
		case st := <-exits:
			if st.ExitCode() != 3 {
				t.Fatalf("exit status %d, want 3", st.ExitCode())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no exit status once the process was reaped")
		}
	})

	t.Run("running process", func(t *testing.T) {
		cmd, pidfd := child(t, "exec sleep 1000")
		exits, stop := watchExit(pidfd)
		expectNone(t, exits, "the process runs")
		if code, ok := pidfdExitStatus(pidfd); ok {
			t.Fatalf("a running process has exit status %d", code)
		}
		stop() // the watch ends without a status
		cmd.Process.Kill()
		cmd.Wait()
		expectNone(t, exits, "the watch was stopped")
	})
}
