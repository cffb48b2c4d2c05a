// Package laneagent is the service's side of the lane agent's protocol.
// The lane agent (sandbox/lane/lane.c, built as codeexec-lane) is the init
// of a judge lane's sandbox: it runs as the sandbox's PID 1, as the
// sandbox user, and starts each test the service asks for as a fresh child
// process, instead of the service starting it through containerd, the shim
// and the OCI runtime (task.Exec) at about 25 ms of machine CPU per test
// (docs/judge.md).
//
// Both directions carry frames: a kind byte, a 4-byte big-endian length
// and the payload. The service sends Request frames to the agent's stdin,
// one at a time; the agent answers on its stdout:
//
//	Ready    once, when the agent is ready for requests
//	Started  the test's process runs: 4 bytes, the PID (in the sandbox)
//	         of the forking parent that forked it, 0 when it was exec'd
//	Failed   the test's process could not be started: payload is why
//	Stdout   a chunk of the test's stdout
//	Stderr   a chunk of the test's stderr
//	Exit     the test's first process ended: 8 bytes of wall time in
//	         nanoseconds (from fork to reap), 4 bytes of wait status, 8
//	         bytes of the reap's CLOCK_MONOTONIC time in nanoseconds, 8
//	         bytes of the exit's time by the scheduler's clock (0: unknown)
//	Done     the test's stdout and stderr are closed: every writer is gone
//
// Every request's answer ends with Failed, or with Started, Exit and Done.
// Only then does the agent read the next request.
package laneagent

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Frame kinds.
const (
	RequestFrame byte = 'Q'
	Ready        byte = 'R'
	Started      byte = 'S'
	Failed       byte = 'F'
	Stdout       byte = 'O'
	Stderr       byte = 'E'
	Exit         byte = 'X'
	Done         byte = 'D'
)

// headerLen is a frame's kind byte and length.
const headerLen = 5

// maxFrame bounds a frame's payload, both ways (lane.c's MAX_REQUEST); the
// agent sends output in chunks of 32 KiB.
const maxFrame = 1 << 20

// Request asks the agent to start one test.
type Request struct {
	Args  []string // the command line; Args[0] is looked up in PATH
	Stdin string   // the file the test reads as its stdin
	Dir   string   // its working directory
	// Stdout, when set, is a FIFO the test writes as its stdout (and
	// Stdin is a FIFO too): one side of an interactive test. The test's
	// process opens both itself, stdout first with StdoutFirst, and the
	// agent does not wait for those opens (lane.c's open_fifos).
	Stdout      string
	StdoutFirst bool
	// Fork, when set, is the command of a forking parent (an
	// interpreter's, docs/judge.md): the agent starts it once, keeps it for
	// the next requests that name the same command, and has it fork the
	// test, whose plain command line is still Args (the parent becomes
	// it); when no parent can fork it, the agent execs Args. Not for an
	// interactive test (Stdout set), which is always exec'd. With Fork and
	// no Args, the request only starts the parent, ahead of the tests: its
	// answer is Started (with the parent's PID, 0 when it could not
	// start), an Exit of status 0 and Done.
	Fork []string
}

// Frame encodes r as the agent reads it: a Request frame whose payload is
// Dir, Stdin, Stdout, the flags ("o" for StdoutFirst) and each of Args,
// each ended by a NUL byte.
func (r Request) Frame() ([]byte, error) {
	if len(r.Args) == 0 && len(r.Fork) == 0 {
		return nil, fmt.Errorf("a request needs a command")
	}
	flags := ""
	if r.StdoutFirst {
		flags = "o"
	}
	args := r.Args
	if len(r.Fork) > 0 {
		// The parent's command, an empty string, then the test's.
		flags += "z"
		for _, f := range r.Fork {
			if f == "" {
				return nil, fmt.Errorf("a forking parent's command cannot hold empty strings")
			}
		}
		args = append(append(slices.Clone(r.Fork), ""), r.Args...)
	}
	var p []byte
	for _, f := range append([]string{r.Dir, r.Stdin, r.Stdout, flags}, args...) {
		if strings.IndexByte(f, 0) >= 0 {
			return nil, fmt.Errorf("a request's strings cannot hold NUL bytes")
		}
		p = append(append(p, f...), 0)
	}
	if len(p) > maxFrame {
		return nil, fmt.Errorf("request of %d bytes, over %d", len(p), maxFrame)
	}
	return appendFrame(nil, RequestFrame, p), nil
}

