package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/codeexec/codeexec/internal/bench"
	"github.com/spf13/cobra"
)

// DefaultBenchOut is where `codeexec bench` writes its results.
const DefaultBenchOut = "bench-results"

// benchCmd runs `codeexec bench args`.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return execute(ctx, append([]string{"bench"}, args...), os.Stdin, stdout, stderr, os.Getenv)
}

// newBenchCommand is `codeexec bench`: the start-up latency benchmark of
// package bench; it writes results.md, results.json and latency.png into
// --out, and prints the table.
func newBenchCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Measure start-up latency side by side (docs/benchmark.md)",
		Long: "Measures, side by side, bare runs on the host, this service's cold path and\nwarm pool over HTTP, ctr run and docker run (when an engine is reachable).\nSee docs/benchmark.md. " +
			"The containerd sockets default to CODEEXEC_CONTAINERD_SOCKET and CODEEXEC_BASELINE_SOCKET.",
		Args: noArgs,
	}
	c := bench.DefaultConfig()
	if exe, err := os.Executable(); err == nil {
		c.Binary = exe
	}
	out, logLevel := DefaultBenchOut, "info"
	fs := cmd.Flags()
	fs.StringVar(&out, "out", out, "directory for results.md, results.json, latency.png and the instances' logs")
	fs.IntVar(&c.Runs, "runs", c.Runs, "measured runs per program and method")
	fs.IntVar(&c.Warmup, "warmup", c.Warmup, "warm-up runs per program and method, before the measured ones")
	fs.DurationVar(&c.Gap, "gap", c.Gap, "pause before each latency run, so each is a single request on an idle machine (e.g. 500ms); 0 sends them back to back")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "the higher concurrency throughput is measured at (the other is 1)")
	fs.DurationVar(&c.ThroughputDuration, "throughput-duration", c.ThroughputDuration, "length of each throughput measurement")
	fs.IntVar(&c.ThroughputRuns, "throughput-runs", c.ThroughputRuns, "when positive, each throughput measurement is this many runs instead of a duration")
	fs.IntVar(&c.JudgeTests, "judge-tests", c.JudgeTests, "tests of each POST /judge request measured against as many POST /run requests")
	fs.IntVar(&c.JudgeRounds, "judge-rounds", c.JudgeRounds, "rounds of that judge measurement per language; 0 skips it")
	fs.IntVar(&c.ProblemTests, "problem-tests", c.ProblemTests, "tests of the problem package judged by the default validator and by a C++ output validator, side by side")
	fs.IntVar(&c.ProblemRounds, "problem-rounds", c.ProblemRounds, "rounds of that problem measurement, with an interactive test of --round-trips round trips; 0 skips it")
	fs.IntVar(&c.RoundTrips, "round-trips", c.RoundTrips, "round trips of the interactive test, timed by its validator")
	fs.Var(listFlag{&c.Programs}, "programs", "comma-separated programs to measure, of "+strings.Join(bench.AllProgramNames(), ",")+" (the default: "+strings.Join(bench.ProgramNames(), ",")+"; the others run on the service's methods only)")
	fs.Var(listFlag{&c.Methods}, "methods", "comma-separated methods to measure: "+strings.Join(bench.AllMethods(), ","))
	fs.StringVar(&c.Binary, "binary", c.Binary, "codeexec binary the service instances run")
	fs.StringVar(&c.Socket, "containerd-socket", c.Socket, "containerd's socket, for the instances and ctr; CODEEXEC_CONTAINERD_SOCKET sets the default")
	fs.StringVar(&c.BaselineSocket, "baseline-socket", c.BaselineSocket, "containerd socket of the baseline stack (base-cold, base-warm: the service with runc there); CODEEXEC_BASELINE_SOCKET sets the default")
	fs.StringVar(&c.BaselineBinary, "baseline-binary", c.BaselineBinary, "another codeexec build (an earlier commit's) for base-cold and base-warm, on --containerd-socket with the cold and warm flags: two builds side by side in one run (replaces --baseline-socket)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "containerd namespace holding the images; the instances and ctr run there")
	fs.Var(words{&c.ColdArgs}, "cold-args", "serve flags of the cold instance (space-separated)")
	fs.Var(words{&c.WarmArgs}, "warm-args", "serve flags of the warm instance (space-separated); a build without the warm pool needs --cold-args= --warm-args=")
	fs.Var(words{&c.ServeArgs}, "serve-args", "serve flags of both instances (space-separated), e.g. \"--max-concurrent 8\"")
	fs.StringVar(&c.Ctr, "ctr", c.Ctr, "ctr binary")
	fs.StringVar(&c.Docker, "docker", c.Docker, "docker binary")
	fs.StringVar(&c.ImagesDir, "images-dir", c.ImagesDir, "OCI archives <lang>.tar to docker load when the engine lacks an image")
	fs.StringVar(&c.HostPython, "host-python", c.HostPython, "python3 of the bare method")
	fs.StringVar(&c.HostGxx, "host-gxx", c.HostGxx, "g++ of the bare method")
	fs.BoolVar(&c.BarePCH, "bare-pch", c.BarePCH, "precompile <bits/stdc++.h> for the bare method, as the cpp image does")
	fs.BoolVar(&c.ProcessAccounting, "process-accounting", c.ProcessAccounting, "during throughput runs, record the CPU of exited processes (runc, shims, programs) by command with acct(2); takes process accounting over from anything else using it")
	fs.DurationVar(&c.RunTimeout, "run-timeout", c.RunTimeout, "limit of one run of any method")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long an instance may take to stop after SIGTERM")
	fs.StringVar(&logLevel, "log-level", logLevel, "progress log level on stderr: debug, info, warn or error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runBench(cmd.Context(), c, out, logLevel, stdout, stderr)
	}
	return cmd
}

// runBench runs the benchmark with c, as `codeexec bench` does.
func runBench(ctx context.Context, c bench.Config, out, logLevel string, stdout, stderr io.Writer) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("log level %q: use debug, info, warn or error", logLevel)
	}
	c.LogDir = out

	r, err := bench.Run(ctx, c, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})))
	if r == nil {
		return err
	}
	if werr := r.WriteFiles(out); werr != nil {
		return errors.Join(err, fmt.Errorf("write results: %w", werr))
	}
	fmt.Fprint(stdout, r.Summary())
	return err
}

// words is a flag.Value for command-line arguments separated by spaces; an
// empty value is no arguments.
type words struct{ p *[]string }

func (w words) String() string {
	if w.p == nil {
		return ""
	}
	return strings.Join(*w.p, " ")
}

func (words) Type() string { return "words" }

func (w words) Set(s string) error {
	*w.p = strings.Fields(s)
	return nil
}
