package judge

import (
	"cmp"
	"time"
)

// TestOverhead is what a test may cost beyond its time limit and its
// checker's: starting its process in the lane, killing what is left of it,
// scrubbing the lane, and on a failed scrub a fresh sandbox for the lane.
// On the project's 2-core machines that is tens of milliseconds, and a
// fresh lane sandbox a few hundred: a second leaves room for a machine
// several times slower, and a bound that is too long only delays the cut
// of an answer that something else has already lost.
const TestOverhead = time.Second

// TestsBound bounds how long the tests of req take once their batch is
// open with lanes lanes: each lane takes the next test as soon as it is
// done with one, and no test takes longer than M (its time limit, its
// checker's, and TestOverhead), so the last test starts before every lane
// has run ceil(tests/lanes)-1 tests each, and ends at most M later:
// ceil(tests/lanes) × M in all. A test's time limit is its own, else the
// request's, else opt.DefaultTimeout.
func TestsBound(req Request, opt Options, lanes int) time.Duration {
	if lanes < 1 {
		lanes = 1
	}
	var longest time.Duration
	for _, t := range req.Tests {
		longest = max(longest, testTimeout(req, opt, t))
	}
	per := longest + TestOverhead
	if req.Checker != nil || req.Validator != nil {
		// A checker or validator after the program; an interactive
		// validator runs beside it, but may outlive it by as much.
		per += opt.CheckerTimeout + TestOverhead
	}
	rounds := (len(req.Tests) + lanes - 1) / lanes
	return time.Duration(rounds) * per
}

// testTimeout is test t's time limit: its own, else the request's, else
// the service's (validation keeps each positive or unset).
func testTimeout(req Request, opt Options, t Test) time.Duration {
	return cmp.Or(t.Timeout, req.Limits.Timeout, opt.DefaultTimeout)
}