// ExitStatus is what an Exit frame says.
type ExitStatus struct {
	Elapsed time.Duration      // from the fork to the reap, by the agent's clock
	Status  syscall.WaitStatus // as wait4 gave it
	// End is the reap's CLOCK_MONOTONIC time, one clock for every sandbox
	// of the machine (they have no time namespace): which of two programs
	// ended first.
	End time.Duration
	// Exited is when the process exited by the scheduler's clock (its
	// last se.exec_start, read while it was a zombie): unlike End, not
	// late by the agent's own wake-up. 0 when the kernel does not say.
	Exited time.Duration
}

// Code is the status as containerd reports a task's: the exit code, or
// 128 plus the signal that killed the process.
func (e ExitStatus) Code() uint32 {
	if e.Status.Signaled() {
		return 128 + uint32(e.Status.Signal())
	}
	return uint32(e.Status.ExitStatus())
}

func appendFrame(b []byte, kind byte, payload []byte) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func exitPayload(e ExitStatus) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(e.Elapsed))
	b = binary.BigEndian.AppendUint32(b, uint32(e.Status))
	b = binary.BigEndian.AppendUint64(b, uint64(e.End))
	return binary.BigEndian.AppendUint64(b, uint64(e.Exited))
}

// ParseExit reads an Exit frame's payload.
func ParseExit(p []byte) (ExitStatus, error) {
	if len(p) != 28 {
		return ExitStatus{}, fmt.Errorf("exit frame of %d bytes", len(p))
	}
	return ExitStatus{
		Elapsed: time.Duration(binary.BigEndian.Uint64(p)),
		Status:  syscall.WaitStatus(binary.BigEndian.Uint32(p[8:])),
		End:     time.Duration(binary.BigEndian.Uint64(p[12:])),
		Exited:  time.Duration(binary.BigEndian.Uint64(p[20:])),
	}, nil
}

// Decoder turns the agent's stdout back into frames: it is the io.Writer
// the service gives the agent's stdout, and calls Frame for each complete
// frame, in order, from the goroutine that writes to it. A payload is
// valid only during the call.
type Decoder struct {
	Frame func(kind byte, payload []byte)
	buf   []byte
	err   error
}

// Write parses what it is given. After a malformed frame it fails every
// later write.
func (d *Decoder) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	d.buf = append(d.buf, p...)
	for len(d.buf) >= headerLen {
		n := binary.BigEndian.Uint32(d.buf[1:headerLen])
		if n > maxFrame {
			d.err = fmt.Errorf("lane agent frame of %d bytes", n)
			return 0, d.err
		}
		if len(d.buf) < headerLen+int(n) {
			break
		}
		d.Frame(d.buf[0], d.buf[headerLen:headerLen+int(n)])
		d.buf = d.buf[headerLen+int(n):]
	}
	if len(d.buf) == 0 {
		d.buf = nil // let a large buffer go
	}
	return len(p), nil
}

// ParseStarted reads a Started frame's payload: the forking parent's PID
// in the sandbox, 0 for none.
func ParseStarted(p []byte) (int, error) {
	switch len(p) {
	case 0:
		return 0, nil
	case 4:
		return int(binary.BigEndian.Uint32(p)), nil
	}
	return 0, fmt.Errorf("started frame of %d bytes", len(p))
}
