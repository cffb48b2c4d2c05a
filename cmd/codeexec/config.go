package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/api"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
	"github.com/spf13/cobra"
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
	// Submissions turns the asynchronous API on (docs/submissions.md).
	Submissions bool
	Queue       submissions.Config
	// Workers is how many submissions this node runs at once; 0 is
	// --max-concurrent.
	Workers int
	// CallbackSecret signs callbacks; without one, callback_url is
	// refused. CallbackTimeout bounds each attempt.
	CallbackSecret  string
	CallbackTimeout time.Duration
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{
		Addr:            DefaultAddr,
		ShutdownTimeout: DefaultShutdownTimeout,
		LogFormat:       "text",
		LogLevel:        "info",
		Runner:          withHelpers(runner.DefaultConfig()),
		API:             api.DefaultConfig(),
		Submissions:     true,
		CallbackTimeout: 10 * time.Second,
		Queue: submissions.Config{
			Replicas: 1, Retention: submissions.DefaultRetention, AckWait: submissions.DefaultAckWait,
			MaxAttempts: submissions.DefaultMaxAttempts, MaxQueued: submissions.DefaultMaxQueued,
			MaxQueuedPerOwner: submissions.DefaultMaxQueuedPerOwner,
			CallbackRetryFor:  submissions.DefaultCallbackRetryFor,
		},
	}
}

// withHelpers sets cfg's lane agent and shim wrapper to codeexec-lane and
// codeexec-shim next to this binary, where `make build` and the service
// image put them, if they are there.
func withHelpers(cfg runner.Config) runner.Config {
	exe, err := os.Executable()
	if err != nil {
		return cfg
	}
	for name, dst := range map[string]*string{"codeexec-lane": &cfg.LaneAgent, "codeexec-shim": &cfg.ShimWrapper} {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			*dst = p
		}
	}
	return cfg
}

// laneAgentHelp is the --lane-agent flag's text.
const laneAgentHelp = "the lane agent (codeexec-lane, built from sandbox/lane/lane.c), which starts each judged test as a fresh process in its lane's sandbox; default: codeexec-lane next to this binary. Without one, each judged test gets a container of its own"

// shimWrapperHelp is the --shim-wrapper flag's text.
const shimWrapperHelp = "codeexec-shim, named to containerd 2.x as the runtime in place of containerd-shim-runc-v2, whose binary it runs for everything but the removal of a task the shared shim already removed; default: codeexec-shim next to this binary. Without it, containerd runs the shim binary and the OCI runtime once more for every sandbox it removes"

// mib is a flag.Value for a byte count given in MiB.
type mib struct{ p *int64 }

func (m mib) String() string {
	if m.p == nil {
		return "0"
	}
	return fmt.Sprint(*m.p >> 20)
}

func (mib) Type() string { return "MiB" }

func (m mib) Set(s string) error {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive number of MiB", s)
	}
	*m.p = n << 20
	return nil
}

// serveLong is the help of `codeexec serve`.
const serveLong = `Starts the HTTP service.

Settings come from defaults, then --config FILE (or CODEEXEC_CONFIG), then
environment variables (--state-dir is CODEEXEC_STATE_DIR), then flags; each
wins over the one before.`

