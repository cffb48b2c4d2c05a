package runner

import (
	"sort"
)

// Runtime describes one language as GET /runtimes shows it.
type Runtime struct {
	Language    string   `json:"language"`
	Version     string   `json:"version"`
	Image       string   `json:"image"`
	ImageDigest string   `json:"image_digest"`
	SourceFile  string   `json:"source_file"`
	Compile     []string `json:"compile_command,omitempty"`
	Run         []string `json:"run_command"`
	Limits      struct {
		TimeoutMS        int64   `json:"timeout_ms"`
		MemoryBytes      int64   `json:"memory_bytes"`
		CPUs             float64 `json:"cpus"`
		Pids             int64   `json:"pids"`
		OutputBytes      int     `json:"output_bytes"`
		CompileTimeoutMS int64   `json:"compile_timeout_ms,omitempty"`
		CompileMemory    int64   `json:"compile_memory_bytes,omitempty"`
	} `json:"limits"`
	MaxLimits struct {
		TimeoutMS        int64 `json:"timeout_ms"`
		MemoryBytes      int64 `json:"memory_bytes"`
		Pids             int64 `json:"pids"`
		OutputBytes      int   `json:"output_bytes"`
		CompileTimeoutMS int64 `json:"compile_timeout_ms,omitempty"`
		CompileMemory    int64 `json:"compile_memory_bytes,omitempty"`
	} `json:"max_limits"`
	WarmPool int `json:"warm_pool_size"`
}

// Stack is the containerd stack the runner's sandboxes run on, as GET
// /runtimes shows it.
type Stack struct {
	Containerd string `json:"containerd"` // the daemon's version
	Shim       string `json:"shim"`       // containerd's runtime name
	// ShimWrapper says that codeexec-shim stands in for the shim binary
	// (Config.ShimWrapper).
	ShimWrapper bool   `json:"shim_wrapper"`
	OCIRuntime  string `json:"oci_runtime"` // crun or runc
}

// Stack returns the containerd stack the runner's sandboxes run on.
func (r *Runner) Stack() Stack {
	return Stack{Containerd: r.sb.Version(), Shim: r.cfg.Runtime, ShimWrapper: r.sb.ShimWrapped(), OCIRuntime: r.sb.OCIRuntime()}
}

// CheckLimits reports whether a request's limits are within the maxima,
// with an ErrInvalidLimits error naming the one that is not.
func (r *Runner) CheckLimits(l Limits) error {
	_, err := r.limitsFor(l)
	return err
}

// Runtimes lists the configured languages, sorted by name, with the digest
// of the image each one runs.
func (r *Runner) Runtimes() []Runtime {
	served := r.Languages()
	out := make([]Runtime, 0, len(served))
	for name, lang := range served {
		rt := Runtime{Language: name, Version: lang.Version, Image: lang.Image, SourceFile: lang.SourceFile,
			Compile: lang.Compile, Run: lang.Run, WarmPool: r.cfg.PoolSize}
		rt.ImageDigest = r.sb.ImageDigest(name)
		rt.Limits.TimeoutMS = r.cfg.RunTimeout.Milliseconds()
		rt.Limits.MemoryBytes = r.cfg.RunLimits.MemoryBytes
		rt.Limits.CPUs = r.cfg.RunLimits.CPUs
		rt.Limits.Pids = r.cfg.RunLimits.Pids
		rt.Limits.OutputBytes = r.cfg.OutputBytes
		m := r.cfg.MaxLimits
		rt.MaxLimits.TimeoutMS, rt.MaxLimits.MemoryBytes, rt.MaxLimits.Pids, rt.MaxLimits.OutputBytes =
			m.Timeout.Milliseconds(), m.MemoryBytes, m.Pids, m.OutputBytes
		if lang.Compiled() {
			rt.MaxLimits.CompileTimeoutMS, rt.MaxLimits.CompileMemory = m.CompileTimeout.Milliseconds(), m.CompileMemoryBytes
			rt.Limits.CompileTimeoutMS = r.cfg.CompileTimeout.Milliseconds()
			rt.Limits.CompileMemory = r.cfg.CompileLimits.MemoryBytes
		}
		out = append(out, rt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Language < out[j].Language })
	return out
}
