package shimwrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	task "github.com/containerd/containerd/api/runtime/task/v3"
	"google.golang.org/protobuf/proto"
)

// deleteArgs is the command line containerd 2.4 gives the shim's delete
// action (core/runtime/v2/command.go), without the program name.
func deleteArgs(ns, id, bundle string) []string {
	return []string{"-namespace", ns, "-address", "/run/containerd/containerd.sock",
		"-publish-binary", "/usr/bin/containerd", "-id", id, "-bundle", bundle, "-debug", "delete"}
}

func TestParse(t *testing.T) {
	got := Parse(deleteArgs("ns1", "abc-run", "/state/ns1/abc-run"))
	want := Invocation{Namespace: "ns1", ID: "abc-run", Bundle: "/state/ns1/abc-run", PublishBinary: "/usr/bin/containerd", Action: "delete"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	got = Parse([]string{"-namespace=ns2", "-id=x", "-v"})
	if got.Namespace != "ns2" || got.ID != "x" || got.Action != "" {
		t.Errorf("flags with '=' and no action: got %+v", got)
	}
}

// fixture is a task bundle whose runtime keeps its state under root.
type fixture struct {
	bundle, root, ns, id string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{bundle: filepath.Join(dir, "state", "ns1", "abc-run"), root: filepath.Join(dir, "runtime"), ns: "ns1", id: "abc-run"}
	for _, d := range []string{filepath.Join(f.bundle, "rootfs"), f.root} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	f.write(t, "options.json", `{"binary_name":"crun","root":"`+f.root+`"}`)
	f.write(t, "exit.json", `{"timestamp":"2026-12-03T22:29:37.589877765Z","pid":4242,"status":137}`)
	return f
}

func (f fixture) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.bundle, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) delete(mountinfo string) ([]byte, bool) {
	return Delete(Parse(deleteArgs(f.ns, f.id, f.bundle)), f.bundle, strings.NewReader(mountinfo))
}

