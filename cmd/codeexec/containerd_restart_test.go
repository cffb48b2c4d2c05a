package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"

	"github.com/codeexec/codeexec/internal/api"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/runner/runnertest"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// pythonArchive is the OCI archive scripts/images.sh builds for Python.
const pythonArchive = "/var/cache/codeexec/images/python.tar"

// TestContainerdRestartServiceRecovers stops containerd under a running
// service and starts it again (issue 3, "Crashes and faults"): while it is
// down, requests get a prompt 503 that says so and /readyz reports it; once
// it is back, the same service runs programs again, and nothing is left
// behind. The containerd is a private one the test starts, so stopping it
// disturbs nobody else.
func TestContainerdRestartServiceRecovers(t *testing.T) {
	cd := startPrivateContainerd(t)
	for i, tc := range []struct {
		name     string
		poolSize int
		inFlight bool
	}{
		{"while idle, with no warm pool", 0, false},
		{"while idle, with a warm pool of one", 1, false},
		{"in the middle of a run", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A namespace per case, so that what one leaves (its cgroups,
			// its processes) is not reported against the next.
			ns := cd.namespace(i)
			cd.importImage(t, ns, "localhost/codeexec/python", pythonArchive)
			testContainerdRestart(t, cd, ns, tc.poolSize, tc.inFlight)
		})
	}
}

