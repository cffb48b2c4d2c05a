package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/callback"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/runner/runnertest"
)

// The chaos test (make test-chaos, docs/submissions.md): three real
// nats-server processes clustered on loopback ports, three service
// instances using them with three replicas, 500 submissions, a service
// and a NATS server killed with SIGKILL mid-way and started again.

// natsNode is one nats-server process of the cluster.
type natsNode struct {
	bin, dir, name       string
	port, cport, monitor int
	routes               string
	cmd                  *exec.Cmd
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsNode) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(n.bin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-m", fmt.Sprint(n.monitor),
		"-n", n.name, "-js", "-sd", n.dir, "--cluster_name", "codeexec-chaos",
		"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.cport), "--routes", n.routes)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (n *natsNode) kill() {
	if n.cmd != nil && n.cmd.ProcessState == nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}

// healthy waits until the node says JetStream is current (/healthz).
func (n *natsNode) healthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitor))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats node %s not healthy after 60s", n.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePortNumber(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(freeAddr(t))
	var n int
	fmt.Sscan(p, &n)
	return n
}

// chaosItem is one submission of the test and what it must answer.
type chaosItem struct {
	body   string
	judge  bool
	stdout string // a run's stdout
	hook   int    // receiver index, or -1
}

func chaosWorkload(n int, hooks []string) []chaosItem {
	items := make([]chaosItem, n)
	for i := range items {
		a, b := i%97+3, i%89+5
		it := chaosItem{hook: -1}
		switch i % 8 {
		case 0, 1, 2: // Python runs
			it.body = fmt.Sprintf(`"kind":"run","language":"python","code":"print(%d * %d)"`, a, b)
			it.stdout = fmt.Sprintf("%d\n", a*b)
		case 3: // C++ runs
			it.body = fmt.Sprintf(`"kind":"run","language":"cpp","code":"#include <cstdio>\nint main(){ std::printf(\"%%d\\n\", %d * %d); }"`, a, b)
			it.stdout = fmt.Sprintf("%d\n", a*b)
		case 4, 5, 6: // Python judgements, slowed so that some are cut by the kill
			it.judge = true
			it.body = fmt.Sprintf(`"kind":"judge","language":"python","code":"import time\ntime.sleep(0.2)\na, b = map(int, input().split())\nprint(a + b)","tests":[%s]`, sumTests(a, b))
		case 7: // C++ judgements
			it.judge = true
			it.body = fmt.Sprintf(`"kind":"judge","language":"cpp","code":"#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a + b << \"\\n\"; }","tests":[%s]`, sumTests(a, b))
		}
		// The machine is shared by three instances: the limits leave room,
		// so that no verdict depends on its load.
		it.body += `,"limits":{"timeout_ms":10000,"compile_timeout_ms":30000}`
		if i%4 == 1 {
			it.hook = (i / 4) % len(hooks)
			it.body += `,"callback_url":"` + hooks[it.hook] + `"`
		}
		items[i] = it
	}
	return items
}

func sumTests(a, b int) string {
	var tests []string
	for k := range 3 {
		tests = append(tests, fmt.Sprintf(`{"input":"%d %d\n","expected_output":"%d\n"}`, a+k, b, a+k+b))
	}
	return strings.Join(tests, ",")
}

