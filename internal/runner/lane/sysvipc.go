package lane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// removeSysVIPC removes every System V IPC object (shared memory segment,
// semaphore set, message queue) of the IPC namespace of process pid, as
// `ipcrm --all` run there would, without starting a process: a thread of
// its own enters that namespace (setns of an IPC namespace is allowed in a
// multi-threaded process), lists the objects from /proc/sysvipc, which
// shows the namespace of the thread that reads it, and removes each with
// IPC_RMID. The thread is never returned to the Go scheduler: it exits,
// still in the sandbox's namespace, with its goroutine.
func removeSysVIPC(pid int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: see above.
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/ipc", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open IPC namespace: %w", err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWIPC)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("enter IPC namespace: %w", err)
			return
		}
		errc <- removeIPCObjects()
	}()
	return <-errc
}

// removeIPCObjects removes the System V IPC objects of the calling
// thread's IPC namespace.
func removeIPCObjects() error {
	var errs []error
	for _, kind := range []struct {
		file string
		rm   func(id int) error
	}{
		{"shm", func(id int) error { _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); return err }},
		{"sem", func(id int) error {
			_, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, unix.IPC_RMID, 0, 0, 0)
			return errnoErr(e)
		}},
		{"msg", func(id int) error {
			_, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), unix.IPC_RMID, 0)
			return errnoErr(e)
		}},
	} {
		b, err := os.ReadFile("/proc/sysvipc/" + kind.file)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", kind.file, err))
			continue
		}
		for _, id := range sysvipcIDs(b) {
			// Gone already (EINVAL, EIDRM) is what was wanted.
			if err := kind.rm(id); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
				errs = append(errs, fmt.Errorf("remove %s %d: %w", kind.file, id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// sysvipcIDs returns the IDs, the second column, of a /proc/sysvipc file
// (its first line is a header).
func sysvipcIDs(b []byte) []int {
	var ids []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 2 {
			continue
		}
		if id, err := strconv.Atoi(f[1]); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
