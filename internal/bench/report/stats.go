package report

import (
	"math"
	"slices"
)

// Latency summarises the samples of one (program, method) in milliseconds.
// With no samples every figure is zero and N says so.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Min  float64 `json:"min_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summarize returns the latency figures of ms, which it does not modify.
func Summarize(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return Latency{
		N:    len(s),
		P50:  Percentile(s, 50),
		P95:  Percentile(s, 95),
		P99:  Percentile(s, 99),
		Min:  s[0],
		Max:  s[len(s)-1],
		Mean: sum / float64(len(s)),
	}
}

// Percentile returns the p-th percentile (0 to 100) of sorted, interpolating
// linearly between the two nearest ranks (the definition of R's type 7 and
// NumPy's default). It returns NaN for an empty slice; p outside 0..100 is
// clamped.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	p = max(0, min(100, p))
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(rank-float64(lo))
}

// Median of xs (Summarize's p50); 0 for none.
func Median(xs []float64) float64 { return Summarize(xs).P50 }
