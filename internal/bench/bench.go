package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/bench/method"
	"github.com/codeexec/codeexec/internal/runner"
)

// Run measures every chosen program with every chosen method and returns the
// report. It starts the cold and warm service instances itself and stops
// them gracefully before it returns. A method that cannot be measured on
// this machine (docker without an engine) is skipped with a reason; any
// other method that cannot start is an error. When the instances fail to
// stop cleanly, Run returns the report together with the error.
func Run(ctx context.Context, c Config, log *slog.Logger) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "codeexec-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	logDir := c.LogDir
	if logDir == "" {
		logDir = work
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}

	programs := c.programs()
	r := &Report{
		Date:     time.Now(),
		Programs: programs,
		Skipped:  map[string]string{},
		Settings: Settings{
			Runs: c.Runs, Warmup: c.Warmup, Concurrency: c.Concurrency, ThroughputRuns: c.ThroughputRuns,
			Namespace: c.Namespace, ColdArgs: nonNil(c.ColdArgs), WarmArgs: nonNil(c.WarmArgs), ServeArgs: c.ServeArgs,
			BarePCH:           c.BarePCH && slices.Contains(c.Methods, MethodBare) && includesStdcpp(programs),
			ProcessAccounting: c.ProcessAccounting,
		},
	}
	if c.Gap > 0 {
		r.Settings.Gap = c.Gap.String()
	}
	if c.ThroughputRuns == 0 && c.ThroughputDuration > 0 {
		r.Settings.ThroughputDuration = c.ThroughputDuration.String()
	}
	dockerBin := ""
	if slices.Contains(c.Methods, MethodDocker) {
		dockerBin = c.Docker
	}
	r.Machine = describeMachine(ctx, c.Ctr, c.Socket, c.BaselineSocket, dockerBin)

	var instances []*instance
	stopAll := func() error {
		var errs []error
		for _, in := range instances {
			if err := in.stop(c.ShutdownTimeout); err != nil {
				errs = append(errs, err)
			}
		}
		instances = nil
		return errors.Join(errs...)
	}
	defer stopAll()

	var methods []Method
	for _, name := range AllMethods() {
		if !slices.Contains(c.Methods, name) {
			continue
		}
		log.Info("preparing", "method", name)
		m, skip, err := c.method(ctx, name, work, logDir, programs, &instances)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if skip != "" {
			r.Skipped[name] = skip
			log.Warn("method skipped", "method", name, "why", skip)
			continue
		}
		methods = append(methods, m)
		r.Methods = append(r.Methods, name)
	}
	for _, p := range programs {
		for _, m := range methods {
			if method.Supports(m, p) {
				r.Results = append(r.Results, &Result{Program: p.Name, Method: m.Name()})
			}
		}
	}

	if err := measureLatency(ctx, r, programs, methods, c.Warmup, c.Runs, c.RunTimeout, c.Gap, log); err != nil {
		return nil, err
	}
	if err := measureThroughputs(ctx, r, programs, methods, c, work, log); err != nil {
		return nil, err
	}
	for _, m := range methods {
		s, ok := m.(*service)
		measured := s != nil && (s.name == MethodWarm || s.name == MethodWarmExec || s.name == MethodBaseWarm && c.BaselineBinary != "")
		if ok && measured && c.JudgeRounds > 0 && c.JudgeTests > 0 {
			judged, err := measureJudge(ctx, s, judgeLanguages(programs), c.JudgeTests, c.JudgeRounds, log)
			if err != nil {
				return nil, err
			}
			r.Judge = append(r.Judge, judged...)
		}
		if ok && s.name == MethodWarm && c.ProblemRounds > 0 && c.ProblemTests > 0 && c.RoundTrips > 0 {
			if r.Problems, err = measureProblems(ctx, s, c.ProblemTests, c.ProblemRounds, c.RoundTrips, log); err != nil {
				return nil, err
			}
		}
	}
	for _, m := range methods {
		if s, ok := m.(*service); ok {
			s.close()
		}
	}

	log.Info("stopping the service instances")
	started := instances
	stopErr := stopAll()
	for _, in := range started {
		if left := in.leftovers(); len(left) > 0 {
			if r.Leftovers == nil {
				r.Leftovers = map[string][]string{}
			}
			r.Leftovers[in.cfg.name] = left
			r.Notes = append(r.Notes, fmt.Sprintf("the %s instance left %d things behind after it stopped (see results.json)", in.cfg.name, len(left)))
		}
	}
	r.Finish()
	r.Notes = append(r.Notes, c.notes(r)...)
	return r, stopErr
}

