package submissions

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/problem/problemtest"
	"github.com/nats-io/nats.go/jetstream"
)

// open starts a queue on an embedded server in a temporary directory.
func open(t *testing.T, cfg Config) *Queue {
	t.Helper()
	if cfg.Dir == "" && len(cfg.URLs) == 0 {
		cfg.Dir = t.TempDir()
	}
	if cfg.Node == "" {
		cfg.Node = "test"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

// work runs q's workers until the test ends.
func work(t *testing.T, q *Queue, slots int, exec Exec) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := q.Work(ctx, slots, exec); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		q.Abort()
		<-done
	})
}

// echo answers a job with its body.
func echo(_ context.Context, j Job) (Outcome, error) {
	return Outcome{Result: j.Body}, nil
}

func submit(t *testing.T, q *Queue, body string) Record {
	t.Helper()
	rec, err := q.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(body)})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func wait(t *testing.T, q *Queue, id string) Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := q.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait for %s: %v (last seen %+v)", id, err, rec)
	}
	return rec
}

func TestSubmitRunsAndStoresTheResult(t *testing.T) {
	q := open(t, Config{})
	rec := submit(t, q, `{"n":1}`)
	if rec.Status != Queued || rec.ID == "" || rec.CreatedAt.IsZero() {
		t.Fatalf("submitted record = %+v", rec)
	}
	got, _, err := q.Get(context.Background(), rec.ID)
	if err != nil || got.Status != Queued {
		t.Fatalf("before any worker: %+v, %v", got, err)
	}
	work(t, q, 2, echo)
	got = wait(t, q, rec.ID)
	if got.Status != Done || string(got.Result) != `{"n":1}` || got.Attempts != 1 || got.StartedAt == nil || got.FinishedAt == nil || got.Node != "test" {
		t.Fatalf("finished record = %+v", got)
	}
	if _, _, err := q.Get(context.Background(), "00000000-0000-0000-0000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, _, err := q.Get(context.Background(), "../../etc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("malformed id: %v", err)
	}
}

func TestAnOutcomeErrorFailsTheSubmission(t *testing.T) {
	q := open(t, Config{})
	work(t, q, 1, func(context.Context, Job) (Outcome, error) {
		return Outcome{Error: json.RawMessage(`{"error":"no"}`)}, nil
	})
	got := wait(t, q, submit(t, q, `{}`).ID)
	if got.Status != Failed || string(got.Error) != `{"error":"no"}` || got.Result != nil {
		t.Fatalf("record = %+v", got)
	}
}

func TestBusyGoesBackToTheQueueWithoutCountingAnAttempt(t *testing.T) {
	q := open(t, Config{MaxAttempts: 1})
	var calls atomic.Int32
	work(t, q, 1, func(_ context.Context, j Job) (Outcome, error) {
		if calls.Add(1) <= 2 {
			return Outcome{}, errors.New("every sandbox is busy")
		}
		return Outcome{Result: j.Body}, nil
	})
	got := wait(t, q, submit(t, q, `{"x":2}`).ID)
	if got.Status != Done || got.Attempts != 1 || calls.Load() != 3 {
		t.Fatalf("record = %+v after %d calls", got, calls.Load())
	}
}

func TestCancelAQueuedSubmission(t *testing.T) {
	q := open(t, Config{})
	rec := submit(t, q, `{}`)
	got, err := q.Cancel(context.Background(), rec.ID, "")
	if err != nil || got.Status != Cancelled || got.FinishedAt == nil {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	var ran atomic.Bool
	work(t, q, 1, func(_ context.Context, j Job) (Outcome, error) {
		ran.Store(true)
		return Outcome{Result: j.Body}, nil
	})
	// The cancelled message is dropped, and the stream empties.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := q.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.Depth == 0 && s.Deliveries == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream still holds the cancelled submission: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ran.Load() {
		t.Fatal("a cancelled submission ran")
	}
	if got, _, _ := q.Get(context.Background(), rec.ID); got.Status != Cancelled {
		t.Fatalf("record = %+v", got)
	}
	if _, err := q.Cancel(context.Background(), rec.ID, ""); !errors.Is(err, ErrFinal) {
		t.Fatalf("cancelling again: %v", err)
	}
}

