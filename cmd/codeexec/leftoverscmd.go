package main

import (
	"fmt"
	"io"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
	"github.com/spf13/cobra"
)

// newLeftoversCommand is `codeexec leftovers`: it lists what any codeexec
// runner left in a namespace (runner.NamespaceLeftovers) and exits 1 if
// anything is there. With no service running in the namespace it must
// print nothing: `make test` runs it after the suite, and an operator can
// after a crash.
func newLeftoversCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leftovers [--namespace NS]",
		Short: "List what runners left in a namespace; exit 1 if anything",
		Long: "Lists the containers, tasks, snapshots, leases, sandbox records, cgroups,\nprocesses, shims and mounts that codeexec runners left in a namespace, and\n" +
			"exits 1 if there are any. Run it when no service uses the namespace.",
		Args: noArgs,
	}
	fs := cmd.Flags()
	cfg := runner.DefaultConfig()
	containerdFlags(fs, &cfg)
	settle := fs.Duration("settle", 5*time.Second, "how long to wait for teardowns still under way to finish before reporting")
	cmd.RunE = func(*cobra.Command, []string) error { return leftovers(cfg, *settle, stdout, stderr) }
	return cmd
}

// leftovers reports what is left in cfg's namespace, waiting up to settle
// for teardowns under way.
func leftovers(cfg runner.Config, settle time.Duration, stdout, stderr io.Writer) error {
	var left []string
	for deadline := time.Now().Add(settle); ; time.Sleep(200 * time.Millisecond) {
		var err error
		if left, err = runner.NamespaceLeftovers(cfg); err != nil {
			return err
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, l := range left {
		fmt.Fprintln(stdout, l)
	}
	if len(left) > 0 {
		fmt.Fprintf(stderr, "codeexec: %d leftovers in namespace %s\n", len(left), cfg.Namespace)
		return exitError{1}
	}
	return nil
}
