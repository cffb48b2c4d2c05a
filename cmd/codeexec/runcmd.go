package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/codeexec/codeexec/internal/runner"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// runCmd runs `codeexec run args`, with stdin as the program's.
func runCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	return execute(ctx, append([]string{"run"}, args...), stdin, stdout, stderr, getenv)
}

// newRunCommand is `codeexec run`: one program file through the same runner
// as the service, without HTTP: the program's stdout and stderr go to
// ours, stdin is ours, and a status line goes to stderr.
func newRunCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run --language LANG FILE < input",
		Short: "Run one program in a sandbox, without the service",
		Long: "Runs FILE once in a sandbox, as POST /run would, and exits with\n0 success, 10 runtime_error, 11 compile_error, 12 timeout,\n" +
			"13 memory_limit_exceeded, 14 output_limit_exceeded (1: the command itself failed).",
		Args: cobra.ExactArgs(1),
	}
	cfg, lang, stateRoot := cliFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *lang == "" {
			return errors.New("give --language and exactly one file")
		}
		return runFile(cmd.Context(), *cfg, *lang, *stateRoot, args[0], stdin, stdout, stderr)
	}
	return cmd
}

// runFile runs the program in file with cfg, as `codeexec run` does.
func runFile(ctx context.Context, cfg runner.Config, lang, stateRoot, file string, stdin io.Reader, stdout, stderr io.Writer) error {
	code, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	input, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	r, closeRunner, err := openCLIRunner(ctx, cfg, stateRoot, stderr)
	if err != nil {
		return err
	}
	defer closeRunner()
	res, err := r.Run(ctx, runner.Request{Language: lang, Code: string(code), Input: string(input)})
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

// cliFlags defines on fs the flags codeexec run and codeexec judge share:
// the language, containerd, the state directory and the wall-clock limit,
// set in the cold-path runner configuration it returns.
func cliFlags(fs *pflag.FlagSet) (_ *runner.Config, lang, stateRoot *string) {
	cfg := withHelpers(runner.DefaultConfig())
	cfg.PoolSize = 0
	lang = fs.String("language", "", "language of the program (a language of GET /runtimes)")
	containerdFlags(fs, &cfg)
	stateRoot = fs.String("state-dir", filepath.Join(runner.DefaultStateDir, "cli"), "parent of this invocation's own state directory")
	fs.DurationVar(&cfg.RunTimeout, "run-timeout", cfg.RunTimeout, "wall-clock limit of a run")
	fs.StringVar(&cfg.LaneAgent, "lane-agent", cfg.LaneAgent, laneAgentHelp)
	fs.StringVar(&cfg.ShimWrapper, "shim-wrapper", cfg.ShimWrapper, shimWrapperHelp)
	return &cfg, lang, stateRoot
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
