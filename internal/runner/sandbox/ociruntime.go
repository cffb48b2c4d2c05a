package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/google/uuid"
)

// The OCI runtimes the manager drives through containerd's runc shim
// (Config.OCIRuntime).
const (
	OCIRuntimeAuto = "auto" // crun where a probe sandbox runs with it, runc otherwise
	OCIRuntimeCrun = "crun"
	OCIRuntimeRunc = "runc"
)

// ociRuntime is the OCI runtime every sandbox of the manager is created
// with.
type ociRuntime struct {
	name string
	// opts are the runc shim's options; nil leaves the shim's defaults
	// (runc). They replace the shim's options wholesale, so they are one
	// complete value.
	opts *options.Options
	// specVersion is what the spec declares (oci.Params.SpecVersion).
	specVersion string
}

// ociRuntimeNamed returns the runtime called name ("crun" or "runc").
func ociRuntimeNamed(name string) ociRuntime {
	if name == OCIRuntimeCrun {
		// crun 1.8 (Debian 12's) refuses the runtime-spec version the
		// containerd client writes; it runs everything the sandbox sets.
		return ociRuntime{name: name, opts: &options.Options{BinaryName: "crun"}, specVersion: oci.CompatSpecVersion}
	}
	return ociRuntime{name: OCIRuntimeRunc}
}

// shimOptions is what client.WithRuntime takes: nil, not a nil pointer, for
// the shim's defaults.
func (o ociRuntime) shimOptions() any {
	if o.opts == nil {
		return nil
	}
	return o.opts
}

// ociCandidates lists the runtimes to try for a Config.OCIRuntime, in
// order of preference.
func ociCandidates(choice string) []string {
	switch choice {
	case OCIRuntimeCrun:
		return []string{OCIRuntimeCrun}
	case OCIRuntimeRunc:
		return []string{OCIRuntimeRunc}
	default:
		// crun starts a container for less CPU than runc (docs/benchmark.md).
		return []string{OCIRuntimeCrun, OCIRuntimeRunc}
	}
}

// chooseOCIRuntime sets the manager's OCI runtime: the first candidate of
// Config.OCIRuntime with which a probe sandbox (the full sandbox spec,
// running /bin/true) runs and exits 0. A runtime chosen by name that fails
// the probe is an error; with "auto", a runtime that fails is logged and
// the next one tried.
func (m *Manager) chooseOCIRuntime(ctx context.Context) error {
	var errs []error
	for _, name := range ociCandidates(m.cfg.OCIRuntime) {
		rt := ociRuntimeNamed(name)
		err := m.probeOCIRuntime(ctx, rt)
		if err == nil {
			m.oci = rt
			return nil
		}
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		m.log.Warn("OCI runtime does not work here", "runtime", name, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return fmt.Errorf("no OCI runtime works here (%s): %w", m.cfg.OCIRuntime, errors.Join(errs...))
}

// probeOCIRuntime runs /bin/true in a sandbox of the first image
// (firstImage) with rt, and removes it.
func (m *Manager) probeOCIRuntime(ctx context.Context, rt ociRuntime) error {
	img := m.firstImage()
	id := "probe-" + uuid.NewString()
	dir := filepath.Join(JobsDir(m.cfg.StateDir), id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create probe directory: %w", err)
	}
	defer os.RemoveAll(dir)
	saved := m.oci
	m.oci = rt
	defer func() { m.oci = saved }()
	p, err := m.Prepare(ctx, Spec{
		ID: id + "-run", Job: id, Image: img, Args: []string{"/bin/true"}, Cwd: "/",
		JobDir: dir, Limits: m.cfg.OwnLimits, Timeout: m.cfg.OwnTimeout, NoShimHost: true,
	})
	if err != nil {
		return shortRuntimeError(err)
	}
	defer m.Destroy(p)
	x, err := m.Run(ctx, p, "")
	if err != nil {
		return err
	}
	if x.Failed() || x.Stats.OOMKills > 0 {
		return fmt.Errorf("probe sandbox failed (exit %v, signal %q, timed out %v): %s", x.ExitCode, x.Signal, x.TimedOut, strings.TrimSpace(x.Stderr))
	}
	return nil
}

// firstImage is the first image by name: that of the sandboxes that run
// no program of their own (the runtime probe, shim hosts' anchors).
func (m *Manager) firstImage() string {
	return m.Images()[0]
}

// shortRuntimeError keeps the runtime's own words of a failed task
// creation, which come last in containerd's message.
func shortRuntimeError(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "OCI runtime create failed: "); i >= 0 {
		return errors.New(msg[i:])
	}
	return err
}
