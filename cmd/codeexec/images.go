package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"

	"github.com/codeexec/codeexec/internal/runner"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// imagesCmd runs `codeexec images args`.
func imagesCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return execute(ctx, append([]string{"images"}, args...), os.Stdin, stdout, stderr, getenv)
}

// newImagesCommand is `codeexec images`: it lists, checks or builds the
// sandbox images of the configured languages.
func newImagesCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:       "images [flags] list|check|build",
		Short:     "The sandbox images of the configured languages",
		Long:      "  list   each language's image, digest and whether it is unpacked\n  check  exit 1 unless every image is present and unpacked\n  build  build and import the images (runs scripts/images.sh of the repository in the current directory)",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"list", "check", "build"},
	}
	fs := cmd.Flags()
	cfg := runner.DefaultConfig()
	containerdFlags(fs, &cfg)
	runtimes := fs.String("runtimes", "", "runtimes file (default: the built-in languages)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *runtimes != "" {
			langs, err := runner.LoadLanguages(*runtimes)
			if err != nil {
				return err
			}
			cfg.Languages = langs
		}
		return images(cmd.Context(), cfg, args[0], stdout, stderr)
	}
	return cmd
}

// images runs the images command verb with cfg.
func images(ctx context.Context, cfg runner.Config, verb string, stdout, stderr io.Writer) error {
	switch verb {
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
		if verb == "check" && missing > 0 {
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
		return errors.New("give one of list, check, build")
	}
}

// containerdFlags defines --containerd-socket and --namespace on fs for
// cfg (their environment variables, as every flag's, are bound by the root
// command: CODEEXEC_CONTAINERD_SOCKET, CODEEXEC_NAMESPACE).
func containerdFlags(fs *pflag.FlagSet, cfg *runner.Config) {
	fs.StringVar(&cfg.Socket, "containerd-socket", cfg.Socket, "containerd's gRPC socket")
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "containerd namespace")
}
