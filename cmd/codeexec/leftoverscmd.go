package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

// leftoversCmd lists what any codeexec runner left in a namespace
// (runner.NamespaceLeftovers) and exits 1 if anything is there. With no
// service running in the namespace it must print nothing: `make test` runs
// it after the suite, and an operator can after a crash.
func leftoversCmd(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("codeexec leftovers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := runner.DefaultConfig()
	containerdFlags(fs, &cfg, getenv)
	settle := fs.Duration("settle", 5*time.Second, "how long to wait for teardowns still under way to finish before reporting")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: codeexec leftovers [flags]\n\nLists the containers, tasks, snapshots, leases, sandbox records, cgroups,\nprocesses, shims and mounts that codeexec runners left in a namespace, and\nexits 1 if there are any. Run it when no service uses the namespace.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var left []string
	for deadline := time.Now().Add(*settle); ; time.Sleep(200 * time.Millisecond) {
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
