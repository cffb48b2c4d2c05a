package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestConfigRefusesAnUnknownOCIRuntime(t *testing.T) {
	c := DefaultConfig()
	c.OCIRuntime = "kata"
	if err := c.Validate(); err == nil {
		t.Fatal("Validate accepted OCI runtime kata")
	}
}

// TestOCIRuntimeRunsTheSandboxes checks that the runtime the runner chose
// is the one that runs its sandboxes: each keeps its own state file in the
// shim's runtime root (runc state.json, crun status).
func TestOCIRuntimeRunsTheSandboxes(t *testing.T) {
	stateFile := map[string]string{OCIRuntimeRunc: "state.json", OCIRuntimeCrun: "status"}
	for _, name := range []string{OCIRuntimeCrun, OCIRuntimeRunc} {
		t.Run(name+" runs the sandboxes when chosen", func(t *testing.T) {
			r := MustOpenRunner(t, func(c *Config) { c.OCIRuntime = name })
			if r.sb.OCIRuntime() != name {
				t.Fatalf("runner chose %s, want %s", r.sb.OCIRuntime(), name)
			}
			ctx := context.Background()
			j, err := r.newJob(ctx, r.cfg.Languages["python"], true, r.defaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			defer j.destroy(r)
			dir := filepath.Join("/run/containerd/runc", r.cfg.Namespace, j.run.ID())
			if _, err := os.Stat(filepath.Join(dir, stateFile[name])); err != nil {
				entries, _ := os.ReadDir(dir)
				t.Fatalf("no %s state file of the running sandbox: %v (directory holds %v)", name, err, entries)
			}
		})
	}
	// The set-up gives the private containerd a read-only bind mount of
	// crun first on its PATH (scripts/containerd.sh, and it says where in
	// the environment file); crun then runs that file itself, instead of
	// a copy of it in a memfd.
	t.Run("crun runs from its read-only binary, not from a copy", func(t *testing.T) {
		dir := os.Getenv("CODEEXEC_RUNTIME_BIN")
		if dir == "" {
			t.Skip("CODEEXEC_RUNTIME_BIN is not set: containerd is not the set-up's private one")
		}
		r := MustOpenRunner(t, func(c *Config) { c.OCIRuntime = OCIRuntimeCrun })
		// Created, not started: the sandbox's init is still crun's child.
		j, err := r.newJob(context.Background(), r.cfg.Languages["python"], false, r.defaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		defer j.destroy(r)
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", j.run.Pid()))
		if want := filepath.Join(dir, "crun"); err != nil || exe != want {
			t.Fatalf("the created sandbox's init runs %q (%v), want %s", exe, err, want)
		}
	})
}
