package judge

import (
	"context"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

func TestTestsBound(t *testing.T) {
	opt := Options{CheckerTimeout: 5 * time.Second, DefaultTimeout: 2 * time.Second}
	n := func(count int, timeout time.Duration) []Test {
		out := make([]Test, count)
		for i := range out {
			out[i].Timeout = timeout
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		req   Request
		lanes int
		want  time.Duration
	}{
		{"one test, the default limit", Request{Tests: n(1, 0)}, 3, 2*time.Second + TestOverhead},
		{"the request's limit", Request{Tests: n(1, 0), Limits: runner.Limits{Timeout: 4 * time.Second}}, 3, 4*time.Second + TestOverhead},
		{"the longest test's own limit wins", Request{Tests: append(n(3, time.Second), Test{Timeout: 7 * time.Second}),
			Limits: runner.Limits{Timeout: 4 * time.Second}}, 4, 7*time.Second + TestOverhead},
		{"tests ÷ lanes, rounded up", Request{Tests: n(90, 3*time.Second)}, 3, 30 * (3*time.Second + TestOverhead)},
		{"one more test is one more round", Request{Tests: n(91, 3*time.Second)}, 3, 31 * (3*time.Second + TestOverhead)},
		{"one lane runs them all", Request{Tests: n(5, time.Second)}, 1, 5 * (time.Second + TestOverhead)},
		{"no lane counts as one", Request{Tests: n(2, time.Second)}, 0, 2 * (time.Second + TestOverhead)},
		{"a checker runs after each test", Request{Tests: n(4, time.Second), Checker: &Checker{Language: "cpp", Code: "x"}}, 2,
			2 * (time.Second + 5*time.Second + 2*TestOverhead)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TestsBound(tc.req, opt, tc.lanes); got != tc.want {
				t.Errorf("TestsBound = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestTestsBoundHoldsForGreedyLanes checks the bound's argument on lanes
// that take the next test as they finish one: however the test times
// mix, the last test ends within ceil(tests/lanes) × the longest.
func TestTestsBoundHoldsForGreedyLanes(t *testing.T) {
	for _, times := range [][]int{{10, 1, 1, 1, 1, 10, 10}, {1, 10, 10, 10}, {3, 3, 3, 3, 3}, {10, 1, 10, 1, 10, 1, 10}} {
		for lanes := 1; lanes <= 4; lanes++ {
			free := make([]int, lanes) // when each lane is next free
			end := 0
			for _, d := range times {
				l := 0
				for i := range free {
					if free[i] < free[l] {
						l = i
					}
				}
				free[l] += d
				end = max(end, free[l])
			}
			if bound := (len(times) + lanes - 1) / lanes * 10; end > bound {
				t.Errorf("times %v on %d lanes end at %d, past the bound %d", times, lanes, end, bound)
			}
		}
	}
}

func TestJudgeTellsTheLanesItGot(t *testing.T) {
	f := &fakeSandboxes{run: echo, lanes: 1}
	got := 0
	opt := opts
	opt.Opened = func(lanes int) { got = lanes }
	if _, err := Judge(context.Background(), f, Request{Tests: tests("a", "a", "b", "b")}, opt); err != nil {
		t.Fatal(err)
	}
	if got != 1 {
		t.Errorf("Opened got %d lanes, want the 1 the batch had", got)
	}
}
