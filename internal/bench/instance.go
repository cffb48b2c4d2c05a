package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/bench/method"
	"github.com/codeexec/codeexec/internal/runner"
)

// instanceConfig says how to start one service instance.
type instanceConfig struct {
	name      string // "cold" or "warm"
	binary    string // the codeexec binary
	socket    string
	namespace string
	stateDir  string   // of the instance's own, so that start-up reconcile and leftovers are its alone
	args      []string // further serve flags, e.g. --pool-size 4
	logPath   string   // the instance's stderr goes here
}

// instance is a `codeexec serve` process started by the benchmark.
type instance struct {
	cfg  instanceConfig
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited; err is set then
	err  error
	log  *os.File
}

// serveArgs is the serve command line of c on addr. The rate limiter is off:
// the benchmark sends far more than a client may.
func (c instanceConfig) serveArgs(addr string) []string {
	args := []string{"serve", "--addr", addr, "--containerd-socket", c.socket,
		"--namespace", c.namespace, "--state-dir", c.stateDir, "--rate-limit", "0"}
	return append(args, c.args...)
}

// startInstance starts the service and returns once GET /readyz answers 200.
// The process is not tied to ctx: stop ends it gracefully.
func startInstance(ctx context.Context, c instanceConfig) (*instance, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.binary, c.serveArgs(addr)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s instance: %w", c.name, err)
	}
	in := &instance{cfg: c, url: "http://" + addr, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() {
		in.err = cmd.Wait()
		close(in.done)
	}()
	if err := in.waitHealthy(ctx, 2*time.Minute); err != nil {
		_ = in.stop(10 * time.Second)
		return nil, err
	}
	return in, nil
}

// waitHealthy polls GET /readyz until it answers 200, the process exits, or
// timeout passes.
func (in *instance) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		// Ready: containerd answers, the images are there and the warm
		// pool was filled once; measuring earlier would measure the fill.
		resp, err := client.Get(in.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.done:
			return fmt.Errorf("%s instance exited at start-up (%v): %s%s", in.cfg.name, in.err, in.logTail(), flagHint(in.logTail()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s instance: /readyz not ready after %s: %s", in.cfg.name, timeout, in.logTail())
		}
	}
}

// stop sends SIGTERM, which lets in-flight runs finish, and waits up to
// timeout before it kills the process.
func (in *instance) stop(timeout time.Duration) error {
	defer in.log.Close()
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(timeout):
		_ = in.cmd.Process.Kill()
		<-in.done
		return fmt.Errorf("%s instance did not stop within %s of SIGTERM; killed", in.cfg.name, timeout)
	}
	var exit *exec.ExitError
	if in.err != nil && !(errors.As(in.err, &exit) && exit.Exited() && exit.ExitCode() == 0) {
		return fmt.Errorf("%s instance: %w: %s", in.cfg.name, in.err, in.logTail())
	}
	return nil
}

// leftovers lists what the stopped instance left in containerd and on disk.
// Cgroups and processes are listed by namespace, so another user of the same
// namespace shows up there too.
func (in *instance) leftovers() []string {
	cfg := runner.DefaultConfig()
	cfg.Socket, cfg.Namespace, cfg.StateDir = in.cfg.socket, in.cfg.namespace, in.cfg.stateDir
	left, err := runner.Leftovers(cfg)
	if err != nil {
		return []string{"cannot check: " + err.Error()}
	}
	return left
}

// logTail returns the end of the instance's log.
func (in *instance) logTail() string {
	b, err := os.ReadFile(in.cfg.logPath)
	if err != nil {
		return ""
	}
	return method.Tail(string(b))
}

// flagHint explains the likeliest cause of a service that refuses a flag:
// the warm pool's --pool-size does not exist in every build.
func flagHint(log string) string {
	if !strings.Contains(log, "flag provided but not defined") {
		return ""
	}
	return " (this codeexec binary lacks a flag given in --cold-args, --warm-args or --serve-args; a build without the warm pool has no --pool-size: pass --cold-args= --warm-args= to start both instances on the cold path)"
}

// freeLoopbackAddr returns a loopback address that nothing listens on now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
