// Package shimwrap is the logic of codeexec-shim, the binary the service
// names to containerd as its runtime in place of containerd's runc shim
// (containerd-shim-runc-v2). The wrapper hands every call to the real shim
// (exec, same arguments) except one: the "delete" action for a task the
// real shim has already deleted.
//
// Why it exists: containerd 2.x runs the shim binary's "delete" action each
// time it closes its connection to a task's shim, on purpose or not
// (core/runtime/v2: shim.Delete closes the ttrpc client, whose on-close
// callback runs cleanupAfterDeadShim, which execs "<shim> delete"). For a
// sandbox that joined a shim host that happens after every task delete,
// although the shared shim has already removed the task: the action then
// starts a 21 MB Go program which runs "<runtime> delete --force" on a
// container the runtime no longer knows, finds nothing to unmount, and
// prints the exit status the shim recorded. That costs about 19 ms of CPU
// per sandbox on the 2-core machines of docs/benchmark.md, for nothing.
//
// The wrapper answers that case itself, with the same reply the real
// action would print, and only when every step of the real action is a
// no-op: the runtime keeps no state for the container, nothing is mounted
// at or under the bundle's rootfs, and the bundle holds a valid recorded
// exit status. Any other case (a shim that really died, an old bundle) goes
// to the real shim unchanged.
package shimwrap

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// RealShim is the binary the wrapper stands in for: the shim of
// containerd's runtime "io.containerd.runc.v2".
const RealShim = "containerd-shim-runc-v2"

// DefaultRuntimeRoot is the runc shim's state root of the OCI runtime when
// its options name none (process.RuncRoot in the shim's source).
const DefaultRuntimeRoot = "/run/containerd/runc"

// Invocation is what containerd passed on the command line: flags, then
// the action ("start", "delete"), as core/runtime/v2's command builds it.
type Invocation struct {
	Namespace     string
	ID            string
	Bundle        string // -bundle; "" when containerd passed none
	PublishBinary string // containerd's own executable
	Action        string
}

// Parse reads the shim's command line (without the program name). Flags
// it does not know are skipped with their value when they take one.
func Parse(args []string) Invocation {
	var inv Invocation
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			inv.Action = a
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var dst *string
		switch name {
		case "namespace":
			dst = &inv.Namespace
		case "id":
			dst = &inv.ID
		case "bundle":
			dst = &inv.Bundle
		case "publish-binary":
			dst = &inv.PublishBinary
		case "address":
			dst = new(string)
		default:
			// Boolean flags (-debug, -v, -info) take no value.
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		*dst = value
	}
	return inv
}

// Delete returns the reply of the real shim's "delete" action when that
// action would change nothing, and false otherwise: then the caller must
// run the real shim. cwd is the working directory containerd gave the
// action (the task's bundle); mountinfo is the content of
// /proc/self/mountinfo.
func Delete(inv Invocation, cwd string, mountinfo io.Reader) ([]byte, bool) {
	if inv.Action != "delete" || inv.Namespace == "" || inv.ID == "" || strings.Contains(inv.ID, "/") {
		return nil, false
	}
	// The real action's bundle path (manager.Stop in the runc shim).
	bundle := filepath.Join(filepath.Dir(cwd), inv.ID)
	root, err := runtimeRoot(bundle)
	if err != nil {
		return nil, false
	}
	// "<runtime> delete --force" has something to do while the runtime
	// keeps state for the container.
	if _, err := os.Lstat(filepath.Join(root, inv.Namespace, inv.ID)); !errors.Is(err, os.ErrNotExist) {
		return nil, false
	}
	// So has the unmount, while anything is mounted at or under rootfs.
	mounted, err := mountedUnder(mountinfo, filepath.Join(bundle, "rootfs"))
	if err != nil || mounted {
		return nil, false
	}
	exit, err := readExit(bundle)
	if err != nil {
		return nil, false
	}
	return exit.response(), true
}

// runtimeRoot is the OCI runtime's state root the shim used for bundle:
// the "root" of the shim options containerd stored in the bundle, or the
// shim's default.
func runtimeRoot(bundle string) (string, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "options.json"))
	if errors.Is(err, os.ErrNotExist) {
		return DefaultRuntimeRoot, nil
	}
	if err != nil {
		return "", err
	}
	var opts struct {
		Root string `json:"root"`
	}
	if err := json.Unmarshal(b, &opts); err != nil {
		return "", err
	}
	if opts.Root == "" {
		return DefaultRuntimeRoot, nil
	}
	return opts.Root, nil
}

// mountedUnder reports whether a mount point of mountinfo is dir or lies
// under it. Mount points are the fifth field, with spaces and other
// characters escaped as octal (proc_pid_mountinfo(5)).
func mountedUnder(mountinfo io.Reader, dir string) (bool, error) {
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			return false, fmt.Errorf("mountinfo line %q", sc.Text())
		}
		mp := unescapeOctal(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeOctal undoes the kernel's \NNN escapes of mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// exitRecord is the exit status the runc shim records in the bundle
// (exit.json, go-runc's Exit as JSON).
type exitRecord struct {
	Timestamp time.Time `json:"timestamp"`
	Pid       int       `json:"pid"`
	Status    int       `json:"status"`
}

// readExit reads the bundle's exit record, and rejects what the shim's
// own reader rejects (ReadExitStatus in the runc shim).
func readExit(bundle string) (exitRecord, error) {
	var e exitRecord
	b, err := os.ReadFile(filepath.Join(bundle, "exit.json"))
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, err
	}
	if e.Pid <= 0 || e.Timestamp.IsZero() || e.Status < 0 || e.Pid > 1<<32-1 || e.Status > 1<<32-1 {
		return e, fmt.Errorf("invalid exit record %+v", e)
	}
	return e, nil
}

// response encodes e as the shim API's DeleteResponse (containerd's
// api/runtime/task/v3/shim.proto: pid = 1, exit_status = 2,
// exited_at = 3, a google.protobuf.Timestamp of seconds = 1, nanos = 2).
func (e exitRecord) response() []byte {
	var ts []byte
	if s := e.Timestamp.Unix(); s != 0 {
		ts = protowire.AppendTag(ts, 1, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(s))
	}
	if n := e.Timestamp.Nanosecond(); n != 0 {
		ts = protowire.AppendTag(ts, 2, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(n))
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(e.Pid))
	if e.Status != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.Status))
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	return b
}

// FindRealShim returns the path of the real shim: next to containerd's
// executable (inv.PublishBinary), where containerd looks first, else the
// first on PATH that is not self.
func FindRealShim(inv Invocation, self string) (string, error) {
	var dirs []string
	if inv.PublishBinary != "" {
		dirs = append(dirs, filepath.Dir(inv.PublishBinary))
	}
	dirs = append(dirs, filepath.SplitList(os.Getenv("PATH"))...)
	selfInfo, _ := os.Stat(self)
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, RealShim)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		if selfInfo != nil && os.SameFile(fi, selfInfo) {
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("%s not found next to containerd or on PATH", RealShim)
}
