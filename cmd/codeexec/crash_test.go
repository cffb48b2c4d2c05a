package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/runner/runnertest"
)

// serviceProcess is `codeexec serve` in a child process, so that a test can
// kill it with SIGKILL as a crash would.
type serviceProcess struct {
	cmd *exec.Cmd
	url string
}

func startServiceProcess(t *testing.T, cfg runner.Config, args ...string) *serviceProcess {
	t.Helper()
	return startServiceProcessTo(t, cfg, os.Stderr, args...)
}

// startServiceProcessTo is startServiceProcess with the service's log
// written to stderr.
func startServiceProcessTo(t *testing.T, cfg runner.Config, stderr io.Writer, args ...string) *serviceProcess {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", addr, "--containerd-socket", cfg.Socket,
		"--namespace", cfg.Namespace, "--state-dir", cfg.StateDir, "--lane-agent", cfg.LaneAgent, "--pool-size", "1", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), runAsMainEnv+"=1")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serviceProcess{cmd: cmd, url: "http://" + addr}
	t.Cleanup(func() { p.stop(t) })
	holdToContract(t, p.url)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("service process not ready after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process gracefully, if it still runs.
func (p *serviceProcess) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("service process exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Error("service process ignored SIGTERM for 60s")
	}
}

func (p *serviceProcess) crash(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// TestCrashAndRestartLeavesNothing kills the service with SIGKILL in the
// middle of a run and of a compile, and shows that what the crash left
// (containers, snapshots, shims' processes, job and FIFO directories, the
// warm pool) is gone once the service has started again.
func TestCrashAndRestartLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		inFlight   string // a process command line that shows the phase is under way
	}{
		{"killed mid-run", `{"language":"python","code":"import os\nos.execvp('sleep', ['sleep', '60'])"}`, "sleep 60"},
		{"killed mid-compile", `{"language":"cpp","code":"constexpr long f(){ long s = 0; for (long i = 0; i < 2000000000; i++) s += i; return s; }\nstatic_assert(f() > 0);\nint main(){}"}`, "cc1plus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runnertest.Config(t)
			svc := startServiceProcess(t, cfg)
			go func() {
				resp, err := http.Post(svc.url+"/run", "application/json", strings.NewReader(tc.body))
				if err == nil {
					resp.Body.Close()
				}
			}()
			// Wait until the phase is under way: its process is alive.
			deadline := time.Now().Add(30 * time.Second)
			for !hasProcessOf(t, cfg, tc.inFlight) {
				if time.Now().After(deadline) {
					t.Fatal("the run never started")
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			svc.crash(t)

			left, err := runner.Leftovers(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !containsAll(strings.Join(left, "\n"), "container ", "snapshot ", "process ", "file ") {
				t.Fatalf("the crash left too little to prove anything:\n%s", strings.Join(left, "\n"))
			}

			startServiceProcess(t, cfg).stop(t)
			runnertest.AssertNothingLeftBy(t, cfg)
		})
	}
}

// hasProcessOf reports whether a sandbox process of cfg's namespace has
// cmdline in its command line.
func hasProcessOf(t *testing.T, cfg runner.Config, cmdline string) bool {
	left, err := runner.Leftovers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if strings.HasPrefix(l, "process ") && strings.Contains(l, cmdline) {
			return true
		}
	}
	return false
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