const hostMounts = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw
`

func TestDeleteAnswersForATaskTheShimRemoved(t *testing.T) {
	f := newFixture(t)
	reply, ok := f.delete(hostMounts)
	if !ok {
		t.Fatal("the wrapper passed on a delete with nothing left to do")
	}
	// The reply must decode, with containerd's own type, to what the real
	// shim prints: the recorded exit.
	var got task.DeleteResponse
	if err := proto.Unmarshal(reply, &got); err != nil {
		t.Fatalf("reply does not decode as a DeleteResponse: %v", err)
	}
	want := time.Date(2026, 12, 3, 22, 29, 37, 589877765, time.UTC)
	if got.Pid != 4242 || got.ExitStatus != 137 || !got.ExitedAt.AsTime().Equal(want) {
		t.Errorf("got pid %d status %d at %v, want 4242 137 %v", got.Pid, got.ExitStatus, got.ExitedAt.AsTime(), want)
	}
	// proto3 leaves a zero status out; the decoded value must still be 0.
	f.write(t, "exit.json", `{"timestamp":"2026-12-03T22:29:37Z","pid":7,"status":0}`)
	reply, ok = f.delete(hostMounts)
	if err := proto.Unmarshal(reply, &got); !ok || err != nil || got.Pid != 7 || got.ExitStatus != 0 || got.ExitedAt.AsTime().Unix() != want.Unix() {
		t.Errorf("status 0: ok %v err %v, got %+v", ok, err, &got)
	}
}

func TestDeletePassesOnWhenTheRealActionHasWork(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, f *fixture)
		mountinfo string
	}{
		{name: "the runtime still keeps state for the container", setup: func(t *testing.T, f *fixture) {
			if err := os.MkdirAll(filepath.Join(f.root, f.ns, f.id), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the rootfs is a mount point", mountinfo: "99 22 0:50 / {rootfs} rw - overlay overlay rw\n"},
		{name: "something is mounted under the rootfs", mountinfo: "99 22 0:50 / {rootfs}/proc rw - proc proc rw\n"},
		{name: "the mount point is escaped in mountinfo", setup: func(t *testing.T, f *fixture) {
			f.bundle = filepath.Join(filepath.Dir(f.bundle), "a b")
			f.id = "a b"
			if err := os.MkdirAll(filepath.Join(f.bundle, "rootfs"), 0o700); err != nil {
				t.Fatal(err)
			}
			f.write(t, "exit.json", `{"timestamp":"2026-12-03T22:29:37Z","pid":7,"status":0}`)
		}, mountinfo: "99 22 0:50 / {rootfs-escaped} rw - overlay overlay rw\n"},
		{name: "no exit was recorded", setup: func(t *testing.T, f *fixture) {
			os.Remove(filepath.Join(f.bundle, "exit.json"))
		}},
		{name: "the recorded exit has no pid", setup: func(t *testing.T, f *fixture) {
			f.write(t, "exit.json", `{"timestamp":"2026-12-03T22:29:37Z","pid":0,"status":0}`)
		}},
		{name: "the shim options do not parse", setup: func(t *testing.T, f *fixture) {
			f.write(t, "options.json", `{`)
		}},
		{name: "the action is not delete", setup: func(t *testing.T, f *fixture) {
			f.id = ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(t, &f)
			}
			rootfs := filepath.Join(f.bundle, "rootfs")
			mi := strings.NewReplacer("{rootfs-escaped}", strings.ReplaceAll(rootfs, " ", `\040`), "{rootfs}", rootfs).Replace(hostMounts + tc.mountinfo)
			if _, ok := f.delete(mi); ok {
				t.Error("the wrapper answered a delete the real shim has work for")
			}
		})
	}
	// The default root applies when the options name none.
	f := newFixture(t)
	f.write(t, "options.json", `{"binary_name":"crun"}`)
	if got, err := runtimeRoot(f.bundle); err != nil || got != DefaultRuntimeRoot {
		t.Errorf("runtimeRoot without root = %q, %v; want %q", got, err, DefaultRuntimeRoot)
	}
	os.Remove(filepath.Join(f.bundle, "options.json"))
	if got, err := runtimeRoot(f.bundle); err != nil || got != DefaultRuntimeRoot {
		t.Errorf("runtimeRoot without options = %q, %v; want %q", got, err, DefaultRuntimeRoot)
	}
	if inv := Parse([]string{"-namespace", "ns1", "-id", "abc-run", "start"}); inv.Action != "start" {
		t.Fatalf("action %q", inv.Action)
	} else if _, ok := Delete(inv, f.bundle, strings.NewReader(hostMounts)); ok {
		t.Error("the wrapper answered a start")
	}
}

func TestFindRealShim(t *testing.T) {
	dir := t.TempDir()
	containerdDir, pathDir := filepath.Join(dir, "containerd"), filepath.Join(dir, "path")
	for _, d := range []string{containerdDir, pathDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(p string) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	onPath := filepath.Join(pathDir, RealShim)
	mk(onPath)
	t.Setenv("PATH", pathDir)
	inv := Invocation{PublishBinary: filepath.Join(containerdDir, "containerd")}
	if got, err := FindRealShim(inv, "/nonexistent"); err != nil || got != onPath {
		t.Errorf("got %q, %v; want the one on PATH %q", got, err, onPath)
	}
	nextTo := filepath.Join(containerdDir, RealShim)
	mk(nextTo)
	if got, err := FindRealShim(inv, "/nonexistent"); err != nil || got != nextTo {
		t.Errorf("got %q, %v; want the one next to containerd %q", got, err, nextTo)
	}
	// The wrapper installed under the real shim's name is skipped.
	if got, err := FindRealShim(inv, nextTo); err != nil || got != onPath {
		t.Errorf("self: got %q, %v; want %q", got, err, onPath)
	}
	if _, err := FindRealShim(Invocation{}, onPath); err == nil {
		t.Error("found a shim where only self is")
	}
}
