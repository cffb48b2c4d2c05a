package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/codeexec/codeexec/internal/runner"
)

// Exit codes of `codeexec run`, one per status, so scripts can branch on
// how the program ended. 0 is success; 1 is left to the command's own
// failures (bad flags, containerd unreachable).
var statusExitCodes = map[runner.Status]int{
	runner.StatusSuccess:             0,
	runner.StatusRuntimeError:        10,
	runner.StatusCompileError:        11,
	runner.StatusTimeout:             12,
	runner.StatusMemoryLimitExceeded: 13,
	runner.StatusOutputLimitExceeded: 14,
}

// exitError carries a process exit code out of run.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// runCmd runs one program file through the same runner as the service,
// without HTTP: the program's stdout and stderr go to ours, stdin is ours,
// and a status line goes to stderr.
func runCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfg, lang, stateRoot := cliFlags("run", stderr, getenv)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: codeexec run --language LANG FILE < input\n\nRuns FILE once in a sandbox, as POST /run would, and exits with\n0 success, 10 runtime_error, 11 compile_error, 12 timeout,\n13 memory_limit_exceeded, 14 output_limit_exceeded (1: the command itself failed).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 || *lang == "" {
		fs.Usage()
		return errors.New("give --language and exactly one file")
	}
	code, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	input, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	r, closeRunner, err := openCLIRunner(ctx, *cfg, *stateRoot, stderr)
	if err != nil {
		return err
	}
	defer closeRunner()
	res, err := r.Run(ctx, runner.Request{Language: *lang, Code: string(code), Input: string(input)})
	if err != nil {
		return err
	}
	if res.CompileOutput != "" {
		fmt.Fprint(stderr, res.CompileOutput)
	}
	fmt.Fprint(stdout, res.Stdout)
	fmt.Fprint(stderr, res.Stderr)
	exit := "signal " + res.Signal
	if res.ExitCode != nil {
		exit = fmt.Sprintf("exit code %d", *res.ExitCode)
	}
	fmt.Fprintf(stderr, "codeexec: %s (%s, %d ms)\n", res.Status, exit, res.Time.Milliseconds())
	if c := statusExitCodes[res.Status]; c != 0 {
		return exitError{c}
	}
	return nil
}

// cliFlags are the flags codeexec run and codeexec judge share: the
// language, containerd, the state directory and the wall-clock limit, set
// in the cold-path runner configuration it returns.
func cliFlags(command string, stderr io.Writer, getenv func(string) string) (_ *flag.FlagSet, _ *runner.Config, lang, stateRoot *string) {
	cfg := withHelpers(runner.DefaultConfig())
	cfg.PoolSize = 0
	if v := getenv("CODEEXEC_LANE_AGENT"); v != "" {
		cfg.LaneAgent = v
	}
	if v := getenv("CODEEXEC_SHIM_WRAPPER"); v != "" {
		cfg.ShimWrapper = v
	}
	fs := flag.NewFlagSet("codeexec "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang = fs.String("language", "", "language of the program (a language of GET /runtimes)")
	containerdFlags(fs, &cfg, getenv)
	stateRoot = fs.String("state-dir", filepath.Join(runner.DefaultStateDir, "cli"), "parent of this invocation's own state directory")
	fs.DurationVar(&cfg.RunTimeout, "run-timeout", cfg.RunTimeout, "wall-clock limit of a run")
	fs.StringVar(&cfg.LaneAgent, "lane-agent", cfg.LaneAgent, laneAgentHelp+" (env CODEEXEC_LANE_AGENT)")
	fs.StringVar(&cfg.ShimWrapper, "shim-wrapper", cfg.ShimWrapper, shimWrapperHelp+" (env CODEEXEC_SHIM_WRAPPER)")
	return fs, &cfg, lang, stateRoot
}

// openCLIRunner opens a runner for one command-line invocation, with a
// state directory of its own under stateRoot: the runner reconciles
// everything labelled with its state directory at start, so sharing the
// service's would remove the service's sandboxes. closeRunner closes it
// and removes the directory.
func openCLIRunner(ctx context.Context, cfg runner.Config, stateRoot string, stderr io.Writer) (_ *runner.Runner, closeRunner func(), err error) {
	if err := os.MkdirAll(stateRoot, 0o700); err != nil {
		return nil, nil, err
	}
	if cfg.StateDir, err = os.MkdirTemp(stateRoot, "run-"); err != nil {
		return nil, nil, err
	}
	r, err := runner.New(ctx, cfg, (&Config{LogLevel: "warn", LogFormat: "text"}).logger(stderr))
	if err != nil {
		os.RemoveAll(cfg.StateDir)
		return nil, nil, err
	}
	return r, func() {
		r.Close()
		os.RemoveAll(cfg.StateDir)
	}, nil
}
