package report

import (
	"encoding/json"
	"iter"
	"time"
)

// Report is everything one benchmark run measured, with every sample.
type Report struct {
	Date      time.Time           `json:"date"`
	Machine   Machine             `json:"machine"`
	Settings  Settings            `json:"settings"`
	Programs  []Program           `json:"programs"`
	Methods   []string            `json:"methods"`           // measured, in report order
	Skipped   map[string]string   `json:"skipped,omitempty"` // method → why it was not measured
	Notes     []string            `json:"notes,omitempty"`
	Results   []*Result           `json:"results"`
	Leftovers map[string][]string `json:"leftovers,omitempty"` // instance → what it left behind
	Judge     []JudgeResult       `json:"judge,omitempty"`
	Problems  *ProblemResult      `json:"problems,omitempty"`
}

// Settings are the parameters a run was made with.
type Settings struct {
	Runs               int      `json:"runs"`
	Warmup             int      `json:"warmup"`
	Concurrency        int      `json:"concurrency"`
	ThroughputDuration string   `json:"throughput_duration,omitempty"`
	ThroughputRuns     int      `json:"throughput_runs,omitempty"`
	Namespace          string   `json:"namespace"`
	ColdArgs           []string `json:"cold_args"`
	WarmArgs           []string `json:"warm_args"`
	ServeArgs          []string `json:"serve_args,omitempty"`
	BarePCH            bool     `json:"bare_pch"`
	ProcessAccounting  bool     `json:"process_accounting,omitempty"`
	Gap                string   `json:"gap,omitempty"` // pause before each latency run
}

// Result is what one (program, method) measured.
type Result struct {
	Program       string       `json:"program"`
	Method        string       `json:"method"`
	Latency       Latency      `json:"latency"`
	Errors        int          `json:"errors"` // measured runs that failed or answered wrong
	WarmupErrors  int          `json:"warmup_errors"`
	ErrorExamples []string     `json:"error_examples,omitempty"`
	Throughput    []Throughput `json:"throughput,omitempty"`
	// RatioToWarm and RatioToDocker are this p50 over the warm (docker) p50
	// of the same program; absent when that has no samples.
	RatioToWarm   *float64 `json:"ratio_to_warm_p50,omitempty"`
	RatioToDocker *float64 `json:"ratio_to_docker_p50,omitempty"`
	Samples       []Sample `json:"samples"`
}

// Sample is one correct run.
type Sample struct {
	MS     float64            `json:"ms"`               // client-side wall time
	Server map[string]float64 `json:"server,omitempty"` // the service's own *_ms timings
}

// Throughput is runs per second at one concurrency.
type Throughput struct {
	Concurrency int     `json:"concurrency"`
	Runs        int     `json:"runs"` // correct runs
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	// CPU is where the machine's CPU went, per correct run.
	CPU *CPUPerRun `json:"cpu,omitempty"`
	// Processes is the CPU of the processes that exited meanwhile, by
	// command, per correct run (with --process-accounting).
	Processes []CommandCPU `json:"processes,omitempty"`
}

// MaxErrorExamples caps the error messages a Result keeps.
const MaxErrorExamples = 5

// Result returns the Result of (program, method), or nil.
func (r *Report) Result(program, method string) *Result {
	for _, res := range r.Results {
		if res.Program == program && res.Method == method {
			return res
		}
	}
	return nil
}

// AddError counts err and keeps its message if few are kept so far.
func (res *Result) AddError(err error, warmup bool) {
	if warmup {
		res.WarmupErrors++
	} else {
		res.Errors++
	}
	if len(res.ErrorExamples) < MaxErrorExamples {
		res.ErrorExamples = append(res.ErrorExamples, err.Error())
	}
}

// throughputs yields every throughput measurement with its Result, in
// report order: by program, then method, then concurrency.
func (r *Report) throughputs() iter.Seq2[*Result, *Throughput] {
	return func(yield func(*Result, *Throughput) bool) {
		for _, p := range r.Programs {
			for _, m := range r.Methods {
				res := r.Result(p.Name, m)
				if res == nil {
					continue
				}
				for i := range res.Throughput {
					if !yield(res, &res.Throughput[i]) {
						return
					}
				}
			}
		}
	}
}

// throughputAt returns the throughput measured at concurrency c, or nil.
func (res *Result) throughputAt(c int) *Throughput {
	for i := range res.Throughput {
		if res.Throughput[i].Concurrency == c {
			return &res.Throughput[i]
		}
	}
	return nil
}

// Finish computes every Result's latency figures and its ratios to the warm
// and docker p50 of the same program.
func (r *Report) Finish() {
	for _, res := range r.Results {
		ms := make([]float64, len(res.Samples))
		for i, s := range res.Samples {
			ms[i] = s.MS
		}
		res.Latency = Summarize(ms)
	}
	ratio := func(res *Result, method string) *float64 {
		base := r.Result(res.Program, method)
		if base == nil || base.Latency.N == 0 || res.Latency.N == 0 || base.Latency.P50 <= 0 {
			return nil
		}
		v := res.Latency.P50 / base.Latency.P50
		return &v
	}
	for _, res := range r.Results {
		res.RatioToWarm = ratio(res, MethodWarm)
		res.RatioToDocker = ratio(res, MethodDocker)
	}
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	return json.MarshalIndent(r, "", "  ")
}
