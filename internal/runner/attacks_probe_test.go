package runner

import (
	"encoding/json"
	"os"
	"testing"
)

func TestAttackProbe(t *testing.T) {
	f := os.Getenv("PROBE_FILE")
	if f == "" {
		t.Skip()
	}
	code, _ := os.ReadFile(f)
	r := MustOpenRunner(t, nil)
	res := run(t, r, os.Getenv("PROBE_LANG"), string(code), "")
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", b)
	t.Logf("STDOUT:\n%s\nSTDERR:\n%s\nCOMPILE:\n%.3000s", res.Stdout, res.Stderr, res.CompileOutput)
}
