package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

// Request-level abuse against the real service (issue 3, item 18): huge and
// endless bodies, deeply nested JSON, slow clients, and a burst of
// concurrent runs. The service runs in the test process, so its heap and
// goroutines are the test's to measure.

// lazyBody is a request body of size bytes made on the fly: prefix, then
// filler, then suffix. It never holds more than one read's worth, and it
// counts what the client took from it.
type lazyBody struct {
	prefix, suffix string
	size           int64
	off            atomic.Int64 // bytes handed out so far
}

func newLazyBody(prefix, suffix string, size int64) *lazyBody {
	return &lazyBody{prefix: prefix, suffix: suffix, size: size}
}

func (b *lazyBody) Read(p []byte) (int, error) {
	off := b.off.Load()
	if off >= b.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.size-off))
	fillStart := int64(len(b.prefix))
	fillEnd := b.size - int64(len(b.suffix))
	for i := range n {
		pos := off + int64(i)
		switch {
		case pos < fillStart:
			p[i] = b.prefix[pos]
		case pos >= fillEnd:
			p[i] = b.suffix[pos-fillEnd]
		default:
			p[i] = 'a'
		}
	}
	b.off.Add(int64(n))
	return n, nil
}

// heapSampler records the largest HeapInuse seen while it runs.
type heapSampler struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func sampleHeap() *heapSampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapSampler{base: ms.HeapInuse, stop: make(chan struct{}), done: make(chan struct{})}
	h.peak.Store(ms.HeapInuse)
	go func() {
		defer close(h.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// growth stops sampling and returns the peak's growth over the baseline.
func (h *heapSampler) growth() int64 {
	close(h.stop)
	<-h.done
	return int64(h.peak.Load()) - int64(h.base)
}

// sendResult is what a client saw of one streamed request.
type sendResult struct {
	code       int
	body       string
	sentAtResp int64         // body bytes the client had taken when the response began
	took       time.Duration // until the response headers
	err        error
}

// sendStreamed POSTs body to /run, with a Content-Length of body.size when
// withLength is set and chunked otherwise, and "Connection: close" when
// connClose is set (as HTTP/1.0 clients and many scripts send it). It notes
// how much of the body the client had taken when the first response byte
// arrived.
func sendStreamed(t *testing.T, url string, body *lazyBody, withLength, connClose bool) sendResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/run", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1 // chunked
	if withLength {
		req.ContentLength = body.size
	}
	req.Close = connClose
	var res sendResult
	res.sentAtResp = -1
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { res.sentAtResp = body.off.Load() },
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	start := time.Now()
	resp, err := client.Do(req)
	res.took = time.Since(start)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	res.code, res.body = resp.StatusCode, string(raw)
	return res
}

func jsonError(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("body is not a JSON error: %v: %q", err, body)
	}
	return e.Error
}

// assertStillServes shows the service still runs programs.
func assertStillServes(t *testing.T, url string) {
	t.Helper()
	code, got := post(t, url, `{"language":"python","code":"print(1)"}`)
	if code != http.StatusOK || got.Status != "success" || got.Stdout != "1\n" {
		t.Fatalf("a normal run afterwards got %d %+v", code, got)
	}
}

