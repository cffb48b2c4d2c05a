package report

import (
	"math"
	"slices"
	"testing"
)

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"a single sample is every percentile", []float64{7}, 99, 7},
		{"p0 is the minimum", ten, 0, 1},
		{"p100 is the maximum", ten, 100, 10},
		{"p50 of an even count interpolates between the middle two", ten, 50, 5.5},
		{"p95 interpolates between the nearest ranks", ten, 95, 9.55},
		{"p99 of ten samples lies just below the maximum", ten, 99, 9.91},
		{"p above 100 is clamped", ten, 150, 10},
		{"p below 0 is clamped", ten, -5, 1},
		{"p50 of two samples is their mean", []float64{10, 20}, 50, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
	t.Run("no samples give NaN", func(t *testing.T) {
		if got := Percentile(nil, 50); !math.IsNaN(got) {
			t.Errorf("got %v, want NaN", got)
		}
	})
}

func TestSummarize(t *testing.T) {
	t.Run("unsorted samples are summarised without being reordered", func(t *testing.T) {
		in := []float64{30, 10, 20, 40}
		got := Summarize(in)
		want := Latency{N: 4, P50: 25, P95: 38.5, P99: 39.7, Min: 10, Max: 40, Mean: 25}
		if math.Abs(got.P99-want.P99) > 1e-9 || math.Abs(got.P95-want.P95) > 1e-9 {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		got.P95, got.P99 = want.P95, want.P99
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if !slices.Equal(in, []float64{30, 10, 20, 40}) {
			t.Errorf("input changed to %v", in)
		}
	})
	t.Run("no samples give zero figures and N 0", func(t *testing.T) {
		if got := Summarize(nil); got != (Latency{}) {
			t.Errorf("got %+v", got)
		}
	})
}
