package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command line is one cobra tree (newRootCommand), as kubectl's and
// nerdctl's are: a --help per command, shell completion (`codeexec
// completion bash|zsh|fish|powershell`), and flags with the names the
// docs use. Cobra rather than urfave/cli: its flags are pflag's, whose
// Var, StringVar, DurationVar... take the same arguments as the standard
// library's, so every flag kept its definition and its typed value, and
// its completion needs no code of ours.
//
// Every flag of every command also reads an environment variable, bound
// in one place (bindEnvironment): --some-name is CODEEXEC_SOME_NAME. The
// order, lowest first: the default, then serve's --config file, then the
// environment, then the command line.

// execute runs the codeexec command line args (without the program name).
// Help and usage go to stderr, so that stdout carries only what a command
// produces (and completion scripts).
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	root := newRootCommand(stdin, stdout, stderr, getenv)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRootCommand is the one definition of the codeexec command line.
func newRootCommand(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "codeexec",
		Short: "codeexec runs untrusted code in containerd sandboxes",
		Long: "codeexec runs untrusted code in locked-down containerd sandboxes, behind an HTTP API\n" +
			"(codeexec serve) or from the command line (codeexec run, codeexec judge).\n\n" +
			"Every flag of every command is also an environment variable: --some-name is\nCODEEXEC_SOME_NAME; a flag on the command line wins.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Usage()
			return fmt.Errorf("no command given")
		},
		PersistentPreRunE: envBinder(getenv),
		SilenceErrors:     true,
		SilenceUsage:      true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout) // completion scripts and answers
	root.SetErr(stderr)
	// Help goes to stderr, as the flag package's usage did.
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		c.SetOut(stderr)
		help(c, args)
	})
	root.AddCommand(
		newServeCommand(stderr, serveConfig),
		newRunCommand(stdin, stdout, stderr),
		newJudgeCommand(stdout, stderr),
		newVerifyProblemCommand(stdout, stderr),
		newImagesCommand(stdout, stderr),
		newLeftoversCommand(stdout, stderr),
		newBenchCommand(stdout, stderr),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				fmt.Fprintln(stdout, "codeexec", version)
				return nil
			},
		},
	)
	return root
}

// envName is the environment variable of flag name: --some-name is
// CODEEXEC_SOME_NAME.
func envName(flag string) string {
	return "CODEEXEC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnvironment sets each flag of fs that the command line did not set
// from its environment variable, when that is set. A flag set so counts as
// set: serve's --config file, applied after, does not override it.
func bindEnvironment(fs *pflag.FlagSet, getenv func(string) string) error {
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !f.Changed {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", envName(f.Name), err))
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// envBinder is the root's PersistentPreRunE: every command's flags read
// the environment, in this one place.
func envBinder(getenv func(string) string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error { return bindEnvironment(cmd.Flags(), getenv) }
}

// applySettings sets each flag of fs still unset from file.
func applySettings(fs *pflag.FlagSet, file []setting) error {
	for _, s := range file {
		if fs.Changed(s.name) {
			continue
		}
		if err := fs.Set(s.name, s.value); err != nil {
			return fmt.Errorf("%s: %s: %w", s.where, s.name, err)
		}
	}
	return nil
}

// setting is one `name = value` line of a settings file.
type setting struct{ name, value, where string }

// readSettings reads a file of `name = value` lines whose names are flags
// of fs; blank lines and lines starting with # are skipped.
func readSettings(fs *pflag.FlagSet, name string) ([]setting, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var out []setting
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || fs.Lookup(k) == nil || k == "config" {
			return nil, fmt.Errorf("config file %s line %d: want `name = value` with a setting of codeexec serve --help, got %q", name, i+1, line)
		}
		out = append(out, setting{name: k, value: v, where: fmt.Sprintf("config file %s line %d", name, i+1)})
	}
	return out, nil
}

// noArgs refuses positional arguments with the message the commands used
// before cobra.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments: %v", args)
	}
	return nil
}
