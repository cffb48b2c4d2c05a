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

// run runs the codeexec command line args (without the program name);
// stdin is the process's.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return execute(ctx, args, os.Stdin, stdout, stderr, getenv)
}
