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
	closed := func(a, b time.Duration) Transcript { return Transcript{AClosed: a, BClosed: b} }
	tests := []struct {
		name string
		a, b Outcome
		t    Transcript
		want bool
	}{
		{"a killed at its limit after b had ended", out(2005*ms, 2000*ms, "SIGKILL"), out(10*ms, 0, ""), Transcript{}, true},
		// b read end-of-file once a was killed, and its agent reaped it
		// before a's agent reaped a.
		{"a killed at its limit, b ended after", out(2009*ms, 2000*ms, "SIGKILL"), out(2003*ms, 0, ""), Transcript{}, false},
		// a wrote after b was gone, and its agent was the quicker.
		{"a killed by SIGPIPE", out(100*ms, 0, "SIGPIPE"), out(101*ms, 0, ""), Transcript{}, true},
		// b exited first by the kernel's record, although a's agent
		// reaped a sooner.
		{"the exits by the scheduler's clock", exited(out(100*ms, 0, ""), 50*ms), exited(out(101*ms, 0, ""), 49*ms), Transcript{}, true},
		{"the exits by the scheduler's clock, a first", exited(out(101*ms, 0, ""), 49*ms), exited(out(100*ms, 0, ""), 50*ms), Transcript{}, false},
		// b's stdout closed first as the service saw it, although a's
		// exit looks first by the scheduler's clock (b was preempted
		// inside its exit): b ended first, and a's crash followed.
		{"the closes' order before the exits'", exited(out(100*ms, 0, ""), 49*ms), exited(out(101*ms, 0, ""), 50*ms), closed(48*ms, 47*ms), true},
		{"the closes' order, a first", exited(out(100*ms, 0, ""), 50*ms), exited(out(101*ms, 0, ""), 49*ms), closed(47*ms, 48*ms), false},
		{"a killed at its limit comes before the closes", out(2009*ms, 2000*ms, "SIGKILL"), out(2003*ms, 0, ""), closed(2001*ms, 1000*ms), false},
		{"otherwise the reaps' order", out(100*ms, 0, ""), out(101*ms, 0, ""), Transcript{}, false},
		{"otherwise the reaps' order, b first", out(101*ms, 0, ""), out(100*ms, 0, ""), Transcript{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BFirst(tt.a, tt.b, tt.t); got != tt.want {
				t.Errorf("BFirst = %v, want %v", got, tt.want)
			}
		})
	}
}
