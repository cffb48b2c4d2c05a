package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"
)

// The exit of a sandbox's init straight from the kernel.
//
// containerd learns a task's exit from its shim: the shim reaps the init,
// then records the status in the bundle (with an fsync), reads the bundle's
// spec to decide whether to kill the rest, and publishes the event to
// containerd, which passes it to the service. On an idle 2-core machine
// that is 1 to 3 ms after the reap; on a busy one, more. Since Linux 6.15
// the holder of a pidfd can read the exit status of its process itself
// once the parent has reaped it (PIDFD_GET_INFO with PIDFD_INFO_EXIT,
// include/uapi/linux/pidfd.h; the kernel records it in release_task and
// wakes the pidfd's pollers then). run takes whichever arrives first, the
// kernel's or containerd's: both are the status the kernel gave the shim,
// so the verdict is the same. containerd's still arrives, and teardown
// waits for it before it deletes the task. Older kernels answer the ioctl
// without the exit, and the service waits for containerd as before.

// pidfdExitStatus returns the exit status of pidfd's process in containerd's
// terms (the exit code, or 128+N for a process killed by signal N, as the
// shim reports it), and false until its parent has reaped it or when the
// kernel cannot tell (before Linux 6.15).
func pidfdExitStatus(pidfd int) (uint32, bool) {
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
	if err := unix.IoctlPidfdInfo(pidfd, &info); err != nil || info.Mask&unix.PIDFD_INFO_EXIT == 0 {
		return 0, false
	}
	ws := unix.WaitStatus(info.Exit_code)
	switch {
	case ws.Exited():
		return uint32(ws.ExitStatus()), true
	case ws.Signaled():
		return 128 + uint32(ws.Signal()), true
	}
	return 0, false
}

// watchExit delivers the exit status of pidfd's process on the returned
// channel as soon as the kernel has it, through the runtime's poller (the
// kernel wakes a pidfd's pollers when its process exits and again when it
// is reaped). It delivers nothing when pidfd is -1 or the kernel cannot
// tell the status. stop ends the watch; it must be called.
func watchExit(pidfd int) (exits <-chan client.ExitStatus, stop func()) {
	none := func() {}
	if pidfd < 0 {
		return nil, none
	}
	dup, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, none
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, none
	}
	f := os.NewFile(uintptr(dup), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, none
	}
	ch := make(chan client.ExitStatus, 1)
	go func() {
		var code uint32
		var ok bool
		// Read calls the func again each time the poller says the pidfd is
		// readable; it returns an error once stop closes the file.
		err := rc.Read(func(fd uintptr) bool {
			code, ok = pidfdExitStatus(int(fd))
			return ok
		})
		if err == nil && ok {
			ch <- *client.NewExitStatus(code, time.Now(), nil)
		}
	}()
	return ch, func() { f.Close() }
}

// pidfdExited reports, without blocking, whether the process of pidfd has
// exited.
func pidfdExited(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// KernelHasPidfdExit reports whether the running kernel is 6.15 or later,
// where PIDFD_GET_INFO reports an exit status.
func KernelHasPidfdExit() (bool, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false, err
	}
	release := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false, fmt.Errorf("kernel release %q", release)
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major > 6 || major == 6 && minor >= 15, nil
}
