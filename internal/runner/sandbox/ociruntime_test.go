package sandbox

import (
	"slices"
	"testing"
)

func TestOCICandidates(t *testing.T) {
	tests := []struct {
		choice string
		want   []string
	}{
		{OCIRuntimeAuto, []string{OCIRuntimeCrun, OCIRuntimeRunc}},
		{OCIRuntimeCrun, []string{OCIRuntimeCrun}},
		{OCIRuntimeRunc, []string{OCIRuntimeRunc}},
	}
	for _, tt := range tests {
		if got := ociCandidates(tt.choice); !slices.Equal(got, tt.want) {
			t.Errorf("ociCandidates(%q) = %v, want %v", tt.choice, got, tt.want)
		}
	}
}

func TestOCIRuntimeNamed(t *testing.T) {
	t.Run("crun is the runc shim's binary and declares a spec version it knows", func(t *testing.T) {
		rt := ociRuntimeNamed(OCIRuntimeCrun)
		if rt.opts == nil || rt.opts.BinaryName != "crun" || rt.specVersion == "" {
			t.Fatalf("got %+v", rt)
		}
	})
	t.Run("runc leaves the shim its defaults", func(t *testing.T) {
		rt := ociRuntimeNamed(OCIRuntimeRunc)
		if rt.shimOptions() != nil || rt.specVersion != "" {
			t.Fatalf("got %+v", rt)
		}
	})
}