func TestAbuseHugeBodiesAreRefusedEarly(t *testing.T) {
	s := startService(t, "--max-concurrent", "2", "--max-queue", "4", "--queue-timeout", "2s", "--rate-limit", "0", "--pool-size", "0")
	prefix, suffix := `{"language":"python","code":"print(1)","input":"`, `"}`
	const gib, inputMiB100 = 1 << 30, 100 << 20
	input100 := int64(inputMiB100 + len(prefix) + len(suffix)) // a body whose input is 100 MiB
	for _, tc := range []struct {
		name       string
		size       int64
		withLength bool
		connClose  bool
		wantMsg    string
	}{
		{"a 1 GiB body with Content-Length is refused before it is read", gib, true, false, fmt.Sprintf("request body is %d bytes", gib)},
		{"a 1 GiB chunked body is cut off at the limit", gib, false, false, "larger than the limit"},
		{"100 MiB of input with Content-Length is refused before it is read", input100, true, false, fmt.Sprintf("request body is %d bytes", input100)},
		{"100 MiB of chunked input is cut off at the limit", input100, false, false, "larger than the limit"},
		// With "Connection: close" net/http closes the socket at once after
		// the answer, with the unread body in its buffer: the kernel sends
		// a reset that can overtake the 413. Repeated, since it is a race.
		{"a 1 GiB body with Content-Length and Connection: close gets its 413", gib, true, true, fmt.Sprintf("request body is %d bytes", gib)},
		{"a 1 GiB chunked body with Connection: close gets its 413", gib, false, true, "larger than the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range attempts(tc.connClose) {
				abuseWithBody(t, s.url, newLazyBody(prefix, suffix, tc.size), tc.withLength, tc.connClose, tc.wantMsg)
			}
		})
	}
	assertStillServes(t, s.url)
}

// attempts is how often a case is tried: races need several tries to show.
func attempts(racy bool) int {
	if racy {
		return 10
	}
	return 1
}

// abuseWithBody sends one oversize body and checks that it is refused
// with a 413 early, without the service's heap growing.
func abuseWithBody(t *testing.T, url string, body *lazyBody, withLength, connClose bool, wantMsg string) {
	t.Helper()
	const (
		// What the client may have pushed into the socket before the 413
		// arrives: the limit (1 MiB) plus the kernel's socket buffers on
		// both ends and the transport's own. Anything near the body's full
		// size means the service read it.
		maxSentBeforeResponse = 16 << 20
		maxHeapGrowth         = 64 << 20
		maxResponseTime       = 5 * time.Second
	)
	heap := sampleHeap()
	res := sendStreamed(t, url, body, withLength, connClose)
	growth := heap.growth()
	t.Logf("status %d after %s; client had sent %.1f MiB when the response began (%.1f MiB in all); heap peak grew %.1f MiB",
		res.code, res.took.Round(time.Millisecond), float64(res.sentAtResp)/(1<<20), float64(body.off.Load())/(1<<20), float64(growth)/(1<<20))
	if res.err != nil {
		t.Fatalf("no response, only %v (client had sent %d bytes)", res.err, body.off.Load())
	}
	if res.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d %s, want 413", res.code, res.body)
	}
	if msg := jsonError(t, res.body); !strings.Contains(msg, wantMsg) || !strings.Contains(msg, "1 MiB") {
		t.Errorf("message %q, want it to mention %q and the 1 MiB limit", msg, wantMsg)
	}
	if res.sentAtResp < 0 || res.sentAtResp > maxSentBeforeResponse {
		t.Errorf("the client had sent %d bytes when the response began, want at most %d", res.sentAtResp, maxSentBeforeResponse)
	}
	if res.took > maxResponseTime {
		t.Errorf("response after %s, want within %s", res.took, maxResponseTime)
	}
	if growth > maxHeapGrowth {
		t.Errorf("heap in use grew by %d MiB during the request, want under %d MiB", growth>>20, maxHeapGrowth>>20)
	}
}