// testContainerdRestart runs a program, stops containerd (when inFlight, in
// the middle of a second program), checks the 503s, restarts containerd,
// waits for a 200, and checks that nothing is left.
func testContainerdRestart(t *testing.T, cd *privateContainerd, ns string, poolSize int, inFlight bool) {
	var (
		// A request while containerd is down. At worst one waits for one
		// attempt to dial containerd (1 s); once the runner's probe has
		// seen containerd gone, the answer is immediate.
		maxDownAnswer = testtiming.Scaled(2 * time.Second)
		maxRecovery   = testtiming.Scaled(15 * time.Second) // from containerd's restart to a 200
	)
	cfg := runner.DefaultConfig()
	cfg.Socket = cd.socket
	cfg.Namespace = ns
	cfg.StateDir = t.TempDir()
	cfg.Languages = map[string]runner.Language{"python": runner.DefaultLanguages()["python"]}
	cfg.PoolSize = poolSize
	r, err := runner.New(context.Background(), cfg, runnertest.Logger())
	if err != nil {
		t.Fatalf("open runner: %v", err)
	}
	acfg := api.DefaultConfig()
	acfg.Languages = []string{"python"}
	acfg.RateLimit = 0
	srv := httptest.NewServer(api.NewHandler(r, acfg, runnertest.Logger()))
	closed := false
	closeService := func() {
		if !closed {
			closed = true
			srv.Close()
			r.Close()
		}
	}
	t.Cleanup(func() {
		cd.ensureRunning(t) // a failure half-way must not leave the runner unable to clean up
		closeService()
	})
	waitReady(t, srv.URL, 30*time.Second)

	const body = `{"language":"python","code":"print(6 * 7)"}`
	if code, got := post(t, srv.URL, body); code != http.StatusOK || got.Status != "success" || got.Stdout != "42\n" {
		t.Fatalf("before the restart: got %d %+v", code, got)
	}
	// The service is at rest: the run's teardown is done and the pool is
	// full again. What the stop then leaves is the stop's doing alone.
	r.Wait()
	waitPoolFull(t, r, poolSize)

	if inFlight {
		type reply struct {
			code int
			res  runResponse
			took time.Duration
		}
		replies := make(chan reply, 1)
		go func() {
			start := time.Now()
			code, res := postNoFatal(srv.URL, `{"language":"python","code":"import time\nprint('started', flush=True)\ntime.sleep(30)"}`)
			replies <- reply{code, res, time.Since(start)}
		}()
		runStart := time.Now()
		waitForSandboxProcess(t, ns, "python3")
		time.Sleep(200 * time.Millisecond)
		cd.stop(t)
		select {
		case rp := <-replies:
			t.Logf("the run in flight when containerd stopped: %d %+v after %s", rp.code, rp.res, rp.took.Round(time.Millisecond))
			if rp.code != http.StatusServiceUnavailable || !strings.Contains(rp.res.Error, "unavailable") {
				t.Errorf("the run in flight when containerd stopped: got %d %+v, want 503 saying the runtime is unavailable", rp.code, rp.res)
			}
		case <-time.After(cfg.RunTimeout + maxDownAnswer):
			t.Errorf("the run in flight got no answer within %s of containerd's stop", cfg.RunTimeout+maxDownAnswer)
		}
		// The wall-clock limit holds whether or not containerd answers:
		// the program (which sleeps 30 s) must be dead soon after it.
		time.Sleep(time.Until(runStart.Add(cfg.RunTimeout + 2*time.Second)))
		if alive := sandboxProcesses(ns); len(alive) > 0 {
			t.Errorf("%s after the run started, past its %s limit, its processes still run: %s",
				time.Since(runStart).Round(time.Millisecond), cfg.RunTimeout, strings.Join(alive, ", "))
		}
	} else {
		cd.stop(t)
	}
	for i := range 3 {
		start := time.Now()
		code, got := post(t, srv.URL, body)
		took := time.Since(start)
		t.Logf("while containerd is down, request %d: %d %q after %s", i, code, got.Error, took.Round(time.Millisecond))
		if code != http.StatusServiceUnavailable || !strings.Contains(got.Error, "unavailable") {
			t.Errorf("while containerd is down: got %d %+v, want 503 saying the runtime is unavailable", code, got)
		}
		if took > maxDownAnswer {
			t.Errorf("while containerd is down: answer after %s, want within %s", took, maxDownAnswer)
		}
	}
	start := time.Now()
	code, reason := getReadyz(t, srv.URL)
	t.Logf("/readyz while containerd is down: %d %s after %s", code, reason, time.Since(start).Round(time.Millisecond))
	if code != http.StatusServiceUnavailable || !strings.Contains(reason, "containerd") {
		t.Errorf("/readyz while containerd is down: got %d %s, want 503 naming containerd", code, reason)
	}

	cd.start(t)
	restarted := time.Now()
	var interim []string
	for {
		code, got := post(t, srv.URL, body)
		if code == http.StatusOK {
			if got.Status != "success" || got.Stdout != "42\n" {
				t.Fatalf("after the restart: got 200 %+v", got)
			}
			break
		}
		if code != http.StatusServiceUnavailable {
			t.Errorf("after the restart: got %d %+v, want 503 until the service recovers, then 200", code, got)
		}
		interim = append(interim, fmt.Sprintf("%d %s", code, got.Error))
		if time.Since(restarted) > maxRecovery {
			t.Fatalf("no 200 within %s of containerd's restart; answers: %s", maxRecovery, strings.Join(interim, "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("recovered %s after containerd's restart (%d answers before: %s)", time.Since(restarted).Round(time.Millisecond), len(interim), strings.Join(slices.Compact(interim), "; "))
	for i := range 3 {
		if code, got := post(t, srv.URL, body); code != http.StatusOK || got.Status != "success" || got.Stdout != "42\n" {
			t.Errorf("run %d after recovery: got %d %+v", i, code, got)
		}
	}
	waitReady(t, srv.URL, 15*time.Second)

	closeService()
	runnertest.AssertNothingLeftBy(t, cfg)
}

// waitPoolFull waits until r's python pool holds size prepared jobs.
func waitPoolFull(t *testing.T, r *runner.Runner, size int) {
	t.Helper()
	deadline := time.Now().Add(testtiming.Scaled(30 * time.Second))
	for r.PoolLevels()["python"] < size {
		if time.Now().After(deadline) {
			t.Fatalf("pool not refilled after 30s: %v", r.PoolLevels())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForSandboxProcess waits until a process of a sandbox of namespace ns
// has cmdline in its command line.
func waitForSandboxProcess(t *testing.T, ns, cmdline string) {
	t.Helper()
	deadline := time.Now().Add(testtiming.Scaled(30 * time.Second))
	for {
		if slices.ContainsFunc(sandboxProcesses(ns), func(p string) bool { return strings.Contains(p, cmdline) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sandbox process %q after 30s", cmdline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sandboxProcesses lists the processes of sandboxes of namespace ns.
// The idle anchors of shim hosts (cgroups "<uuid>-shim") run no request's
// code and live as long as the service: they are not counted.
func sandboxProcesses(ns string) []string {
	var out []string
	for _, p := range processes() {
		if strings.Contains(p.cgroup, ":/"+ns+"/") && !strings.Contains(p.cgroup, "-shim\n") {
			out = append(out, fmt.Sprintf("%d (%s)", p.pid, strings.TrimSpace(p.cmdline)))
		}
	}
	return out
}

// postNoFatal is post for a goroutine other than the test's: a transport
// error is a zero status with the error in the body's place.
func postNoFatal(url, body string) (int, runResponse) {
	resp, err := http.Post(url+"/run", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, runResponse{Error: err.Error()}
	}
	defer resp.Body.Close()
	var out runResponse
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		out.Error = fmt.Sprintf("not JSON: %q", raw)
	}
	return resp.StatusCode, out
}

// getReadyz returns /readyz's status and body.
func getReadyz(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(raw))
}

// waitReady waits for /readyz to answer 200.
func waitReady(t *testing.T, url string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, reason := getReadyz(t, url)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %s: %d %s", limit, code, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// privateContainerd is a containerd daemon of the test's own: its root,
// state, config and socket live in one directory. Its namespaces are named
// after the test process, so that their cgroups and runc state (which live
// outside that directory) cannot meet another run's.
type privateContainerd struct {
	dir, socket, config, log string
	nsPrefix                 string
	cmd                      *exec.Cmd
	exited                   chan struct{} // closed when cmd has exited
}

// namespace returns the name of the daemon's i-th namespace.
func (cd *privateContainerd) namespace(i int) string {
	return fmt.Sprintf("%s%d", cd.nsPrefix, i)
}

// startPrivateContainerd starts a containerd of the test's own and stops
// it, with whatever it left, when the test ends. Without the binaries, root
// or the image archive it skips, or fails under CODEEXEC_REQUIRE_INTEGRATION=1.
func startPrivateContainerd(t *testing.T) *privateContainerd {
	t.Helper()
	required := os.Getenv("CODEEXEC_REQUIRE_INTEGRATION") == "1"
	missing := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf("CODEEXEC_REQUIRE_INTEGRATION=1 but "+format, args...)
		}
		t.Skipf("integration test: "+format, args...)
	}
	if os.Getenv("CODEEXEC_CONTAINERD_SOCKET") == "" && !required {
		t.Skip("integration test: set CODEEXEC_CONTAINERD_SOCKET (or run `make test`)")
	}
	if os.Geteuid() != 0 {
		missing("it needs root to run containerd")
	}
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing("%s is not installed: run `make test`", bin)
		}
	}
	if _, err := os.Stat(pythonArchive); err != nil {
		missing("no image archive: %v (scripts/images.sh builds it)", err)
	}

	dir := t.TempDir() // its RemoveAll runs after the cleanup below
	cd := &privateContainerd{
		dir:      dir,
		socket:   filepath.Join(dir, "containerd.sock"),
		config:   filepath.Join(dir, "config.toml"),
		nsPrefix: fmt.Sprintf("codeexec-restart-%d-", os.Getpid()),
		log:      filepath.Join(dir, "containerd.log"),
	}
	if len(cd.socket) >= 100 {
		t.Fatalf("socket path %s is too long for a unix socket", cd.socket)
	}
	// The project's own private containerd config (scripts/containerd.sh),
	// moved under dir.
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), cd.socket, filepath.Join(dir, "root", "opt"))
	if err := os.WriteFile(cd.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cd.destroy(t) })
	cd.start(t)
	return cd
}

// start runs containerd and waits until it answers.
func (cd *privateContainerd) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(cd.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("containerd", "--config", cd.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	cd.cmd, cd.exited = cmd, exited

	start := time.Now()
	deadline := start.Add(testtiming.Scaled(20 * time.Second))
	for {
		if err := cd.ping(); err == nil {
			t.Logf("private containerd (pid %d) answers after %s", cmd.Process.Pid, time.Since(start).Round(time.Millisecond))
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("private containerd does not answer after 20s: %v\n%s", err, cd.logTail())
		}
		select {
		case <-exited:
			t.Fatalf("private containerd exited at start: %v\n%s", cmd.ProcessState, cd.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ping asks containerd for its version.
func (cd *privateContainerd) ping() error {
	c, err := client.New(cd.socket, client.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.Version(ctx)
	return err
}

// running reports whether the daemon process is alive.
func (cd *privateContainerd) running() bool {
	if cd.cmd == nil {
		return false
	}
	select {
	case <-cd.exited:
		return false
	default:
		return true
	}
}

// ensureRunning starts the daemon again if a test stopped it and failed
// before restarting it.
func (cd *privateContainerd) ensureRunning(t *testing.T) {
	if !cd.running() {
		cd.start(t)
	}
}

// stop sends SIGTERM and waits for the daemon to exit; after 10 s it kills it.
// Shims, and the sandboxes they hold, stay up as with any containerd restart.
func (cd *privateContainerd) stop(t *testing.T) {
	t.Helper()
	if !cd.running() {
		return
	}
	start := time.Now()
	cd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-cd.exited:
		t.Logf("private containerd stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(testtiming.Scaled(10 * time.Second)):
		cd.cmd.Process.Kill()
		<-cd.exited
		t.Errorf("private containerd ignored SIGTERM for 10s; killed it\n%s", cd.logTail())
	}
}

// importImage imports an OCI archive into namespace ns, unpacked.
func (cd *privateContainerd) importImage(t *testing.T, ns, baseName, archive string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "ctr", "--address", cd.socket, "-n", ns,
		"images", "import", "--base-name", baseName, archive).CombinedOutput()
	if err != nil {
		t.Fatalf("import %s: %v\n%s", archive, err, out)
	}
	t.Logf("imported %s into %s in %s", archive, ns, time.Since(start).Round(time.Millisecond))
}

// destroy stops the daemon and removes everything of it. After a clean
// run only its directory, the namespace's empty cgroups and runc state
// remain; after a failure, also shims and sandbox processes still alive,
// their mounts and their shim sockets, which it removes and reports.
func (cd *privateContainerd) destroy(t *testing.T) {
	t.Helper()
	cd.stop(t)
	var killed []string
	var pids []int
	for _, p := range processes() {
		args := strings.Fields(p.cmdline)
		shim := strings.Contains(p.cmdline, "containerd-shim") && slices.Contains(args, cd.socket)
		if !shim && !strings.Contains(p.cgroup, ":/"+cd.nsPrefix) {
			continue
		}
		if syscall.Kill(p.pid, syscall.SIGKILL) != nil {
			continue
		}
		killed = append(killed, fmt.Sprintf("%d (%s)", p.pid, p.cmdline))
		pids = append(pids, p.pid)
		if id, ns := argAfter(args, "-id"), argAfter(args, "-namespace"); shim && id != "" && ns != "" {
			// The shim's socket, named as containerd's runtime v2 names it;
			// a killed shim cannot remove it.
			sum := sha256.Sum256([]byte(filepath.Join(cd.socket, ns, id)))
			defer os.Remove(fmt.Sprintf("/run/containerd/s/%x", sum))
		}
	}
	if len(killed) > 0 {
		t.Errorf("killed processes left by the private containerd: %s", strings.Join(killed, ", "))
		deadline := time.Now().Add(testtiming.Scaled(5 * time.Second))
		for slices.ContainsFunc(pids, func(pid int) bool { return syscall.Kill(pid, 0) == nil }) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	mounts := mountsUnder(t, cd.dir)
	for _, m := range slices.Backward(mounts) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", m, err)
		}
	}
	if len(mounts) > 0 {
		t.Logf("unmounted %d mounts under %s", len(mounts), cd.dir)
	}
	// The namespace's cgroups (with any container's left inside) and its
	// runc state are outside dir, but this daemon's alone.
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + cd.nsPrefix + "*")
	more, _ := filepath.Glob("/sys/fs/cgroup/" + cd.nsPrefix + "*")
	for _, root := range append(roots, more...) {
		if err := removeCgroupTree(root); err != nil {
			t.Errorf("remove cgroup %s: %v", root, err)
		}
	}
	runc, _ := filepath.Glob("/run/containerd/runc/" + cd.nsPrefix + "*")
	for _, d := range runc {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("remove runc state: %v", err)
		}
	}
}

// argAfter returns the argument that follows flag in args, or "".
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// removeCgroupTree removes a cgroup directory and those below it, deepest
// first. Cgroup directories are removed with rmdir, not by deleting their
// files; a cgroup whose last process just died may stay busy a moment.
func removeCgroupTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, d := range slices.Backward(dirs) {
		deadline := time.Now().Add(testtiming.Scaled(2 * time.Second))
		for {
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				return fmt.Errorf("rmdir %s: %w", d, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// logTail returns the end of the daemon's log.
func (cd *privateContainerd) logTail() string {
	b, _ := os.ReadFile(cd.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// proc is a host process, as /proc shows it.
type proc struct {
	pid             int
	cmdline, cgroup string
}

func processes() []proc {
	var out []proc
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		cg, _ := os.ReadFile(filepath.Join(d, "cgroup"))
		out = append(out, proc{pid: pid, cmdline: strings.ReplaceAll(string(cmd), "\x00", " "), cgroup: string(cg)})
	}
	return out
}

// mountsUnder lists the mount points at or below dir, in mount order.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// Field 5 is the mount point, with space, tab, newline and
		// backslash written as octal escapes.
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