// newServeCommand is `codeexec serve`: it builds the Config from its
// flags, the environment and the --config file, and hands it to do.
func newServeCommand(stderr io.Writer, do func(context.Context, Config, io.Writer) error) *cobra.Command {
	c := NewConfig()
	cmd := &cobra.Command{Use: "serve [flags]", Short: "Start the HTTP service", Long: serveLong, Args: noArgs}
	fs := cmd.Flags()
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
	fs.BoolVar(&r.SharedRootfs, "shared-rootfs", r.SharedRootfs, "sandboxes of a single-layer image share its layer as their read-only root instead of a snapshot each")
	fs.IntVar(&r.ShimHosts, "shim-hosts", r.ShimHosts, "long-lived sandboxes whose shims the run sandboxes share (containerd 2.x); 0 starts a shim per sandbox")
	fs.StringVar(&r.OCIRuntime, "oci-runtime", r.OCIRuntime, "OCI runtime the shim runs: auto (crun where a probe sandbox works, else runc), crun or runc")
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
	fs.DurationVar(&r.ImageWatch, "image-watch", r.ImageWatch, "how often to look for the images of languages not served yet, each served once imported; 0 serves only those present at start-up")
	fs.Int64Var(&a.MaxBodyBytes, "max-body-bytes", a.MaxBodyBytes, "largest request body in bytes")
	fs.Int64Var(&a.MaxJudgeBodyBytes, "max-judge-body-bytes", a.MaxJudgeBodyBytes, "largest POST /judge body in bytes")
	fs.IntVar(&a.MaxTests, "max-tests", a.MaxTests, "most tests in one POST /judge request")
	fs.Int64Var(&a.MaxProblemBytes, "max-problem-bytes", a.MaxProblemBytes, "largest problem package a POST /problems may send, in bytes (its archive)")
	fs.Int64Var(&a.MaxProblemUnpacked, "max-problem-unpacked-bytes", a.MaxProblemUnpacked, "most bytes one problem package may unpack to")
	fs.IntVar(&a.MaxProblems, "max-problems", a.MaxProblems, "most problem packages stored at once")
	fs.Int64Var(&a.MaxProblemStoreBytes, "max-problem-store-bytes", a.MaxProblemStoreBytes, "most bytes of problem packages stored at once (their archives)")
	fs.IntVar(&a.MaxProblemTests, "max-problem-tests", a.MaxProblemTests, "most test cases in one problem package")
	fs.IntVar(&a.MaxTestDataBytes, "max-test-data-bytes", a.MaxTestDataBytes, "largest total of the inputs and expected outputs of one POST /judge request, in bytes")
	fs.IntVar(&a.JudgeLanes, "judge-lanes", a.JudgeLanes, "tests of one POST /judge request run at once, at most")
	fs.DurationVar(&a.CheckerTimeout, "checker-timeout", a.CheckerTimeout, "wall-clock limit of each checker run")
	fs.DurationVar(&a.MaxJudgeDuration, "max-judge-duration", a.MaxJudgeDuration, "longest worst case a POST /judge request may have (its tests ÷ lanes × their limits, checkers, the build and the queue); a longer one is refused with 400")
	fs.DurationVar(&a.AnswerMargin, "answer-margin", a.AnswerMargin, "time an answer may take beyond its request's worst case, and the write deadline of routes that run nothing")
	fs.StringVar(&r.LaneAgent, "lane-agent", r.LaneAgent, laneAgentHelp)
	fs.StringVar(&r.ShimWrapper, "shim-wrapper", r.ShimWrapper, shimWrapperHelp)
	fs.BoolVar(&r.BatchFreshSandboxes, "judge-fresh-sandboxes", r.BatchFreshSandboxes, "give every judged test a fresh container instead of a fresh process in its lane's scrubbed container (slower)")
	fs.BoolVar(&r.ExecEveryTest, "exec-every-test", r.ExecEveryTest, "start the interpreter of every judged test with exec, instead of forking it from a forking parent started once per lane (Python; slower, docs/judge.md)")
	fs.IntVar(&a.MaxCodeBytes, "max-code-bytes", a.MaxCodeBytes, "largest code field in bytes")
	fs.IntVar(&a.MaxInputBytes, "max-input-bytes", a.MaxInputBytes, "largest input field in bytes")
	fs.IntVar(&a.RateLimit, "rate-limit", a.RateLimit, "POST /run requests per client address per window; 0 turns the limiter off")
	fs.DurationVar(&a.RateWindow, "rate-window", a.RateWindow, "rate limit window")
	fs.Var(listFlag{&a.TrustedProxies}, "trusted-proxies", "comma-separated CIDR ranges whose X-Forwarded-For is believed (default: none; the header is ignored)")
	fs.Var(listFlag{&a.APIKeys}, "api-keys", "comma-separated API keys (16+ characters) required as Authorization: Bearer on POST /run and GET /runtimes; empty turns authentication off")
	keysFile := fs.String("api-keys-file", "", "file with one API key per line (added to --api-keys)")
	fs.BoolVar(&a.RateLimitByKey, "rate-limit-by-key", a.RateLimitByKey, "key the rate limiter by API key instead of client address")
	fs.BoolVar(&a.Playground, "playground", a.Playground, "serve the playground page at / (--playground=false turns it off)")
	q := &c.Queue
	fs.BoolVar(&c.Submissions, "submissions", c.Submissions, "serve the asynchronous API (POST /submissions) on NATS JetStream: an embedded server storing under <state-dir>/nats, or --nats-url")
	fs.Var(listFlag{&q.URLs}, "nats-url", "comma-separated NATS server URLs of a cluster that every node shares (default: the embedded server)")
	fs.StringVar(&q.Credentials, "nats-creds", q.Credentials, "NATS credentials file for --nats-url")
	fs.StringVar(&q.TLSCA, "nats-ca", q.TLSCA, "PEM file of the CAs that sign the NATS servers' certificates, for tls:// URLs (default: the system's roots)")
	fs.StringVar(&q.TLSCert, "nats-cert", q.TLSCert, "this node's client certificate (PEM) for NATS servers that verify clients")
	fs.StringVar(&q.TLSKey, "nats-key", q.TLSKey, "the key of --nats-cert (PEM)")
	fs.StringVar(&q.Listen, "nats-listen", q.Listen, "host:port on which the embedded NATS server accepts clients (default: none, in-process only)")
	fs.IntVar(&q.Replicas, "nats-replicas", q.Replicas, "replicas of the submissions' stream and bucket: 1 embedded, 3 on a three-node cluster")
	fs.DurationVar(&q.Retention, "submission-retention", q.Retention, "how long a submission and its result are kept after their last change")
	fs.DurationVar(&q.AckWait, "submission-ack-wait", q.AckWait, "how long a node may be silent about a running submission before another node takes it over")
	fs.IntVar(&q.MaxAttempts, "submission-attempts", q.MaxAttempts, "times a submission is started (a node that dies mid-run costs one) before it fails")
	fs.IntVar(&q.MaxQueued, "max-queued", q.MaxQueued, "submissions waiting or running, over all keys, before 503")
	fs.IntVar(&q.MaxQueuedPerOwner, "max-queued-per-key", q.MaxQueuedPerOwner, "submissions one API key may have waiting or running before 429; 0 for no limit")
	fs.IntVar(&c.Workers, "submission-workers", c.Workers, "submissions this node runs at once (default: --max-concurrent)")
	fs.DurationVar(&a.MaxSubmissionWait, "max-submission-wait", a.MaxSubmissionWait, "longest POST /submissions?wait=")
	fs.IntVar(&a.MaxBatch, "max-batch", a.MaxBatch, "most submissions in one POST /submissions/batch, and ids in one GET /submissions?ids=")
	fs.StringVar(&c.CallbackSecret, "callback-secret", c.CallbackSecret, "secret (16+ characters) that signs callbacks (HMAC-SHA256, header Codeexec-Signature); without one, callback_url is refused")
	secretFile := fs.String("callback-secret-file", "", "file holding the callback secret (instead of --callback-secret)")
	fs.Var(listFlag{&a.CallbackAllow}, "callback-allow", "comma-separated CIDR ranges callbacks may reach although internal (loopback, private, link-local are refused by default), and host names: if any is given, the only hosts callbacks may name")
	fs.DurationVar(&c.CallbackTimeout, "callback-timeout", c.CallbackTimeout, "time limit of one callback attempt")
	fs.DurationVar(&q.CallbackRetryFor, "callback-retry-for", q.CallbackRetryFor, "how long a failing callback is retried (exponential backoff with jitter) after its submission finished")
	runtimes := fs.String("runtimes", "", "JSON file of languages (image, source file, compile and run commands); default: the built-in ones (internal/runner/language/runtimes.json)")
	configFile := fs.String("config", "", "file of settings, one `name = value` per line with the flag names (lowest precedence after defaults)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *configFile != "" {
			file, err := readSettings(fs, *configFile)
			if err != nil {
				return err
			}
			if err := applySettings(fs, file); err != nil {
				return err
			}
		}
		if *secretFile != "" {
			b, err := os.ReadFile(*secretFile)
			if err != nil {
				return fmt.Errorf("callback secret file: %w", err)
			}
			c.CallbackSecret = strings.TrimSpace(string(b))
		}
		if err := c.finish(*runtimes, *keysFile); err != nil {
			return err
		}
		return do(cmd.Context(), c, stderr)
	}
	return cmd
}