func TestAbuseDeeplyNestedJSONIsABadRequest(t *testing.T) {
	s := startService(t, "--max-concurrent", "2", "--max-queue", "4", "--queue-timeout", "2s", "--rate-limit", "0", "--pool-size", "0")
	const depth = 1_000_000 // under the 1 MiB body limit, so the decoder sees all of it
	for _, tc := range []struct{ name, body string }{
		{"a million brackets in the code field", `{"language":"python","code":` + strings.Repeat("[", depth) + `}`},
		{"a million brackets in the input field", `{"language":"python","code":"print(1)","input":` + strings.Repeat("[", depth) + `}`},
		{"a million brackets as the whole body", strings.Repeat("[", depth)},
		{"nested objects as deep as fits", strings.Repeat(`{"a":`, depth/5)},
		{"balanced brackets 100000 deep in an unknown field", `{"language":"python","code":"print(1)","x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			heap := sampleHeap()
			start := time.Now()
			resp, err := http.Post(s.url+"/run", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			growth := heap.growth()
			t.Logf("status %d after %s, heap peak grew %.1f MiB: %.120s", resp.StatusCode, took.Round(time.Millisecond), float64(growth)/(1<<20), raw)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", resp.StatusCode, raw)
			}
			jsonError(t, string(raw))
			if took > 5*time.Second {
				t.Errorf("response after %s, want within 5s", took)
			}
			if growth > 64<<20 {
				t.Errorf("heap in use grew by %d MiB, want under 64 MiB", growth>>20)
			}
		})
	}
	assertStillServes(t, s.url)
}

func TestAbuseSlowHeadersAreCutOff(t *testing.T) {
	s := startService(t, "--max-concurrent", "2", "--max-queue", "4", "--queue-timeout", "2s", "--rate-limit", "0", "--pool-size", "0")
	const (
		clients = 10
		// serve.go sets ReadHeaderTimeout to 5 s.
		minCut = 4500 * time.Millisecond
		maxCut = 7500 * time.Millisecond
	)
	addr := strings.TrimPrefix(s.url, "http://")
	cut := make([]time.Duration, clients)
	var wg sync.WaitGroup
	for i := range clients {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		start := time.Now()
		closed := make(chan struct{})
		wg.Add(2)
		go func() { // trickles a header that never ends, one byte at a time
			defer wg.Done()
			header := "POST /run HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Slow: "
			for j := 0; ; j++ {
				b := byte('a')
				if j < len(header) {
					b = header[j]
				}
				if _, err := conn.Write([]byte{b}); err != nil {
					return
				}
				select {
				case <-closed:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if time.Since(start) > 20*time.Second {
					return
				}
			}
		}()
		go func() { // notes when the server hangs up
			defer wg.Done()
			defer close(closed)
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, _ = io.Copy(io.Discard, conn)
			cut[i] = time.Since(start)
		}()
	}

	// Meanwhile an ordinary client is served as usual.
	time.Sleep(time.Second)
	start := time.Now()
	assertStillServes(t, s.url)
	t.Logf("a normal run during the slow clients took %s", time.Since(start).Round(time.Millisecond))

	wg.Wait()
	for i, d := range cut {
		t.Logf("slow client %d cut off after %s", i, d.Round(time.Millisecond))
		if d < minCut || d > maxCut {
			t.Errorf("slow client %d was cut off after %s, want between %s and %s (ReadHeaderTimeout is 5s)", i, d, minCut, maxCut)
		}
	}
}

func TestAbuseManyConcurrentRunsAreBoundedAndAnswered(t *testing.T) {
	const (
		requests      = 500
		maxConcurrent = 2
	)
	// --pool-size 0: a run's container exists only while it holds a slot
	// (creation follows acquire, teardown precedes release), so counting the
	// service's containers counts the sandboxes in use.
	s := startService(t, "--max-concurrent", strconv.Itoa(maxConcurrent), "--max-queue", "4", "--queue-timeout", "2s",
		"--rate-limit", "0", "--pool-size", "0")
	assertStillServes(t, s.url) // warm up code paths, so the baseline is a serving service
	time.Sleep(500 * time.Millisecond)
	baseGoroutines := runtime.NumGoroutine()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse

	// Sample the service's containers while the burst runs.
	var maxContainers atomic.Int64
	var samples atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n, err := countContainers(s.cfg); err == nil {
				samples.Add(1)
				if int64(n) > maxContainers.Load() {
					maxContainers.Store(int64(n))
				}
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	tr := &http.Transport{MaxIdleConnsPerHost: requests}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	outcomes := make([]runOutcome, requests)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			outcomes[i] = oneRun(client, s.url)
		}()
	}
	start := time.Now()
	close(begin)
	wg.Wait()
	took := time.Since(start)
	close(stopSampling)
	<-sampled

	counts := map[int]int{}
	var problems []string
	for i, o := range outcomes {
		counts[o.code]++
		if o.desc != "" && len(problems) < 10 {
			problems = append(problems, fmt.Sprintf("request %d: %s", i, o.desc))
		}
	}
	t.Logf("%d requests in %s: %v; at most %d containers at once in %d samples", requests, took.Round(time.Millisecond), counts, maxContainers.Load(), samples.Load())
	for _, p := range problems {
		t.Error(p)
	}
	if counts[http.StatusOK] < maxConcurrent {
		t.Errorf("%d requests succeeded, want at least %d", counts[http.StatusOK], maxConcurrent)
	}
	if counts[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no request was refused with 503: the burst did not overload a service of %d slots and a queue of 4", maxConcurrent)
	}
	if got := maxContainers.Load(); got > maxConcurrent {
		t.Errorf("%d sandbox containers existed at once, want at most --max-concurrent %d", got, maxConcurrent)
	}
	if samples.Load() < 5 {
		t.Errorf("only %d samples of the container count", samples.Load())
	}

	// Afterwards goroutines and heap return to where they were.
	tr.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	var goroutines int
	var heap uint64
	for {
		goroutines = runtime.NumGoroutine()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap = ms.HeapInuse
		if (goroutines <= baseGoroutines+10 && heap <= baseHeap+32<<20) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("goroutines %d → %d, heap in use %.1f → %.1f MiB", baseGoroutines, goroutines, float64(baseHeap)/(1<<20), float64(heap)/(1<<20))
	if goroutines > baseGoroutines+10 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines 20s after the burst, baseline %d:\n%s", goroutines, baseGoroutines, buf[:runtime.Stack(buf, true)])
	}
	if heap > baseHeap+32<<20 {
		t.Errorf("heap in use %d MiB after the burst, baseline %d MiB", heap>>20, baseHeap>>20)
	}
	assertStillServes(t, s.url)
}

// runOutcome is the status of one answer and what was wrong with it, if
// anything.
type runOutcome struct {
	code int
	desc string
}

// oneRun POSTs print(1) and says what, if anything, is wrong with the answer:
// it must be a 200 with stdout "1\n", or a 503 with Retry-After and a JSON
// error.
func oneRun(client *http.Client, url string) (o runOutcome) {
	resp, err := client.Post(url+"/run", "application/json", strings.NewReader(`{"language":"python","code":"print(1)"}`))
	if err != nil {
		o.desc = "no response: " + err.Error()
		return o
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	o.code = resp.StatusCode
	var body runResponse
	if err := json.Unmarshal(raw, &body); err != nil {
		o.desc = fmt.Sprintf("%d with a body that is not JSON: %q", resp.StatusCode, raw)
		return o
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if body.Status != "success" || body.Stdout != "1\n" {
			o.desc = fmt.Sprintf("200 with status %q stdout %q stderr %q", body.Status, body.Stdout, body.Stderr)
		}
	case http.StatusServiceUnavailable:
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			o.desc = fmt.Sprintf("503 with Retry-After %q", resp.Header.Get("Retry-After"))
		} else if body.Error == "" {
			o.desc = fmt.Sprintf("503 without an error message: %q", raw)
		}
	default:
		o.desc = fmt.Sprintf("unexpected status %d: %q", resp.StatusCode, raw)
	}
	return o
}

// countContainers counts the sandbox containers the service with cfg owns,
// not its shim hosts' ("<uuid>-shim"), which run no request's code.
func countContainers(cfg runner.Config) (int, error) {
	left, err := runner.Leftovers(cfg)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range left {
		if strings.HasPrefix(l, "container ") && !strings.HasSuffix(l, "-shim") {
			n++
		}
	}
	return n, nil
}
