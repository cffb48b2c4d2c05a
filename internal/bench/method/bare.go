package method

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/codeexec/codeexec/internal/bench/report"
)

// gxxFlags are the service's compiler flags.
var gxxFlags = []string{"-O2", "-std=c++17"}

// bare runs programs directly on the host, without any isolation: the floor
// every other method is compared with. C++ is compiled and run as one timed
// unit, as the service does.
type bare struct {
	python string
	gxx    string
	work   string
	pchDir string // when set, holds bits/stdc++.h.gch and is passed with -I
}

// NewBare returns the bare method. With pch, it first precompiles the host's
// <bits/stdc++.h> for exactly gxxFlags into work, as the cpp image ships
// one: without it the floor of a program that includes the header would be
// the parse of the whole standard library, slower than the service.
func NewBare(ctx context.Context, python, gxx, work string, pch bool) (*bare, error) {
	b := &bare{python: python, gxx: gxx, work: work}
	if !pch {
		return b, nil
	}
	// g++ -M names the header it would include; the first match is it.
	deps, err := RunCommand(ctx, work, "#include <bits/stdc++.h>\n",
		append(append([]string{gxx}, gxxFlags...), "-x", "c++", "-M", "-")...)
	if err != nil {
		return nil, fmt.Errorf("find bits/stdc++.h: %w", err)
	}
	var header string
	for _, f := range strings.Fields(deps) {
		if strings.HasSuffix(f, "/bits/stdc++.h") {
			header = f
			break
		}
	}
	if header == "" {
		return nil, fmt.Errorf("find bits/stdc++.h: not in %q", Clip(deps))
	}
	b.pchDir = filepath.Join(work, "pch")
	if err := os.MkdirAll(filepath.Join(b.pchDir, "bits"), 0o755); err != nil {
		return nil, err
	}
	// g++ looks for <name>.gch in each include directory before the header
	// itself, so -I pchDir makes it load this one.
	args := append(append([]string{gxx}, gxxFlags...), "-x", "c++-header", header, "-o", filepath.Join(b.pchDir, "bits", "stdc++.h.gch"))
	if _, err := RunCommand(ctx, work, "", args...); err != nil {
		return nil, fmt.Errorf("precompile bits/stdc++.h: %w", err)
	}
	return b, nil
}

func (b *bare) Name() string { return report.MethodBare }

func (b *bare) Run(ctx context.Context, p Program) Outcome {
	dir, err := newJobDir(b.work, p, 0o755)
	if err != nil {
		return Outcome{Err: err}
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, sourceFile(p))
	start := time.Now()
	var out string
	switch p.Language {
	case "python":
		out, err = RunCommand(ctx, dir, p.Input, b.python, src)
	case "cpp":
		bin := filepath.Join(dir, "main")
		_, err = RunCommand(ctx, dir, "", b.compileArgs(src, bin)...)
		if err == nil {
			out, err = RunCommand(ctx, dir, p.Input, bin)
		}
	default:
		err = fmt.Errorf("bare: unknown language %q", p.Language)
	}
	return Outcome{Elapsed: time.Since(start), Stdout: out, Err: err}
}

// compileArgs is the g++ command line that compiles src to bin.
func (b *bare) compileArgs(src, bin string) []string {
	args := append([]string{b.gxx}, gxxFlags...)
	if b.pchDir != "" {
		args = append(args, "-I", b.pchDir)
	}
	return append(args, "-o", bin, src)
}
