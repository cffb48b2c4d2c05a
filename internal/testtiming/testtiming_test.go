package testtiming

import (
	"testing"
	"time"
)

func TestWantBusy(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name            string
		cpu, wall, idle time.Duration
		ok              bool
	}{
		{"a spinning program on an idle machine takes its core", 2 * s, 2 * s, 2200 * time.Millisecond, true},
		{"a spinning program starved by other work leaves no idle time", 600 * time.Millisecond, 2 * s, 50 * time.Millisecond, true},
		{"a program that never ran leaves the machine idle", 10 * time.Millisecond, 2 * s, 4 * s, false},
		{"a program that ran a tenth of the time on a half idle machine", 200 * time.Millisecond, 2 * s, 2 * s, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := WantBusy(tc.cpu, tc.wall, tc.idle); (got == "") != tc.ok {
				t.Errorf("WantBusy(%s, %s, %s) = %q, want ok %v", tc.cpu, tc.wall, tc.idle, got, tc.ok)
			}
		})
	}
}

func TestOverOneCore(t *testing.T) {
	if OverOneCore(2050*time.Millisecond, 2*time.Second) {
		t.Error("2.05 s of CPU in 2 s is one core")
	}
	if !OverOneCore(3*time.Second, 2*time.Second) {
		t.Error("3 s of CPU in 2 s is more than one core")
	}
}

func TestScaleFromEnv(t *testing.T) {
	for v, want := range map[string]float64{"": 1, "1": 1, "40": 40, "2.5": 2.5} {
		t.Setenv(ScaleEnv, v)
		if got := scaleFromEnv(); got != want {
			t.Errorf("%s=%q: scale %v, want %v", ScaleEnv, v, got, want)
		}
	}
	for _, v := range []string{"0", "-1", "x", "NaN", "Inf"} {
		t.Setenv(ScaleEnv, v)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s=%q: no panic", ScaleEnv, v)
				}
			}()
			scaleFromEnv()
		}()
	}
}