// hookReceiver is a callback receiver on loopback.
type hookReceiver struct {
	mu       sync.Mutex
	got      map[string]int // submission id → callbacks received (valid ones)
	refuse   int            // refuse the first attempts of each submission
	attempts map[string]int
	bad      atomic.Int32
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if callback.Verify([]byte(chaosSecret), r.Header.Get(callback.Header), b, time.Minute, time.Now()) != nil {
		h.bad.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("Codeexec-Submission")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts[id]++
	if h.attempts[id] <= h.refuse {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.got[id]++
}

const chaosSecret = "chaos-test-callback-secret"

func TestChaosFleetLosesNothing(t *testing.T) {
	bin := os.Getenv("CODEEXEC_NATS_SERVER")
	if os.Getenv("CODEEXEC_CHAOS") != "1" || bin == "" {
		t.Skip("make test-chaos runs it (CODEEXEC_CHAOS=1, CODEEXEC_NATS_SERVER=<nats-server binary>)")
	}
	const total = 500

	// The NATS cluster.
	nodes := make([]*natsNode, 3)
	var routes []string
	for i := range nodes {
		nodes[i] = &natsNode{bin: bin, dir: t.TempDir(), name: fmt.Sprintf("n%d", i+1),
			port: freePortNumber(t), cport: freePortNumber(t), monitor: freePortNumber(t)}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", nodes[i].cport))
	}
	var urls []string
	for _, n := range nodes {
		n.routes = strings.Join(routes, ",")
		n.start(t)
		t.Cleanup(n.kill)
		urls = append(urls, n.url())
	}
	for _, n := range nodes {
		n.healthy(t)
	}

	// The receivers: one that takes every callback, one that refuses
	// each callback's first two attempts, one down for the first 30 s.
	recv := []*hookReceiver{
		{got: map[string]int{}, attempts: map[string]int{}},
		{got: map[string]int{}, attempts: map[string]int{}, refuse: 2},
		{got: map[string]int{}, attempts: map[string]int{}},
	}
	var hooks []string
	for i, r := range recv {
		if i == 2 {
			addr := freeAddr(t)
			hooks = append(hooks, "http://"+addr+"/hook")
			go func() {
				time.Sleep(30 * time.Second)
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("receiver 3 cannot come back: %v", err)
					return
				}
				srv := &http.Server{Handler: r}
				t.Cleanup(func() { srv.Close() })
				_ = srv.Serve(ln)
			}()
			continue
		}
		s := httptest.NewServer(r)
		t.Cleanup(s.Close)
		hooks = append(hooks, s.URL+"/hook")
	}

	// The service instances, each with its own containerd namespace and
	// state directory, on one containerd (make test-chaos imports the
	// images into codeexec-chaos-1 to -3).
	logDir := t.TempDir()
	cfgs := make([]runner.Config, 3)
	svcs := make([]*serviceProcess, 3)
	logs := make([][]string, 3)
	args := []string{"--nats-url", strings.Join(urls, ","), "--nats-replicas", "3", "--submission-ack-wait", "5s", "--submission-workers", "2",
		"--callback-secret", chaosSecret, "--callback-allow", "127.0.0.0/8", "--max-queued-per-key", "0",
		"--log-level", "info", "--log-format", "json", "--rate-limit", "0"}
	start := func(i int) {
		name := filepath.Join(logDir, fmt.Sprintf("svc%d-%d.log", i, len(logs[i])))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		logs[i] = append(logs[i], name)
		svcs[i] = startServiceProcessTo(t, cfgs[i], f, args...)
	}
	for i := range cfgs {
		cfgs[i] = runnertest.Config(t)
		cfgs[i].Namespace = fmt.Sprintf("codeexec-chaos-%d", i+1)
		start(i)
	}
	url := func(i int) string { return svcs[i].url }

	items := chaosWorkload(total, hooks)
	ids := make([]string, total)
	for b := 0; b < total; b += 20 {
		var bodies []string
		for _, it := range items[b : b+20] {
			bodies = append(bodies, "{"+it.body+"}")
		}
		var out struct {
			Submissions []struct {
				ID    string `json:"id"`
				Error string `json:"error"`
			} `json:"submissions"`
		}
		postJSON(t, url(b/20%3)+"/submissions/batch", `{"submissions":[`+strings.Join(bodies, ",")+`]}`, &out)
		for k, s := range out.Submissions {
			if s.ID == "" {
				t.Fatalf("submission %d refused: %s", b+k, s.Error)
			}
			ids[b+k] = s.ID
		}
	}
	t.Logf("500 submissions stored")

	// Read every submission, through a live instance, until all are final.
	type view struct {
		ID       string          `json:"id"`
		Status   string          `json:"status"`
		Attempts int             `json:"attempts"`
		Result   json.RawMessage `json:"result"`
		Error    json.RawMessage `json:"error"`
	}
	alive := []bool{true, true, true}
	poll := func() (map[string]view, int) {
		got := map[string]view{}
		done := 0
		for b := 0; b < total; b += 20 {
			for i := range 3 {
				if !alive[i] {
					continue
				}
				resp, err := http.Get(url(i) + "/submissions?ids=" + strings.Join(ids[b:b+20], ","))
				if err != nil {
					continue
				}
				var out struct {
					Submissions []*view `json:"submissions"`
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					continue
				}
				for _, v := range out.Submissions {
					if v != nil {
						got[v.ID] = *v
						if v.Status == "done" || v.Status == "failed" || v.Status == "cancelled" {
							done++
						}
					}
				}
				break
			}
		}
		return got, done
	}

	// Kill instance 1 in the middle of judging, when a quarter is done;
	// kill a NATS server when half is done. Both come back.
	killedService, killedNATS := false, false
	began := time.Now()
	deadline := began.Add(25 * time.Minute)
	var final map[string]view
	for {
		got, done := poll()
		if !killedService && done >= total/4 && judging(t, cfgs[0]) {
			t.Logf("%s: %d done; SIGKILL to service 1 while it judges", time.Since(began).Round(time.Second), done)
			alive[0] = false
			svcs[0].crash(t)
			killedService = true
			time.Sleep(3 * time.Second)
			start(0)
			alive[0] = true
		}
		if !killedNATS && done >= total/2 {
			t.Logf("%s: %d done; SIGKILL to NATS server 3", time.Since(began).Round(time.Second), done)
			nodes[2].kill()
			killedNATS = true
			time.Sleep(10 * time.Second)
			nodes[2].start(t)
			nodes[2].healthy(t)
			t.Logf("%s: NATS server 3 back", time.Since(began).Round(time.Second))
		}
		if done == total {
			final = got
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d final after 25 min", done, total)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%s: all %d final", time.Since(began).Round(time.Second), total)
	if !killedService || !killedNATS {
		t.Fatalf("the kills did not happen (service %v, nats %v)", killedService, killedNATS)
	}

	// Every submission done with its right answer.
	retried := 0
	for i, id := range ids {
		v := final[id]
		if v.Status != "done" {
			t.Errorf("submission %d: %s %s", i, v.Status, v.Error)
			continue
		}
		if v.Attempts > 1 {
			retried++
		}
		if items[i].judge {
			var r struct {
				Verdict string `json:"verdict"`
				Passed  int    `json:"passed"`
			}
			if json.Unmarshal(v.Result, &r) != nil || r.Verdict != "accepted" || r.Passed != 3 {
				t.Errorf("submission %d: %s", i, v.Result)
			}
		} else {
			var r struct {
				Status string `json:"status"`
				Stdout string `json:"stdout"`
			}
			if json.Unmarshal(v.Result, &r) != nil || r.Status != "success" || r.Stdout != items[i].stdout {
				t.Errorf("submission %d: %s, want stdout %q", i, v.Result, items[i].stdout)
			}
		}
	}
	t.Logf("%d submissions needed a second attempt", retried)

	// Every callback delivered at least once, signed.
	deadlineCB := time.Now().Add(3 * time.Minute)
	for i, id := range ids {
		h := items[i].hook
		if h < 0 {
			continue
		}
		for {
			recv[h].mu.Lock()
			n := recv[h].got[id]
			recv[h].mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadlineCB) {
				t.Fatalf("submission %d's callback to receiver %d never delivered", i, h+1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i, r := range recv {
		if r.bad.Load() != 0 {
			t.Errorf("receiver %d got %d callbacks with a bad signature", i+1, r.bad.Load())
		}
	}

	// Each submission ran to the end on one node only, but for those whose
	// first end was on the instance killed (its result maybe not stored).
	for i := range svcs {
		svcs[i].stop(t)
	}
	ends := map[string][]string{} // id → log files recording its end
	for i := range logs {
		for _, name := range logs[i] {
			for _, id := range endsIn(t, name) {
				ends[id] = append(ends[id], name)
			}
		}
	}
	twice := 0
	for i, id := range ids {
		switch n := len(ends[id]); {
		case n == 0:
			t.Errorf("submission %d: no node logged its end", i)
		case n > 1:
			twice++
			if !strings.HasSuffix(ends[id][0], "svc0-0.log") {
				t.Errorf("submission %d ran to the end %d times: %v", i, n, ends[id])
			}
		}
	}
	t.Logf("%d submissions ran to the end twice, each first on the service killed", twice)
	for i := range cfgs {
		runnertest.AssertNothingLeftBy(t, cfgs[i])
	}
}

// judging reports whether a judge lane runs in cfg's namespace now: its
// agent is the lane sandbox's init (/run/data/.lane).
func judging(t *testing.T, cfg runner.Config) bool {
	return hasProcessOf(t, cfg, "/run/data/.lane")
}

// endsIn lists the submissions whose run or judgement a log file records
// as ended.
func endsIn(t *testing.T, name string) []string {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg        string `json:"msg"`
			Submission string `json:"submission"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Submission != "" && (rec.Msg == "run" || rec.Msg == "judge") {
			out = append(out, rec.Submission)
		}
	}
	return out
}
