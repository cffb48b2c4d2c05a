package lane

import (
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

func TestBFirstPutsCausesBeforeReaps(t *testing.T) {
	ms := time.Millisecond
	out := func(end, killed time.Duration, signal string) Outcome {
		return Outcome{Execution: &sandbox.Execution{Signal: signal}, End: end, KilledAt: killed}
	}
	exited := func(o Outcome, at time.Duration) Outcome { o.Exited = at; return o }
	tests := []struct {
		name string
		a, b Outcome
		want bool
	}{
		{"a killed at its limit after b had ended", out(2005*ms, 2000*ms, "SIGKILL"), out(10*ms, 0, ""), true},
		// b read end-of-file once a was killed, and its agent reaped it
		// before a's agent reaped a.
		{"a killed at its limit, b ended after", out(2009*ms, 2000*ms, "SIGKILL"), out(2003*ms, 0, ""), false},
		// a wrote after b was gone, and its agent was the quicker.
		{"a killed by SIGPIPE", out(100*ms, 0, "SIGPIPE"), out(101*ms, 0, ""), true},
		// b exited first by the kernel's record, although a's agent
		// reaped a sooner.
		{"the exits by the scheduler's clock", exited(out(100*ms, 0, ""), 50*ms), exited(out(101*ms, 0, ""), 49*ms), true},
		{"the exits by the scheduler's clock, a first", exited(out(101*ms, 0, ""), 49*ms), exited(out(100*ms, 0, ""), 50*ms), false},
		{"otherwise the reaps' order", out(100*ms, 0, ""), out(101*ms, 0, ""), false},
		{"otherwise the reaps' order, b first", out(101*ms, 0, ""), out(100*ms, 0, ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BFirst(tt.a, tt.b); got != tt.want {
				t.Errorf("BFirst = %v, want %v", got, tt.want)
			}
		})
	}
}
