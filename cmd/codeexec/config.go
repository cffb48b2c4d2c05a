package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/api"
	"github.com/codeexec/codeexec/internal/runner"
)

// Defaults of the server itself.
const (
	DefaultAddr            = ":3000"
	DefaultShutdownTimeout = 30 * time.Second
)

// Config is every setting of `codeexec serve`.
type Config struct {
	Addr            string
	ShutdownTimeout time.Duration
	LogFormat       string
	LogLevel        string
	Runner          runner.Config
	API             api.Config
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{
		Addr:            DefaultAddr,
		ShutdownTimeout: DefaultShutdownTimeout,
		LogFormat:       "text",
		LogLevel:        "info",
		Runner:          runner.DefaultConfig(),
		API:             api.DefaultConfig(),
	}
}

// mib is a flag.Value for a byte count given in MiB.
type mib struct{ p *int64 }

func (m mib) String() string {
	if m.p == nil {
		return "0"
	}
	return fmt.Sprint(*m.p >> 20)
}

func (m mib) Set(s string) error {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive number of MiB", s)
	}
	*m.p = n << 20
	return nil
}

// parseConfig fills a Config from defaults, then CODEEXEC_* environment
// variables, then flags: each flag --some-name has the variable
// CODEEXEC_SOME_NAME.
func parseConfig(args []string, stderr io.Writer, getenv func(string) string) (Config, error) {
	c := NewConfig()
	fs := flag.NewFlagSet("codeexec serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	r, a := &c.Runner, &c.API
	fs.StringVar(&c.Addr, "addr", c.Addr, "address to listen on")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for in-flight runs")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&r.Socket, "containerd-socket", r.Socket, "containerd's gRPC socket")
	fs.StringVar(&r.Namespace, "namespace", r.Namespace, "containerd namespace of the service's own")
	fs.StringVar(&r.StateDir, "state-dir", r.StateDir, "directory for job directories and FIFOs")
	fs.StringVar(&r.Snapshotter, "snapshotter", r.Snapshotter, "containerd snapshotter")
	fs.StringVar(&r.Runtime, "runtime", r.Runtime, "containerd runtime (shim)")
	fs.DurationVar(&r.RunTimeout, "run-timeout", r.RunTimeout, "wall-clock limit of a run")
	fs.Float64Var(&r.RunLimits.CPUs, "cpus", r.RunLimits.CPUs, "CPU cores per run")
	fs.Var(mib{&r.RunLimits.MemoryBytes}, "memory-mb", "memory limit of a run in MiB (swap is capped to the same)")
	fs.Int64Var(&r.RunLimits.Pids, "pids", r.RunLimits.Pids, "process and thread limit of a run")
	fs.Var(mib{&r.RunLimits.TmpBytes}, "tmp-mb", "size of the /tmp tmpfs of a run in MiB")
	fs.DurationVar(&r.CompileTimeout, "compile-timeout", r.CompileTimeout, "wall-clock limit of a compile")
	fs.Var(mib{&r.CompileLimits.MemoryBytes}, "compile-memory-mb", "memory limit of a compile in MiB")
	fs.IntVar(&r.OutputBytes, "output-bytes", r.OutputBytes, "cap on stdout and on stderr, each, in bytes")
	fs.IntVar(&r.MaxConcurrent, "max-concurrent", r.MaxConcurrent, "sandboxes running at once")
	fs.IntVar(&r.MaxQueue, "max-queue", r.MaxQueue, "requests waiting for a sandbox before 503")
	fs.DurationVar(&r.QueueTimeout, "queue-timeout", r.QueueTimeout, "longest wait for a sandbox before 503")
	fs.DurationVar(&r.MaxLimits.Timeout, "max-timeout", r.MaxLimits.Timeout, "largest wall-clock limit a request may ask for")
	fs.Var(mib{&r.MaxLimits.MemoryBytes}, "max-memory-mb", "largest memory limit a request may ask for, in MiB")
	fs.Int64Var(&r.MaxLimits.Pids, "max-pids", r.MaxLimits.Pids, "largest pids limit a request may ask for")
	fs.IntVar(&r.MaxLimits.OutputBytes, "max-output-bytes", r.MaxLimits.OutputBytes, "largest output cap a request may ask for")
	fs.DurationVar(&r.MaxLimits.CompileTimeout, "max-compile-timeout", r.MaxLimits.CompileTimeout, "largest compile wall-clock limit a request may ask for")
	fs.Var(mib{&r.MaxLimits.CompileMemoryBytes}, "max-compile-memory-mb", "largest compile memory limit a request may ask for, in MiB")
	fs.IntVar(&r.PoolSize, "pool-size", r.PoolSize, "sandboxes prepared ahead per language; 0 creates them on request (cold path)")
	fs.DurationVar(&r.PoolMaxIdle, "pool-max-idle", r.PoolMaxIdle, "a prepared sandbox older than this is discarded, not used")
	fs.Int64Var(&a.MaxBodyBytes, "max-body-bytes", a.MaxBodyBytes, "largest request body in bytes")
	fs.IntVar(&a.MaxCodeBytes, "max-code-bytes", a.MaxCodeBytes, "largest code field in bytes")
	fs.IntVar(&a.MaxInputBytes, "max-input-bytes", a.MaxInputBytes, "largest input field in bytes")
	fs.IntVar(&a.RateLimit, "rate-limit", a.RateLimit, "POST /run requests per client address per window; 0 turns the limiter off")
	fs.DurationVar(&a.RateWindow, "rate-window", a.RateWindow, "rate limit window")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: codeexec serve [flags]\n\nEvery flag can also be set with an environment variable: --state-dir is\nCODEEXEC_STATE_DIR. Flags win over the environment.\n\n")
		fs.PrintDefaults()
	}

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "CODEEXEC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.API.Languages = c.API.Languages[:0]
	for name := range c.Runner.Languages {
		c.API.Languages = append(c.API.Languages, name)
	}
	return c, c.Validate()
}

// Validate checks every part of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is empty"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: use text or json", c.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: use debug, info, warn or error", c.LogLevel))
	}
	if err := c.Runner.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.API.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
