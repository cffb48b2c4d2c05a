package runner

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

// The OCI runtimes the runner drives through containerd's runc shim
// (Config.OCIRuntime).
const (
	OCIRuntimeAuto = "auto" // crun where a probe sandbox runs with it, runc otherwise
	OCIRuntimeCrun = "crun"
	OCIRuntimeRunc = "runc"
)

// ociRuntime is the OCI runtime every sandbox of the runner is created
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

// chooseOCIRuntime sets the runner's OCI runtime: the first candidate of
// Config.OCIRuntime with which a probe sandbox (the full sandbox spec,
// running /bin/true) runs and exits 0. A runtime chosen by name that fails
// the probe is an error; with "auto", a runtime that fails is logged and
// the next one tried.
func (r *Runner) chooseOCIRuntime(ctx context.Context) error {
	var errs []error
	for _, name := range ociCandidates(r.cfg.OCIRuntime) {
		rt := ociRuntimeNamed(name)
		err := r.probeOCIRuntime(ctx, rt)
		if err == nil {
			r.oci = rt
			return nil
		}
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		r.log.Warn("OCI runtime does not work here", "runtime", name, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return fmt.Errorf("no OCI runtime works here (%s): %w", r.cfg.OCIRuntime, errors.Join(errs...))
}

// probeOCIRuntime runs /bin/true in a sandbox of the first language's image
// (firstLanguage) with rt, and removes it.
func (r *Runner) probeOCIRuntime(ctx context.Context, rt ociRuntime) error {
	lang := r.firstLanguage()
	id := "probe-" + uuid.NewString()
	dir := filepath.Join(jobsDir(r.cfg), id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create probe directory: %w", err)
	}
	defer os.RemoveAll(dir)
	saved := r.oci
	r.oci = rt
	defer func() { r.oci = saved }()
	p, err := r.prepare(ctx, sandboxSpec{
		id: id + "-run", job: id, lang: lang, args: []string{"/bin/true"}, cwd: "/",
		jobDir: dir, limits: r.cfg.RunLimits, timeout: r.cfg.CompileTimeout, noShimHost: true,
	})
	if err != nil {
		return shortRuntimeError(err)
	}
	defer r.destroy(p)
	x, err := r.run(ctx, p, "")
	if err != nil {
		return err
	}
	if st := x.classify(); st != StatusSuccess {
		return fmt.Errorf("probe sandbox ended %s: %s", st, strings.TrimSpace(x.stderr))
	}
	return nil
}

// firstLanguage is the served language first by name: the image of the
// sandboxes that run no program of their own (the runtime probe, shim
// hosts' anchors).
func (r *Runner) firstLanguage() Language {
	var lang Language
	for _, l := range r.cfg.Languages {
		if lang.Name == "" || l.Name < lang.Name {
			lang = l
		}
	}
	return lang
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
