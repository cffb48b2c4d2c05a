package bench

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeMethod records the order of its runs and answers with answer(p).
type fakeMethod struct {
	name   string
	answer func(p Program) string
	mu     *sync.Mutex
	order  *[]string
}

func (f fakeMethod) Name() string { return f.name }

func (f fakeMethod) Run(_ context.Context, p Program) Outcome {
	time.Sleep(100 * time.Microsecond)
	f.mu.Lock()
	*f.order = append(*f.order, f.name)
	f.mu.Unlock()
	return Outcome{Elapsed: 100 * time.Microsecond, Stdout: f.answer(p)}
}

func fakes(names ...string) ([]Method, *[]string) {
	var mu sync.Mutex
	order := new([]string)
	var ms []Method
	for _, n := range names {
		ms = append(ms, fakeMethod{name: n, answer: func(p Program) string { return p.Want }, mu: &mu, order: order})
	}
	return ms, order
}

func newTestReport(programs []Program, methods []Method) *Report {
	r := &Report{Programs: programs}
	for _, p := range programs {
		for _, m := range methods {
			r.Results = append(r.Results, &Result{Program: p.Name, Method: m.Name()})
		}
	}
	return r
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMeasureLatency(t *testing.T) {
	p := Program{Name: "p", Want: "ok\n"}
	t.Run("methods take turns round by round, each round in a rotated order", func(t *testing.T) {
		methods, order := fakes("a", "b", "c")
		r := newTestReport([]Program{p}, methods)
		if err := measureLatency(context.Background(), r, r.Programs, methods, 1, 2, time.Second, 0, quiet); err != nil {
			t.Fatal(err)
		}
		want := []string{"a", "b", "c", "b", "c", "a", "c", "a", "b"}
		if !slices.Equal(*order, want) {
			t.Errorf("order %v, want %v", *order, want)
		}
		for _, res := range r.Results {
			if len(res.Samples) != 2 || res.Errors != 0 {
				t.Errorf("%s: %d samples %d errors, want 2 samples (warm-up runs are not samples)", res.Method, len(res.Samples), res.Errors)
			}
		}
	})
	t.Run("a wrong answer counts as an error and never as a sample", func(t *testing.T) {
		var mu sync.Mutex
		order := new([]string)
		wrong := fakeMethod{name: "wrong", answer: func(Program) string { return "nope\n" }, mu: &mu, order: order}
		r := newTestReport([]Program{p}, []Method{wrong})
		if err := measureLatency(context.Background(), r, r.Programs, []Method{wrong}, 1, 3, time.Second, 0, quiet); err != nil {
			t.Fatal(err)
		}
		res := r.Result("p", "wrong")
		if len(res.Samples) != 0 || res.Errors != 3 || res.WarmupErrors != 1 || len(res.ErrorExamples) == 0 {
			t.Errorf("samples %d errors %d warm-up errors %d examples %v", len(res.Samples), res.Errors, res.WarmupErrors, res.ErrorExamples)
		}
	})
	t.Run("a cancelled context stops the rounds", func(t *testing.T) {
		methods, _ := fakes("a")
		r := newTestReport([]Program{p}, methods)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := measureLatency(ctx, r, r.Programs, methods, 0, 5, time.Second, 0, quiet); err == nil {
			t.Error("no error after cancel")
		}
	})
}

func TestMeasureThroughput(t *testing.T) {
	p := Program{Name: "p", Want: "ok\n"}
	t.Run("a run count is honoured exactly across workers", func(t *testing.T) {
		methods, order := fakes("a")
		got, failures := measureThroughput(context.Background(), methods[0], p, 4, 10, 0, time.Second)
		if got.Runs != 10 || got.Errors != 0 || len(*order) != 10 || len(failures) != 0 || got.Concurrency != 4 || got.PerSecond <= 0 {
			t.Errorf("got %+v after %d runs", got, len(*order))
		}
	})
	t.Run("a duration runs until it has passed", func(t *testing.T) {
		methods, _ := fakes("a")
		start := time.Now()
		got, _ := measureThroughput(context.Background(), methods[0], p, 2, 0, 50*time.Millisecond, time.Second)
		if took := time.Since(start); took < 50*time.Millisecond || got.Runs < 2 {
			t.Errorf("got %+v after %s", got, took)
		}
	})
	t.Run("wrong answers are counted as errors", func(t *testing.T) {
		var mu sync.Mutex
		wrong := fakeMethod{name: "wrong", answer: func(Program) string { return "" }, mu: &mu, order: new([]string)}
		got, failures := measureThroughput(context.Background(), wrong, p, 2, 4, 0, time.Second)
		if got.Runs != 0 || got.Errors != 4 || len(failures) != 4 {
			t.Errorf("got %+v", got)
		}
	})
}
