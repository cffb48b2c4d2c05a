package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"

	"github.com/codeexec/codeexec/internal/runner"
)

// imagesCmd lists, checks or builds the sandbox images of the configured
// languages.
func imagesCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("codeexec images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := runner.DefaultConfig()
	containerdFlags(fs, &cfg, getenv)
	runtimes := fs.String("runtimes", "", "runtimes file (default: the built-in languages)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: codeexec images [flags] list|check|build\n\n  list   each language's image, digest and whether it is unpacked\n  check  exit 1 unless every image is present and unpacked\n  build  build and import the images (runs scripts/images.sh of the repository in the current directory)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *runtimes != "" {
		langs, err := runner.LoadLanguages(*runtimes)
		if err != nil {
			return err
		}
		cfg.Languages = langs
	}
	switch fs.Arg(0) {
	case "list", "check":
		states, err := runner.CheckImages(ctx, cfg)
		if err != nil {
			return err
		}
		sort.Slice(states, func(i, j int) bool { return states[i].Language < states[j].Language })
		missing := 0
		for _, s := range states {
			state := "ok"
			switch {
			case !s.Present:
				state, missing = "MISSING (run: codeexec images build)", missing+1
			case !s.Unpacked:
				state, missing = "not unpacked (the service unpacks it at start)", missing+1
			}
			fmt.Fprintf(stdout, "%-8s %-36s %-20.20s %s\n", s.Language, s.Image, s.Digest, state)
		}
		if fs.Arg(0) == "check" && missing > 0 {
			return exitError{1}
		}
		return nil
	case "build":
		script := "scripts/images.sh"
		if _, err := os.Stat(script); err != nil {
			return fmt.Errorf("build runs %s from a checkout of the repository; run it from the repository's top directory", script)
		}
		cmd := exec.CommandContext(ctx, script, "--namespace", cfg.Namespace)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.Env = append(os.Environ(), "CODEEXEC_CONTAINERD_SOCKET="+cfg.Socket)
		return cmd.Run()
	default:
		fs.Usage()
		return errors.New("give one of list, check, build")
	}
}

// containerdFlags defines --containerd-socket and --namespace on fs for cfg,
// with CODEEXEC_CONTAINERD_SOCKET and CODEEXEC_NAMESPACE as defaults that
// the flags override.
func containerdFlags(fs *flag.FlagSet, cfg *runner.Config, getenv func(string) string) {
	if v := getenv("CODEEXEC_CONTAINERD_SOCKET"); v != "" {
		cfg.Socket = v
	}
	if v := getenv("CODEEXEC_NAMESPACE"); v != "" {
		cfg.Namespace = v
	}
	fs.StringVar(&cfg.Socket, "containerd-socket", cfg.Socket, "containerd's gRPC socket (env CODEEXEC_CONTAINERD_SOCKET)")
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "containerd namespace (env CODEEXEC_NAMESPACE)")
}
