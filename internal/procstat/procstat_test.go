package procstat

import "testing"

func TestCPUReadsABootedMachine(t *testing.T) {
	busy, idle := CPU()
	// Every machine that booted has spent time both busy and idle.
	if busy <= 0 || idle <= 0 {
		t.Fatalf("busy %s idle %s", busy, idle)
	}
}