// method prepares the method called name. It returns a reason instead when
// the method cannot be measured on this machine.
func (c Config) method(ctx context.Context, name, work, logDir string, programs []Program, instances *[]*instance) (Method, string, error) {
	langs := runner.DefaultLanguages()
	switch name {
	case MethodBare:
		m, err := method.NewBare(ctx, c.HostPython, c.HostGxx, work, c.BarePCH && includesStdcpp(programs))
		return m, "", err
	case MethodCold, MethodWarm, MethodBaseCold, MethodBaseWarm, MethodAsync, MethodPiston, MethodJudge0, MethodWarmExec:
		args := append(slices.Clone(c.ServeArgs), c.ColdArgs...)
		if name == MethodWarm || name == MethodBaseWarm || name == MethodAsync || name == MethodPiston || name == MethodJudge0 || name == MethodWarmExec {
			args = append(slices.Clone(c.ServeArgs), c.WarmArgs...)
		}
		if name == MethodWarmExec {
			args = append(args, "--exec-every-test")
		}
		socket, binary := c.Socket, c.Binary
		if (name == MethodBaseCold || name == MethodBaseWarm) && c.BaselineBinary != "" {
			binary = c.BaselineBinary
		} else if name == MethodBaseCold || name == MethodBaseWarm {
			if c.BaselineSocket == "" {
				return nil, "no baseline containerd (--baseline-socket; `make bench` starts one)", nil
			}
			socket = c.BaselineSocket
			// The stack as it was: runc, and a snapshot view per sandbox
			// (containerd 1.6 has no sandbox records, so no shim hosts).
			args = append(args, "--oci-runtime", "runc", "--shared-rootfs=false")
		}
		in, err := startInstance(ctx, instanceConfig{
			name: name, binary: binary, socket: socket, namespace: c.Namespace,
			stateDir: filepath.Join(work, "state-"+name),
			args:     args,
			logPath:  filepath.Join(logDir, "service-"+name+".log"),
		})
		if err != nil {
			return nil, "", err
		}
		*instances = append(*instances, in)
		s := newService(name, in.url, in.cmd.Process.Pid, c.Concurrency, c.RunTimeout)
		s.async, s.piston, s.judge0 = name == MethodAsync, name == MethodPiston, name == MethodJudge0
		return s, "", nil
	case MethodCtr:
		return method.NewCtr(c.Ctr, c.Socket, c.Namespace, work, langs, runner.DefaultConfig()), "", nil
	case MethodDocker:
		if err := method.DockerReady(ctx, c.Docker); err != nil {
			return nil, err.Error(), nil
		}
		d := method.NewDocker(c.Docker, work, langs, []string{c.Ctr, "--address", c.Socket, "--namespace", c.Namespace})
		for _, p := range programs {
			if err := d.EnsureImage(ctx, langs[p.Language].Image, method.ImageArchive(c.ImagesDir, p.Language)); err != nil {
				return nil, err.Error(), nil
			}
		}
		return d, "", nil
	}
	return nil, "", fmt.Errorf("unknown method %q", name)
}

// notes explains what a reader of r needs to know to read it right.
func (c Config) notes(r *Report) []string {
	var notes []string
	if slices.Contains(r.Methods, MethodCold) && slices.Contains(r.Methods, MethodWarm) && slices.Equal(c.ColdArgs, c.WarmArgs) {
		notes = append(notes, fmt.Sprintf("the cold and warm instances were started with the same flags (%s), so their columns measure one configuration, not cold against warm", cmp.Or(strings.Join(c.WarmArgs, " "), "-")))
	}
	if r.Settings.BarePCH && includesStdcpp(r.Programs) {
		notes = append(notes, "bare C++ compiles with a <bits/stdc++.h> precompiled at start for -O2 -std=c++17, as the cpp image ships one")
	}
	if c.BaselineBinary != "" && (slices.Contains(r.Methods, MethodBaseCold) || slices.Contains(r.Methods, MethodBaseWarm)) {
		notes = append(notes, fmt.Sprintf("base-cold and base-warm are another build of codeexec (%s) on the same stack and with the same flags as cold and warm (%s): the two builds side by side in one run",
			c.BaselineBinary, c.Binary))
	} else if slices.Contains(r.Methods, MethodBaseCold) || slices.Contains(r.Methods, MethodBaseWarm) {
		notes = append(notes, fmt.Sprintf("base-cold and base-warm are the same service on the baseline stack, containerd %s with runc %s and a snapshot view per sandbox (--oci-runtime runc --shared-rootfs=false), as before issue 11; cold and warm run on containerd %s with the OCI runtime the service chose (crun where it works; its log says which), a shared root per image and shim hosts",
			cmp.Or(r.Machine.BaselineContainerd, "-"), cmp.Or(r.Machine.Runc, "-"), cmp.Or(r.Machine.Containerd, "-")))
	}
	if slices.Contains(r.Methods, MethodCtr) {
		notes = append(notes, "ctr 1.6 has no --user and no pids limit: ctr runs as the image's user (10001:10001) with no pids limit")
	}
	return notes
}

// includesStdcpp reports whether a program includes <bits/stdc++.h>, the
// header the bare method precompiles.
func includesStdcpp(programs []Program) bool {
	return slices.ContainsFunc(programs, func(p Program) bool { return strings.Contains(p.Code, "<bits/stdc++.h>") })
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// judgeLanguages are the languages of the chosen programs that have an
// a+b program (judgePrograms), each once, in the order of --programs.
func judgeLanguages(programs []Program) []string {
	var out []string
	for _, p := range programs {
		if _, ok := judgePrograms[p.Language]; ok && !slices.Contains(out, p.Language) {
			out = append(out, p.Language)
		}
	}
	return out
}