func TestCancelARunningSubmissionStopsIt(t *testing.T) {
	q := open(t, Config{})
	started := make(chan struct{})
	stopped := make(chan struct{})
	work(t, q, 1, func(ctx context.Context, _ Job) (Outcome, error) {
		close(started)
		<-ctx.Done()
		close(stopped)
		return Outcome{}, ctx.Err()
	})
	rec := submit(t, q, `{}`)
	<-started
	if got, err := q.Cancel(context.Background(), rec.ID, ""); err != nil || got.Status != Cancelled {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the running submission was not stopped")
	}
	if got := wait(t, q, rec.ID); got.Status != Cancelled || got.Attempts != 1 {
		t.Fatalf("record = %+v", got)
	}
}

func TestOwners(t *testing.T) {
	q := open(t, Config{MaxQueuedPerOwner: 2})
	alice, bob := "0123456789abcdef", "fedcba9876543210"
	ctx := context.Background()
	var ids []string
	for range 2 {
		rec, err := q.Submit(ctx, Submission{Kind: "run", Body: json.RawMessage(`{}`), Owner: alice})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	if _, err := q.Submit(ctx, Submission{Kind: "run", Body: json.RawMessage(`{}`), Owner: alice}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("a third waiting submission of one key: %v", err)
	}
	if _, err := q.Submit(ctx, Submission{Kind: "run", Body: json.RawMessage(`{}`), Owner: bob}); err != nil {
		t.Fatalf("another key is not held back: %v", err)
	}
	if _, err := q.Cancel(ctx, ids[0], bob); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob cancelled alice's submission: %v", err)
	}
	if n, err := q.Waiting(ctx, alice); err != nil || n != 2 {
		t.Fatalf("alice waiting = %d, %v", n, err)
	}
	work(t, q, 2, echo)
	for _, id := range ids {
		wait(t, q, id)
	}
	if _, err := q.Submit(ctx, Submission{Kind: "run", Body: json.RawMessage(`{}`), Owner: alice}); err != nil {
		t.Fatalf("after alice's ran: %v", err)
	}
}

func TestTheQueueIsBounded(t *testing.T) {
	q := open(t, Config{MaxQueued: 3, MaxBodyBytes: 4096})
	for range 3 {
		submit(t, q, `{}`)
	}
	_, err := q.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(`{}`)})
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a fourth submission: %v", err)
	}
	_, err = q.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(`{"code":"` + strings.Repeat("a", 5000) + `"}`)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a submission over the body limit: %v", err)
	}
}

// A final record is never run again, whatever the stream delivers.
func TestAFinishedSubmissionNeverRunsAgain(t *testing.T) {
	q := open(t, Config{})
	var calls atomic.Int32
	work(t, q, 1, func(_ context.Context, j Job) (Outcome, error) {
		calls.Add(1)
		return Outcome{Result: j.Body}, nil
	})
	rec := submit(t, q, `{}`)
	wait(t, q, rec.ID)
	// The same job once more in the stream, as a redelivery would bring it.
	msg, _ := json.Marshal(Job{ID: rec.ID, Kind: "run", Owner: Anonymous, Body: json.RawMessage(`{}`)})
	if _, err := q.js.Publish(context.Background(), subject(Anonymous), msg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.deliveries.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second message was never delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if calls.Load() != 1 {
		t.Fatalf("ran %d times", calls.Load())
	}
}

// A node that dies mid-run stops reporting progress: after AckWait the
// submission runs on another node, and only one result is stored.
func TestASilentNodesSubmissionRunsElsewhere(t *testing.T) {
	a := open(t, Config{Listen: "127.0.0.1:0", AckWait: time.Second, Node: "a"})
	b := open(t, Config{URLs: []string{a.srv.ClientURL()}, AckWait: time.Second, Node: "b"})

	// b takes the submission and then goes silent: its connection closes
	// while its run still hangs.
	bStarted := make(chan struct{})
	release := make(chan struct{})
	var bOnce sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		_ = b.Work(ctx, 1, func(context.Context, Job) (Outcome, error) {
			bOnce.Do(func() { close(bStarted) })
			<-release
			return Outcome{Result: json.RawMessage(`"from b"`)}, nil
		})
	}()
	rec := submit(t, a, `{}`)
	select {
	case <-bStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("node b never took the submission")
	}
	b.nc.Close()
	work(t, a, 1, func(context.Context, Job) (Outcome, error) {
		return Outcome{Result: json.RawMessage(`"from a"`)}, nil
	})
	got := wait(t, a, rec.ID)
	if got.Status != Done || string(got.Result) != `"from a"` || got.Attempts != 2 || got.Node != "a" {
		t.Fatalf("record = %+v", got)
	}
	if a.redeliveries.Load() != 1 {
		t.Fatalf("node a saw %d redeliveries", a.redeliveries.Load())
	}
	close(release)
	cancel()
	<-bDone
	if again, _, _ := a.Get(context.Background(), rec.ID); string(again.Result) != `"from a"` {
		t.Fatalf("the late node's result replaced the stored one: %+v", again)
	}
}

