package runner

import (
	"errors"
	"time"

	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

// Status classifies how a run ended. It describes the user's program, not the
// service: every Status is a successful execution from the service's side.
type Status string

// The statuses a Result can carry, in the order Classify checks them.
const (
	StatusSuccess             Status = "success"
	StatusRuntimeError        Status = "runtime_error"
	StatusTimeout             Status = "timeout"
	StatusCompileError        Status = "compile_error"
	StatusMemoryLimitExceeded Status = "memory_limit_exceeded"
	StatusOutputLimitExceeded Status = "output_limit_exceeded"
)

// Statuses lists every Status, for the API's contract.
var Statuses = []Status{StatusSuccess, StatusRuntimeError, StatusTimeout, StatusCompileError,
	StatusMemoryLimitExceeded, StatusOutputLimitExceeded}

// Request is one program to run.
type Request struct {
	Language string // a key of the configured languages, e.g. "python"
	Code     string // the source file's content
	Input    string // bytes written to the program's stdin, then EOF
	Limits   Limits // zero fields take the configured defaults
	// Args are appended to the language's run command: the program's
	// command-line arguments. A run with arguments is never a warm one
	// (a prestarted interpreter has its command line already).
	Args []string
	// Files are written beside the source before the build, by plain
	// name other than the source's: a program of several files.
	Files map[string]string
}

// Limits are the per-request limits a client may set, each at most the
// configured maximum. A zero field means the default.
type Limits struct {
	Timeout            time.Duration
	MemoryBytes        int64
	Pids               int64
	OutputBytes        int
	CompileTimeout     time.Duration
	CompileMemoryBytes int64
}

// Result is what the sandbox observed. A program that crashes, times out or
// fails to compile still yields a Result and a nil error.
type Result struct {
	ID              string
	Status          Status
	Stdout          string
	Stderr          string
	StdoutTruncated bool
	StderrTruncated bool
	ExitCode        *int          // nil when the process was killed by a signal
	Signal          string        // e.g. "SIGKILL"; empty when it exited normally
	CompileOutput   string        // compiler diagnostics, compiled languages only
	Time            time.Duration // wall time of the run phase
	CompileTime     time.Duration
	QueueTime       time.Duration
	PrepareTime     time.Duration // creating the sandboxes on the cold path; 0 when warm
	Warm            bool          // the sandboxes came from the warm pool
	CPUTime         time.Duration // user+system CPU time of the run phase's cgroup
	MemoryPeakBytes int64         // peak memory of the run phase's cgroup; 0 if unknown
	OOMKilled       bool          // the kernel's OOM killer killed a process of the run
	// Feedback is a batch run's feedback directory after the run
	// (Program.Feedback): file name to contents.
	Feedback map[string]string
}

// ErrUnknownLanguage is returned when Request.Language names no configured language.
var ErrUnknownLanguage = errors.New("unknown language")

// ErrUnavailable is returned when containerd cannot be reached.
var ErrUnavailable = sandbox.ErrUnavailable

// ErrInvalidLimits is returned when a request's limits exceed the maxima.
var ErrInvalidLimits = errors.New("invalid limits")

// ErrInvalidRequest is returned for a request that cannot run as asked
// (a program file's name that is not a plain one).
var ErrInvalidRequest = errors.New("invalid request")

// ErrBusy is returned when every sandbox slot stayed taken for the whole queue timeout.
var ErrBusy = errors.New("all sandboxes busy")
