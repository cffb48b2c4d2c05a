// Command codeexec runs untrusted Python and C++ programs in locked-down
// containerd containers behind an HTTP API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			os.Exit(exit.code)
		}
		fmt.Fprintln(os.Stderr, "codeexec:", err)
		os.Exit(1)
	}
}

const usage = `codeexec runs untrusted code in containerd sandboxes.

Usage:
  codeexec serve [flags]   start the HTTP service (see codeexec serve --help)
  codeexec run --language LANG FILE < input
                           run one program in a sandbox, without the service
  codeexec judge --language LANG [--checker FILE] FILE TESTS
                           judge a program against a folder of tests, as POST /judge
  codeexec images list|check|build
                           the sandbox images of the configured languages
  codeexec leftovers [--namespace NS]
                           list what runners left in a namespace; exit 1 if anything
  codeexec bench [flags]   measure start-up latency side by side (see codeexec bench --help)
  codeexec version         print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "run":
		return runCmd(ctx, args[1:], os.Stdin, stdout, stderr, getenv)
	case "judge":
		return judgeCmd(ctx, args[1:], stdout, stderr, getenv)
	case "images":
		return imagesCmd(ctx, args[1:], stdout, stderr, getenv)
	case "leftovers":
		return leftoversCmd(ctx, args[1:], stdout, stderr, getenv)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "codeexec", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
