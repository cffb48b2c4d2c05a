package runner

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestReconcileKillsOrphanedShims: a shim left serving a sandbox whose
// container is gone (a crash between the shim's start and the container's
// removal) is killed by start-up reconciliation, while a shim of another
// containerd is left alone. The stand-ins are this test binary, sleeping
// under a command line that reads like a shim's (see TestMain).
func TestReconcileKillsOrphanedShims(t *testing.T) {
	r := MustOpenRunner(t, nil)
	orphan, orphanExited := startFakeShim(t, r.cfg.Namespace, r.cfg.Socket)
	other, _ := startFakeShim(t, r.cfg.Namespace, r.cfg.Socket+".other")
	time.Sleep(200 * time.Millisecond) // let both exec, so their command lines are in place

	if got := strings.Join(r.Leftovers(), "\n"); !strings.Contains(got, "shim ") {
		t.Fatalf("the leak check does not report the stand-in shim:\n%s", got)
	}
	if err := r.Reconcile(context.Background()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	select {
	case <-orphanExited:
	case <-time.After(5 * time.Second):
		t.Fatalf("the orphaned shim (pid %d) is still alive 5 s after reconciliation", orphan.Process.Pid)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the shim of another containerd was touched: %v", err)
	}
}

// startFakeShim starts a process whose command line is that of a shim of
// namespace ns and containerd socket address, serving a sandbox that does
// not exist. The channel is closed when it has exited.
func startFakeShim(t *testing.T, ns, address string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-namespace", ns, "-id", uuid.NewString()+"-run", "-address", address)
	cmd.Args[0] = "/usr/bin/containerd-shim-runc-v2"
	cmd.Env = append(os.Environ(), fakeShimEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a stand-in shim: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return cmd, exited
}

// fakeShimEnv makes the test binary a stand-in shim: it sleeps.
const fakeShimEnv = "CODEEXEC_TEST_FAKE_SHIM"

func TestMain(m *testing.M) {
	if os.Getenv(fakeShimEnv) == "1" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
