package report

import "fmt"

// Program is one benchmark program: what to send to POST /run and the exact
// stdout a correct run prints.
type Program struct {
	Name     string `json:"name"`
	Language string `json:"language"` // as POST /run names it: "python" or "cpp"
	Code     string `json:"code"`
	Input    string `json:"input,omitempty"`
	Want     string `json:"want"`
}

// Machine describes the host a report was measured on. A figure that could
// not be found is empty.
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	OS          string `json:"os"`
	Kernel      string `json:"kernel"`
	Containerd  string `json:"containerd"`
	// BaselineContainerd is the version of the baseline stack's daemon
	// (Config.BaselineSocket), when there is one.
	BaselineContainerd string `json:"baseline_containerd,omitempty"`
	Runc               string `json:"runc"`
	Crun               string `json:"crun,omitempty"`
	Docker             string `json:"docker,omitempty"`
	Go                 string `json:"go"`
}

// short is a one-line description for the report's first sentence.
func (m Machine) short() string {
	return fmt.Sprintf("%s, %d cores, %.1f GiB, kernel %s", orDash(m.CPU), m.Cores, float64(m.MemoryBytes)/(1<<30), orDash(m.Kernel))
}

// CPUPerRun is where the machine's CPU time went during one throughput
// measurement, in milliseconds per correct run. It is the profile that
// explains a throughput: with every core busy, throughput is at most
// cores × 1000 / TotalMS runs per second.
type CPUPerRun struct {
	TotalMS      float64 `json:"total_ms"`      // every CPU of the machine, from /proc/stat
	SandboxesMS  float64 `json:"sandboxes_ms"`  // the containers' cgroups: the programs, their runtime, tini, runc's in-container setup
	ServiceMS    float64 `json:"service_ms"`    // the codeexec instance serving the method
	ContainerdMS float64 `json:"containerd_ms"` // containerd daemons
	ClientMS     float64 `json:"client_ms"`     // the benchmark itself, and what it runs directly (bare programs, ctr, docker clients)
	OtherMS      float64 `json:"other_ms"`      // the rest: shims, runc, the kernel's own threads, other processes
	BusyCores    float64 `json:"busy_cores"`    // average cores busy during the measurement
}

// CommandCPU is what the processes of one command name that exited during a
// throughput measurement cost, per correct run, from the kernel's process
// accounting. Short-lived processes (runc, shims starting, the programs)
// leave no other trace of their CPU time.
type CommandCPU struct {
	Command   string  `json:"command"`
	Processes float64 `json:"processes_per_run"`
	CPUMS     float64 `json:"cpu_ms_per_run"`
}

// JudgeResult compares, for one language, one POST /judge request of
// Tests a+b tests with Tests POST /run requests of the same programs and
// inputs sent by one client one after the other, against the same warm
// instance, alternating round by round.
type JudgeResult struct {
	Method   string    `json:"method,omitempty"` // the instance measured: warm, or base-warm for another build
	Language string    `json:"language"`
	Tests    int       `json:"tests"`
	JudgeMS  []float64 `json:"judge_ms"` // wall time of each /judge request
	RunsMS   []float64 `json:"runs_ms"`  // wall time of each round of /run requests
	// Machine CPU per test (every process on the machine), median of the rounds.
	JudgeCPUMSPerTest float64 `json:"judge_machine_cpu_ms_per_test"`
	RunCPUMSPerTest   float64 `json:"run_machine_cpu_ms_per_test"`
	CompileMS         float64 `json:"compile_ms"` // the /judge request's own compile, median
	Speedup           float64 `json:"speedup"`    // median /run round over median /judge request
}

// ProblemResult measures problem packages (docs/problems.md) on one
// instance: a package of Tests a+b tests judged by the Kattis default
// validator (in the service) and by a C++ output validator (a process per
// test in a sandbox of its own per lane), alternating round by round;
// and an interactive test of RoundTrips round trips between a C++
// validator and a C++ echo, timed by the validator.
type ProblemResult struct {
	Method      string    `json:"method,omitempty"`
	Tests       int       `json:"tests"`
	SmallTests  int       `json:"small_tests"`        // the smaller package, for the marginal cost of a test
	DefaultMS   []float64 `json:"default_judge_ms"`   // wall time of each judgement, default validation
	ValidatorMS []float64 `json:"validator_judge_ms"` // and with the C++ validator
	// Machine CPU per test (every process on the machine), median of the
	// rounds, and the submission's own (its cgroup's, as the answer says).
	DefaultCPUMSPerTest      float64 `json:"default_machine_cpu_ms_per_test"`
	ValidatorCPUMSPerTest    float64 `json:"validator_machine_cpu_ms_per_test"`
	SubmissionCPUMSPerTest   float64 `json:"submission_cpu_ms_per_test"`
	ValidatorOwnCPUMSPerTest float64 `json:"validator_own_cpu_ms_per_test"` // the validator's cgroup's, as the answer says
	// The marginal machine CPU of one more test: the two sizes'
	// difference over their tests' difference, without what a judgement
	// costs once (builds, the lanes' sandboxes).
	DefaultMarginalCPUMS   float64 `json:"default_marginal_cpu_ms_per_test"`
	ValidatorMarginalCPUMS float64 `json:"validator_marginal_cpu_ms_per_test"`
	RoundTrips             int     `json:"round_trips"`
	// One line each way, from the validator's write to its read of the
	// echo: medians of the rounds' p50 and p90.
	RoundTripP50US float64 `json:"round_trip_p50_us"`
	RoundTripP90US float64 `json:"round_trip_p90_us"`
}

// BeyondPrograms is a test's marginal machine CPU with the validator
// beyond the two programs' own (the submission's and the validator's
// cgroups'): what judging costs the machine on top of what the programs
// do. The figures are whole milliseconds per test in the answer, cut
// down, so the programs' share is low and this is high by up to 1 ms.
func (p ProblemResult) BeyondPrograms() float64 {
	return p.ValidatorMarginalCPUMS - p.SubmissionCPUMSPerTest - p.ValidatorOwnCPUMSPerTest
}

// Names of the methods, in the order the report lists them.
const (
	MethodBare   = "bare"
	MethodCold   = "cold"
	MethodWarm   = "warm"
	MethodCtr    = "ctr"
	MethodDocker = "docker"
	// The same service on the baseline stack (Config.BaselineSocket):
	// containerd 1.6 with runc and a snapshot view per sandbox, as the
	// service ran before issue 11, measured side by side with the current
	// one.
	MethodBaseCold = "base-cold"
	MethodBaseWarm = "base-warm"
	// The warm service's asynchronous API: POST /submissions?wait=, the
	// same program queued, run by a worker, and answered when done.
	MethodAsync = "async"
	// The warm service through Piston v2's API (POST /api/v2/execute):
	// what the facade costs over /run, side by side.
	MethodPiston = "piston"
	// The warm service through Judge0 CE's API (POST
	// /judge0/submissions?wait=true): what that facade costs, side by side.
	MethodJudge0 = "judge0"
	// The warm service with --exec-every-test: judged tests start their
	// interpreter with exec instead of forking it from a parent started
	// once per lane, measured side by side with warm's forked ones.
	MethodWarmExec = "warm-exec"
)

// AllMethods lists every method, in report order.
func AllMethods() []string {
	return []string{MethodBare, MethodBaseCold, MethodCold, MethodBaseWarm, MethodWarm, MethodWarmExec, MethodAsync, MethodPiston, MethodJudge0, MethodCtr, MethodDocker}
}