func TestGivenUpAfterMaxAttempts(t *testing.T) {
	q := open(t, Config{MaxAttempts: 2})
	rec := submit(t, q, `{}`)
	// Two nodes died running it.
	got, rev, err := q.Get(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Attempts = 2
	if err := q.put(context.Background(), got, rev); err != nil {
		t.Fatal(err)
	}
	work(t, q, 1, echo)
	if got := wait(t, q, rec.ID); got.Status != Failed || got.Attempts != 2 || len(got.Error) == 0 {
		t.Fatalf("record = %+v", got)
	}
}

func TestRecordsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	rec := submit(t, q, `{"kept":true}`)
	q.Close()
	q = open(t, Config{Dir: dir})
	work(t, q, 1, echo)
	if got := wait(t, q, rec.ID); got.Status != Done || string(got.Result) != `{"kept":true}` {
		t.Fatalf("record = %+v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{},
		{Dir: "d", Listen: "nonsense"},
		{Dir: "d", Replicas: 7},
		{Dir: "d", Retention: time.Second},
		{Dir: "d", AckWait: time.Millisecond},
	} {
		if err := c.withDefaults().Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (Config{Dir: "d"}).withDefaults().Validate(); err != nil {
		t.Error(err)
	}
}

// deliver runs q's callback deliverers until the test ends.
func deliver(t *testing.T, q *Queue, send Send) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Deliver(ctx, 2, send)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// callbackState waits until id's callback is delivered or given up.
func callbackState(t *testing.T, q *Queue, id string) *CallbackState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, _, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cb := rec.Callback; cb != nil && (cb.DeliveredAt != nil || cb.GaveUp) {
			return cb
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback of %s: %+v", id, rec.Callback)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCallbacksAreRetriedUntilDelivered(t *testing.T) {
	q := open(t, Config{CallbackBackoff: 50 * time.Millisecond, CallbackMaxBackoff: 200 * time.Millisecond})
	var calls atomic.Int32
	var times []time.Time
	var mu sync.Mutex
	deliver(t, q, func(_ context.Context, rec Record) (int, error) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		switch calls.Add(1) {
		case 1:
			return 0, errors.New("connection refused")
		case 2:
			return 503, nil
		}
		if rec.Status != Done || rec.CallbackURL != "https://example.org/hook" {
			t.Errorf("callback of %+v", rec)
		}
		return 200, nil
	})
	work(t, q, 1, echo)
	rec, err := q.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(`{}`), CallbackURL: "https://example.org/hook"})
	if err != nil {
		t.Fatal(err)
	}
	cb := callbackState(t, q, rec.ID)
	if cb.DeliveredAt == nil || cb.Attempts != 3 || cb.LastStatus != 200 || cb.LastError != "" || cb.GaveUp {
		t.Fatalf("callback %+v", cb)
	}
	// The waits grew: 50 ms then 100 ms, each ±20 %.
	if d1, d2 := times[1].Sub(times[0]), times[2].Sub(times[1]); d1 < 40*time.Millisecond || d2 < 80*time.Millisecond {
		t.Errorf("backoff %s then %s", d1, d2)
	}
	// Submissions without a callback URL send nothing.
	wait(t, q, submit(t, q, `{}`).ID)
	time.Sleep(100 * time.Millisecond)
	if calls.Load() != 3 {
		t.Fatalf("%d calls", calls.Load())
	}
}

