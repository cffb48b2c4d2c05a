package runner

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
)

// Defaults of the runner.
const (
	DefaultSocket         = "/run/containerd/containerd.sock"
	DefaultNamespace      = "codeexec"
	DefaultStateDir       = "/var/lib/codeexec"
	DefaultSnapshotter    = "overlayfs"
	DefaultRuntime        = "io.containerd.runc.v2"
	DefaultRunTimeout     = 2 * time.Second
	DefaultCompileTimeout = 10 * time.Second
	DefaultCompileMemory  = 512 << 20
	DefaultOutputBytes    = 64 << 10
	DefaultMaxConcurrent  = 4
	DefaultMaxQueue       = 64
	DefaultQueueTimeout   = 10 * time.Second
	DefaultPoolSize       = 2
	DefaultPoolMaxIdle    = 10 * time.Minute
	DefaultImageWatch     = time.Second
	DefaultShimHosts      = 4
)

// Config is everything the runner needs to know.
type Config struct {
	Socket      string // containerd's gRPC socket
	Namespace   string // containerd namespace the runner owns
	StateDir    string // holds jobs/ and fifo/; the runner owns it
	Snapshotter string
	Runtime     string // containerd's runtime (shim) name
	OCIRuntime  string // OCIRuntimeAuto, OCIRuntimeCrun or OCIRuntimeRunc
	// SharedRootfs lets every sandbox of a single-layer image use that
	// layer's directory as its read-only root (sharedRoot), instead of a
	// snapshot view of its own.
	SharedRootfs bool
	// ShimHosts is how many shim hosts the sandboxes are spread over
	// (shimHost); 0 gives every sandbox a shim of its own.
	ShimHosts int

	Languages map[string]Language

	RunLimits      oci.Limits
	RunTimeout     time.Duration
	CompileLimits  oci.Limits
	CompileTimeout time.Duration
	OutputBytes    int // cap on stdout and on stderr, each

	MaxConcurrent int           // sandboxes running at once
	MaxQueue      int           // requests waiting for a sandbox before ErrBusy
	QueueTimeout  time.Duration // longest wait for a sandbox before ErrBusy

	MaxLimits Limits // the most a request may ask for

	PoolSize    int           // jobs prepared ahead per language; 0 is the cold path
	PoolMaxIdle time.Duration // a pooled job older than this is discarded, not used

	// ImageWatch is how often the runner looks for the images of the
	// languages it does not serve yet, and serves each as soon as it is
	// imported (a first start builds them while the service runs); 0
	// serves only what is there at start-up.
	ImageWatch time.Duration

	// BatchFreshSandboxes gives every run of a batch (each test of a judge
	// request) a fresh sandbox of its own, instead of a fresh process in
	// the lane's sandbox that is scrubbed after each run (see OpenBatch).
	BatchFreshSandboxes bool

	// ExecEveryTest turns off forked interpreters: by default a judge
	// lane of a language with a forking parent (Language.Fork) starts the
	// interpreter once and forks each test from it; with this set, every
	// test starts the interpreter with exec (docs/judge.md).
	ExecEveryTest bool

	// LaneAgent is the path of the lane agent (codeexec-lane, built from
	// sandbox/lane/lane.c), the
	// init of a batch lane's sandbox that starts each run as a fresh
	// process. Without one, every run of a batch gets a sandbox of its own.
	LaneAgent string

	// ShimWrapper is the path of codeexec-shim (cmd/codeexec-shim), named
	// to containerd 2.x as the runtime in place of the runc shim's binary:
	// it spares each sandbox a pointless run of the shim binary and the OCI
	// runtime at its removal (internal/shimwrap). "" uses Runtime as it is.
	ShimWrapper string
}

// The OCI runtimes the runner drives through containerd's runc shim
// (Config.OCIRuntime).
const (
	OCIRuntimeAuto = sandbox.OCIRuntimeAuto // crun where a probe sandbox runs with it, runc otherwise
	OCIRuntimeCrun = sandbox.OCIRuntimeCrun
	OCIRuntimeRunc = sandbox.OCIRuntimeRunc
)

// sandbox is the configuration of the runner's sandbox manager: the
// languages' images by language name, and the run limits for the
// sandboxes it runs itself. ProgramEnded is the runner's to set.
func (c Config) sandbox() sandbox.Config {
	images := make(map[string]string, len(c.Languages))
	for name, lang := range c.Languages {
		images[name] = lang.Image
	}
	return sandbox.Config{
		Socket: c.Socket, Namespace: c.Namespace, StateDir: c.StateDir, Snapshotter: c.Snapshotter,
		Runtime: c.Runtime, OCIRuntime: c.OCIRuntime, SharedRootfs: c.SharedRootfs, ShimHosts: c.ShimHosts,
		ShimWrapper: c.ShimWrapper, Images: images, OutputBytes: c.OutputBytes,
		OwnLimits: c.RunLimits, OwnTimeout: c.CompileTimeout,
	}
}