// parseConfig returns the Config that `codeexec serve args` would serve with,
// or flag.ErrHelp for --help.
func parseConfig(args []string, stderr io.Writer, getenv func(string) string) (Config, error) {
	var got Config
	ran := false
	cmd := newServeCommand(stderr, func(_ context.Context, c Config, _ io.Writer) error {
		got, ran = c, true
		return nil
	})
	cmd.PersistentPreRunE = envBinder(getenv)
	cmd.SetArgs(args)
	cmd.SetOut(stderr)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err != nil {
		return got, err
	}
	if !ran {
		return got, flag.ErrHelp
	}
	return got, nil
}

// finish reads the files the flags name (languages, API keys), fills in
// what the API takes from the runner's settings, and validates the whole.
func (c *Config) finish(runtimes, keysFile string) error {
	a := &c.API
	if runtimes != "" {
		langs, err := runner.LoadLanguages(runtimes)
		if err != nil {
			return err
		}
		c.Runner.Languages = langs
	}
	if keysFile != "" {
		b, err := os.ReadFile(keysFile)
		if err != nil {
			return fmt.Errorf("api keys file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k := strings.TrimSpace(line); k != "" && !strings.HasPrefix(k, "#") {
				a.APIKeys = append(a.APIKeys, k)
			}
		}
	}
	c.API.OutputBytes = c.Runner.OutputBytes
	c.API.Callbacks = c.Submissions && c.CallbackSecret != ""
	// The runner's timeouts give each request's worst case, and so the
	// deadline of its answer (api.Config).
	c.API.QueueTimeout, c.API.CompileTimeout, c.API.RunTimeout = c.Runner.QueueTimeout, c.Runner.CompileTimeout, c.Runner.RunTimeout
	c.API.Languages = c.API.Languages[:0]
	for name := range c.Runner.Languages {
		c.API.Languages = append(c.API.Languages, name)
	}
	return c.Validate()
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
	if c.Submissions {
		q := c.Queue
		if len(q.URLs) == 0 {
			q.Dir = c.queueDir()
		}
		if err := q.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.CallbackSecret != "" && len(c.CallbackSecret) < 16 {
			errs = append(errs, fmt.Errorf("callback secret is %d characters; use at least 16", len(c.CallbackSecret)))
		}
		if c.CallbackTimeout < time.Second {
			errs = append(errs, fmt.Errorf("callback timeout must be at least 1s, got %s", c.CallbackTimeout))
		}
		if c.Workers < 0 {
			errs = append(errs, fmt.Errorf("submission workers must not be negative, got %d", c.Workers))
		}
	}
	return errors.Join(errs...)
}

// queueDir is where the embedded NATS server stores: <state-dir>/nats.
func (c Config) queueDir() string { return filepath.Join(c.Runner.StateDir, "nats") }

// problemsDir is where problem packages are kept without the queue (with
// it, they are in its NATS object store).
func (c Config) problemsDir() string { return filepath.Join(c.Runner.StateDir, "problems") }

func (c Config) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// listFlag is a comma-separated list.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (listFlag) Type() string { return "list" }

func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}