func TestACallbackIsGivenUpAfterItsTime(t *testing.T) {
	q := open(t, Config{CallbackBackoff: 50 * time.Millisecond, CallbackMaxBackoff: 50 * time.Millisecond, CallbackRetryFor: 300 * time.Millisecond})
	deliver(t, q, func(context.Context, Record) (int, error) { return 500, nil })
	work(t, q, 1, echo)
	rec, err := q.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(`{}`), CallbackURL: "https://example.org/hook"})
	if err != nil {
		t.Fatal(err)
	}
	cb := callbackState(t, q, rec.ID)
	if !cb.GaveUp || cb.DeliveredAt != nil || cb.Attempts < 3 || cb.LastStatus != 500 {
		t.Fatalf("callback %+v", cb)
	}
}

func TestACallbackOutlivesARestart(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	work(t, q, 1, echo)
	rec, err := q.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(`{}`), CallbackURL: "https://example.org/hook"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, q, rec.ID)
	q.Close() // before any deliverer ran
	q = open(t, Config{Dir: dir})
	var got atomic.Int32
	deliver(t, q, func(context.Context, Record) (int, error) { got.Add(1); return 200, nil })
	if cb := callbackState(t, q, rec.ID); cb.Attempts != 1 || got.Load() != 1 {
		t.Fatalf("callback %+v after %d sends", cb, got.Load())
	}
}

func TestCancelSendsTheCallback(t *testing.T) {
	q := open(t, Config{})
	sent := make(chan Record, 1)
	deliver(t, q, func(_ context.Context, rec Record) (int, error) { sent <- rec; return 200, nil })
	rec, err := q.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(`{}`), CallbackURL: "https://example.org/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(context.Background(), rec.ID, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-sent:
		if got.Status != Cancelled {
			t.Fatalf("%+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no callback for a cancelled submission")
	}
}

// A body larger than a message goes through the object store, and is
// removed from it once the submission is final; so does a result larger
// than a record, which Get reads back.
func TestALargeBodyGoesThroughTheObjectStore(t *testing.T) {
	q := open(t, Config{MaxPayload: 1 << 20, MaxBodyBytes: 4 << 20})
	work(t, q, 1, echo)
	body := `"` + strings.Repeat("x", 3<<20) + `"`
	rec, err := q.Submit(context.Background(), Submission{Kind: "judge", Body: json.RawMessage(body)})
	if err != nil {
		t.Fatal(err)
	}
	got := wait(t, q, rec.ID)
	if got.Status != Done || string(got.Result) != body || !got.ResultStored {
		t.Fatalf("status %s, result of %d bytes, stored %v", got.Status, len(got.Result), got.ResultStored)
	}
	if again, _, err := q.Get(context.Background(), rec.ID); err != nil || string(again.Result) != body {
		t.Fatalf("Get: %d bytes, %v", len(again.Result), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := q.bodies.GetInfo(context.Background(), rec.ID)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stored body is still there: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = q.Submit(context.Background(), Submission{Kind: "judge", Body: json.RawMessage(`"` + strings.Repeat("x", 5<<20) + `"`)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a body over MaxBodyBytes: %v", err)
	}
}

// TestProblemStore runs the problem store's contract against JetStream's
// object store on the embedded server.
func TestProblemStore(t *testing.T) {
	q := open(t, Config{})
	s, err := q.Problems(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	problemtest.StoreContract(t, s)
}