// DefaultConfig returns the configuration of the original design.
func DefaultConfig() Config {
	compile := oci.DefaultLimits()
	compile.MemoryBytes = DefaultCompileMemory
	return Config{
		Socket:         DefaultSocket,
		Namespace:      DefaultNamespace,
		StateDir:       DefaultStateDir,
		Snapshotter:    DefaultSnapshotter,
		Runtime:        DefaultRuntime,
		OCIRuntime:     OCIRuntimeAuto,
		SharedRootfs:   true,
		ShimHosts:      DefaultShimHosts,
		Languages:      DefaultLanguages(),
		RunLimits:      oci.DefaultLimits(),
		RunTimeout:     DefaultRunTimeout,
		CompileLimits:  compile,
		CompileTimeout: DefaultCompileTimeout,
		OutputBytes:    DefaultOutputBytes,
		MaxConcurrent:  DefaultMaxConcurrent,
		MaxQueue:       DefaultMaxQueue,
		QueueTimeout:   DefaultQueueTimeout,
		MaxLimits: Limits{
			Timeout:            10 * time.Second,
			MemoryBytes:        512 << 20,
			Pids:               256,
			OutputBytes:        1 << 20,
			CompileTimeout:     30 * time.Second,
			CompileMemoryBytes: 1 << 30,
		},
		PoolSize:    DefaultPoolSize,
		PoolMaxIdle: DefaultPoolMaxIdle,
		ImageWatch:  DefaultImageWatch,
	}
}

// Validate reports every setting that cannot work, with what to change.
func (c Config) Validate() error {
	var errs []error
	if c.Socket == "" {
		errs = append(errs, errors.New("containerd socket is empty"))
	}
	if c.Namespace == "" || c.Namespace == "k8s.io" || c.Namespace == "moby" {
		errs = append(errs, fmt.Errorf("namespace %q: use a namespace of the service's own (default %q)", c.Namespace, DefaultNamespace))
	}
	if !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("state directory %q must be an absolute path", c.StateDir))
	}
	if c.OCIRuntime != OCIRuntimeAuto && c.OCIRuntime != OCIRuntimeCrun && c.OCIRuntime != OCIRuntimeRunc {
		errs = append(errs, fmt.Errorf("OCI runtime %q: want %s, %s or %s", c.OCIRuntime, OCIRuntimeAuto, OCIRuntimeCrun, OCIRuntimeRunc))
	}
	if len(c.Languages) == 0 {
		errs = append(errs, errors.New("no languages configured"))
	}
	if err := c.RunLimits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("run limits: %w", err))
	}
	if err := c.CompileLimits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("compile limits: %w", err))
	}
	if c.RunTimeout < 10*time.Millisecond || c.RunTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("run timeout %s must be between 10ms and 10m", c.RunTimeout))
	}
	if c.CompileTimeout < 100*time.Millisecond || c.CompileTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("compile timeout %s must be between 100ms and 10m", c.CompileTimeout))
	}
	if c.OutputBytes < 1 {
		errs = append(errs, fmt.Errorf("output limit %d must be at least 1 byte", c.OutputBytes))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("max concurrent sandboxes %d must be at least 1", c.MaxConcurrent))
	}
	if c.MaxQueue < 0 {
		errs = append(errs, fmt.Errorf("max queue %d must not be negative", c.MaxQueue))
	}
	if c.QueueTimeout <= 0 {
		errs = append(errs, fmt.Errorf("queue timeout %s must be positive", c.QueueTimeout))
	}
	if m := c.MaxLimits; m.Timeout < c.RunTimeout || m.MemoryBytes < c.RunLimits.MemoryBytes || m.Pids < c.RunLimits.Pids ||
		m.OutputBytes < c.OutputBytes || m.CompileTimeout < c.CompileTimeout || m.CompileMemoryBytes < c.CompileLimits.MemoryBytes {
		errs = append(errs, errors.New("every maximum request limit must be at least its default"))
	}
	if c.ShimHosts < 0 || c.ShimHosts > 64 {
		errs = append(errs, fmt.Errorf("shim hosts %d must be between 0 (a shim per sandbox) and 64", c.ShimHosts))
	}
	if c.PoolSize < 0 || c.PoolSize > 64 {
		errs = append(errs, fmt.Errorf("pool size %d must be between 0 (cold path) and 64", c.PoolSize))
	}
	if c.ImageWatch != 0 && (c.ImageWatch < 100*time.Millisecond || c.ImageWatch > time.Hour) {
		errs = append(errs, fmt.Errorf("image watch %s must be 0 (off) or between 100ms and 1h", c.ImageWatch))
	}
	if c.PoolSize > 0 && c.PoolMaxIdle < time.Second {
		errs = append(errs, fmt.Errorf("pool max idle %s must be at least 1s", c.PoolMaxIdle))
	}
	return errors.Join(errs...)
}
