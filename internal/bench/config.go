package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

// Defaults of the benchmark.
const (
	DefaultRuns               = 50
	DefaultWarmup             = 5
	DefaultConcurrency        = 4
	DefaultThroughputDuration = 10 * time.Second
	DefaultPoolSize           = 4
	DefaultRunTimeout         = time.Minute
	DefaultShutdownTimeout    = time.Minute
	DefaultImagesDir          = "/var/cache/codeexec/images"
)

// Config is every setting of a benchmark run.
type Config struct {
	Runs   int // measured runs per (program, method)
	Warmup int // unmeasured runs per (program, method) before them
	// Gap is a pause before each latency run, so that each is a single
	// request on an otherwise idle machine (0: back to back).
	Gap         time.Duration
	Concurrency int // the N of "throughput at concurrency 1 and N"
	// Each throughput measurement lasts ThroughputDuration, or is
	// ThroughputRuns runs when that is positive. Both zero: none.
	ThroughputDuration time.Duration
	ThroughputRuns     int
	// JudgeRounds rounds of one POST /judge of JudgeTests tests against
	// JudgeTests POST /run requests, per language, on the warm instance
	// (docs/judge.md); 0 rounds: none.
	JudgeTests, JudgeRounds int
	// ProblemRounds rounds of the problem measurement (ProblemResult) on
	// the warm instance: a package of ProblemTests tests, and an
	// interactive test of RoundTrips round trips; 0 rounds: none.
	ProblemTests, ProblemRounds, RoundTrips int

	Programs []string // names from AllPrograms()
	Methods  []string // names from AllMethods(); all when empty

	Binary string // the codeexec binary the service instances run
	Socket string // containerd's socket, for the instances and ctr
	// BaselineSocket is the baseline stack's containerd (MethodBaseCold,
	// MethodBaseWarm), whose instances run with runc; none when empty.
	BaselineSocket string
	// BaselineBinary, when set, makes base-cold and base-warm another
	// build of codeexec (an earlier commit's) on this stack, Socket, with
	// the same flags as cold and warm: the two builds measured side by side
	// in one run. It replaces BaselineSocket.
	BaselineBinary string
	Namespace      string   // containerd namespace holding the images
	ColdArgs       []string // serve flags of the cold instance only
	WarmArgs       []string // serve flags of the warm instance only
	ServeArgs      []string // serve flags of both instances
	LogDir         string   // where the instances' logs go; a temporary directory when empty

	Ctr        string // the ctr binary
	Docker     string // the docker binary
	ImagesDir  string // OCI archives to `docker load` when the engine lacks an image
	HostPython string // the bare method's interpreter
	HostGxx    string // the bare method's compiler
	BarePCH    bool   // precompile <bits/stdc++.h> for the bare method, as the cpp image does
	// ProcessAccounting turns the kernel's process accounting on during
	// each throughput measurement, to report the CPU of short-lived
	// processes (runc, shims, the programs) by command. It takes
	// accounting over from anything else that uses it.
	ProcessAccounting bool

	RunTimeout      time.Duration // of one run of any method
	ShutdownTimeout time.Duration // how long an instance may take to stop after SIGTERM
}

// DefaultConfig returns the defaults: the warm instance with a pool of
// DefaultPoolSize per language, the cold one with none.
func DefaultConfig() Config {
	return Config{
		Runs:               DefaultRuns,
		Warmup:             DefaultWarmup,
		Concurrency:        DefaultConcurrency,
		ThroughputDuration: DefaultThroughputDuration,
		JudgeTests:         100,
		JudgeRounds:        3,
		ProblemTests:       50,
		ProblemRounds:      3,
		RoundTrips:         1000,
		Programs:           ProgramNames(),
		Methods:            AllMethods(),
		Socket:             runner.DefaultSocket,
		Namespace:          runner.DefaultNamespace,
		ColdArgs:           []string{"--pool-size", "0"},
		WarmArgs:           []string{"--pool-size", fmt.Sprint(DefaultPoolSize)},
		Ctr:                "ctr",
		Docker:             "docker",
		ImagesDir:          DefaultImagesDir,
		HostPython:         defaultHostPython(),
		HostGxx:            "g++",
		BarePCH:            true,
		RunTimeout:         DefaultRunTimeout,
		ShutdownTimeout:    DefaultShutdownTimeout,
	}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Runs < 1 {
		errs = append(errs, fmt.Errorf("runs %d: must be at least 1", c.Runs))
	}
	if c.Gap < 0 {
		errs = append(errs, fmt.Errorf("gap %s: must not be negative", c.Gap))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warm-up runs %d: must not be negative", c.Warmup))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: must be at least 1", c.Concurrency))
	}
	if c.ThroughputDuration < 0 || c.ThroughputRuns < 0 {
		errs = append(errs, errors.New("throughput duration and runs must not be negative"))
	}
	if len(c.Programs) == 0 {
		errs = append(errs, fmt.Errorf("no programs: choose from %v", AllProgramNames()))
	}
	for _, p := range c.Programs {
		if !slices.Contains(AllProgramNames(), p) {
			errs = append(errs, fmt.Errorf("unknown program %q: choose from %v", p, AllProgramNames()))
		}
	}
	if len(c.Methods) == 0 {
		errs = append(errs, fmt.Errorf("no methods: choose from %v", AllMethods()))
	}
	for _, m := range c.Methods {
		if !slices.Contains(AllMethods(), m) {
			errs = append(errs, fmt.Errorf("unknown method %q: choose from %v", m, AllMethods()))
		}
	}
	if (slices.Contains(c.Methods, MethodCold) || slices.Contains(c.Methods, MethodWarm)) && c.Binary == "" {
		errs = append(errs, errors.New("no codeexec binary for the service instances"))
	}
	if c.Socket == "" || c.Namespace == "" {
		errs = append(errs, errors.New("containerd socket and namespace must be set"))
	}
	if c.RunTimeout <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("run and shutdown timeouts must be positive"))
	}
	return errors.Join(errs...)
}

// programs returns the chosen programs, in the order of AllPrograms().
func (c Config) programs() []Program {
	var out []Program
	for _, p := range AllPrograms() {
		if slices.Contains(c.Programs, p.Name) {
			out = append(out, p)
		}
	}
	return out
}

// concurrencies are the concurrencies throughput is measured at.
func (c Config) concurrencies() []int {
	if c.ThroughputRuns == 0 && c.ThroughputDuration == 0 {
		return nil
	}
	if c.Concurrency == 1 {
		return []int{1}
	}
	return []int{1, c.Concurrency}
}

// defaultHostPython prefers the distribution's interpreter, the one the
// python image ships too, over whatever comes first on PATH (a pyenv shim,
// for one, is a shell script that adds its own start-up to every run).
func defaultHostPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}
