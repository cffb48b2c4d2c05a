// Package compat maps the APIs other code runners' clients speak onto
// codeexec's runner: Piston v2 (piston.go). It knows the other APIs'
// fields, names and meanings, and nothing of HTTP routing or containers;
// internal/api serves it.
package compat

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codeexec/codeexec/internal/runner"
)

// PistonLanguage is one of Piston's languages as codeexec serves it: its
// Piston name and aliases (from Piston's package definitions), and the
// codeexec language that runs it.
type PistonLanguage struct {
	Name    string
	Aliases []string
	Ours    string
}

// PistonLanguages are the Piston languages codeexec has.
var PistonLanguages = []PistonLanguage{
	{"python", []string{"py", "py3", "python3", "python3.11"}, "python"},
	{"javascript", []string{"node-javascript", "node-js", "javascript", "js", "node"}, "javascript"},
	{"typescript", []string{"ts", "node-ts", "tsc", "typescript5"}, "typescript"},
	{"c", []string{"gcc"}, "c"},
	{"c++", []string{"cpp", "g++"}, "cpp"},
	{"java", nil, "java"},
	{"go", []string{"go", "golang"}, "go"},
	{"rust", []string{"rs"}, "rust"},
	{"ruby", []string{"ruby3", "rb"}, "ruby"},
	{"php", nil, "php"},
	{"bash", []string{"sh"}, "bash"},
	// Piston's Mono package.
	{"csharp", []string{"mono", "mono-csharp", "mono-c#", "mono-cs", "c#", "cs"}, "csharp"},
}

// PistonRuntime is an entry of GET /api/v2/runtimes.
type PistonRuntime struct {
	Language string   `json:"language"`
	Version  string   `json:"version"`
	Aliases  []string `json:"aliases"`
	Runtime  string   `json:"runtime,omitempty"`
}

var versionNumber = regexp.MustCompile(`\d+(\.\d+)*`)

// PistonVersion is the version number in a runtime's description
// ("Python 3.11 (Debian 12)" is 3.11), as Piston reports versions.
func PistonVersion(description string) string {
	if v := versionNumber.FindString(description); v != "" {
		return v
	}
	return "0"
}

// PistonRuntimes lists the Piston languages among ours (language name to
// its description), in Piston's order.
func PistonRuntimes(ours map[string]string) []PistonRuntime {
	var out []PistonRuntime
	for _, l := range PistonLanguages {
		desc, ok := ours[l.Ours]
		if !ok {
			continue
		}
		out = append(out, PistonRuntime{Language: l.Name, Version: PistonVersion(desc), Aliases: append([]string{}, l.Aliases...)})
	}
	return out
}

// PistonFile is one of a request's files.
type PistonFile struct {
	Name     string `json:"name,omitempty"`
	Content  string `json:"content"`
	Encoding string `json:"encoding,omitempty"` // utf8 (the default), base64 or hex
}

// PistonRequest is POST /api/v2/execute's body. Limits are in
// milliseconds and bytes; -1 (or absent) is the service's default.
type PistonRequest struct {
	Language           string       `json:"language"`
	Version            string       `json:"version,omitempty"`
	Files              []PistonFile `json:"files"`
	Stdin              string       `json:"stdin,omitempty"`
	Args               []string     `json:"args,omitempty"`
	CompileTimeout     *int64       `json:"compile_timeout,omitempty" jsonschema:"nullable"`
	RunTimeout         *int64       `json:"run_timeout,omitempty" jsonschema:"nullable"`
	CompileMemoryLimit *int64       `json:"compile_memory_limit,omitempty" jsonschema:"nullable"`
	RunMemoryLimit     *int64       `json:"run_memory_limit,omitempty" jsonschema:"nullable"`
	// Piston's own, not codeexec's: its CPU-time limits, accepted and
	// bounded by the wall-clock ones.
	CompileCPUTime *int64 `json:"compile_cpu_time,omitempty" jsonschema:"nullable"`
	RunCPUTime     *int64 `json:"run_cpu_time,omitempty" jsonschema:"nullable"`
}

// PistonError is a refused request: Piston answers 400 with
// {"message": ...}.
type PistonError struct{ Message string }

func (e PistonError) Error() string { return e.Message }

func pistonErr(format string, args ...any) error { return PistonError{fmt.Sprintf(format, args...)} }

// Resolve finds the runtime a request names: its language by Piston's
// name or an alias, its version "*" (or empty) or a prefix of ours.
func Resolve(ours map[string]string, language, version string) (PistonLanguage, string, error) {
	for _, l := range PistonLanguages {
		if l.Name != language && !slices.Contains(l.Aliases, language) {
			continue
		}
		desc, ok := ours[l.Ours]
		if !ok {
			break
		}
		v := PistonVersion(desc)
		if version == "" || version == "*" || v == version || strings.HasPrefix(v, version+".") {
			return l, v, nil
		}
		break
	}
	return PistonLanguage{}, "", pistonErr("%s-%s runtime is unknown", language, version)
}

// ToRun maps a Piston request onto a run of codeexec's, its first file the
// source; the others are written beside it.
func (p PistonRequest) ToRun(ours map[string]string, sourceFile func(lang string) string) (runner.Request, PistonLanguage, string, error) {
	l, v, err := Resolve(ours, p.Language, p.Version)
	if err != nil {
		return runner.Request{}, l, v, err
	}
	if len(p.Files) == 0 {
		return runner.Request{}, l, v, pistonErr("files is required as an array")
	}
	req := runner.Request{Language: l.Ours, Input: p.Stdin, Args: p.Args}
	for i, f := range p.Files {
		content, err := decode(f)
		if err != nil {
			return runner.Request{}, l, v, pistonErr("files[%d]: %v", i, err)
		}
		if i == 0 {
			req.Code = content
			continue
		}
		if f.Name == "" {
			return runner.Request{}, l, v, pistonErr("files[%d].name is required for every file but the first", i)
		}
		if f.Name == sourceFile(l.Ours) || strings.ContainsAny(f.Name, "/\x00") || strings.HasPrefix(f.Name, ".") {
			return runner.Request{}, l, v, pistonErr("files[%d].name %q must be a plain file name other than %s", i, f.Name, sourceFile(l.Ours))
		}
		if req.Files == nil {
			req.Files = map[string]string{}
		}
		if _, dup := req.Files[f.Name]; dup {
			return runner.Request{}, l, v, pistonErr("files[%d].name %q is given twice", i, f.Name)
		}
		req.Files[f.Name] = content
	}
	ms := func(field string, v *int64) (time.Duration, error) {
		if v == nil || *v == -1 {
			return 0, nil
		}
		if *v <= 0 {
			return 0, pistonErr("%s must be a positive number of milliseconds, or -1", field)
		}
		return time.Duration(*v) * time.Millisecond, nil
	}
	bytes := func(field string, v *int64) (int64, error) {
		if v == nil || *v == -1 {
			return 0, nil
		}
		if *v <= 0 {
			return 0, pistonErr("%s must be a positive number of bytes, or -1", field)
		}
		return *v, nil
	}
	if req.Limits.Timeout, err = ms("run_timeout", p.RunTimeout); err != nil {
		return runner.Request{}, l, v, err
	}
	if req.Limits.CompileTimeout, err = ms("compile_timeout", p.CompileTimeout); err != nil {
		return runner.Request{}, l, v, err
	}
	if req.Limits.MemoryBytes, err = bytes("run_memory_limit", p.RunMemoryLimit); err != nil {
		return runner.Request{}, l, v, err
	}
	if req.Limits.CompileMemoryBytes, err = bytes("compile_memory_limit", p.CompileMemoryLimit); err != nil {
		return runner.Request{}, l, v, err
	}
	for _, c := range []struct {
		name string
		v    *int64
	}{{"run_cpu_time", p.RunCPUTime}, {"compile_cpu_time", p.CompileCPUTime}} {
		if _, err := ms(c.name, c.v); err != nil {
			return runner.Request{}, l, v, err
		}
	}
	return req, l, v, nil
}

// decode reads a file's content in its encoding.
func decode(f PistonFile) (string, error) {
	switch f.Encoding {
	case "", "utf8":
		if !utf8.ValidString(f.Content) {
			return "", fmt.Errorf("content is not UTF-8")
		}
		return f.Content, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil {
			return "", fmt.Errorf("content is not base64: %v", err)
		}
		return string(b), nil
	case "hex":
		b, err := hex.DecodeString(f.Content)
		if err != nil {
			return "", fmt.Errorf("content is not hex: %v", err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("encoding %q is not one of utf8, base64, hex", f.Encoding)
}

// PistonStage is a stage of Piston's answer: compile or run.
type PistonStage struct {
	Stdout   string  `json:"stdout"`
	Stderr   string  `json:"stderr"`
	Output   string  `json:"output"`
	Code     *int    `json:"code" jsonschema:"nullable"`
	Signal   *string `json:"signal" jsonschema:"nullable"`
	Message  *string `json:"message" jsonschema:"nullable"`
	Status   *string `json:"status" jsonschema:"nullable"`
	CPUTime  int64   `json:"cpu_time"`  // ms
	WallTime int64   `json:"wall_time"` // ms
	Memory   int64   `json:"memory"`    // bytes
}

// PistonResponse is POST /api/v2/execute's answer.
type PistonResponse struct {
	Language string       `json:"language"`
	Version  string       `json:"version"`
	Run      *PistonStage `json:"run,omitempty"`
	Compile  *PistonStage `json:"compile,omitempty"`
}

// Piston's statuses: RE a non-zero exit, SG killed by a signal, TO out of
// time, OL and EL stdout and stderr over their limit.
func strp(s string) *string { return &s }

// PistonAnswer maps what a run did onto Piston's answer: a compile stage
// for a compiled language, and a run stage unless the build failed.
func PistonAnswer(l PistonLanguage, version string, compiled bool, res runner.Result) PistonResponse {
	out := PistonResponse{Language: l.Name, Version: version}
	if compiled {
		c := &PistonStage{Stderr: res.CompileOutput, Output: res.CompileOutput, WallTime: res.CompileTime.Milliseconds()}
		zero := 0
		c.Code = &zero
		if res.Status == runner.StatusCompileError {
			c.Code, c.Signal = res.ExitCode, signal(res.Signal)
			c.Status, c.Message = strp("RE"), strp("the build failed")
			if res.Signal != "" {
				c.Status = strp("SG")
			}
			out.Compile = c
			return out
		}
		out.Compile = c
	}
	r := &PistonStage{Stdout: res.Stdout, Stderr: res.Stderr, Output: res.Stdout + res.Stderr,
		Code: res.ExitCode, Signal: signal(res.Signal), CPUTime: res.CPUTime.Milliseconds(),
		WallTime: res.Time.Milliseconds(), Memory: res.MemoryPeakBytes}
	switch res.Status {
	case runner.StatusTimeout:
		r.Status, r.Message = strp("TO"), strp("Timeout")
		if r.Signal == nil {
			r.Signal = strp("SIGKILL")
		}
	case runner.StatusOutputLimitExceeded:
		r.Status, r.Message = strp("OL"), strp("stdout or stderr length exceeded")
		if res.StderrTruncated && !res.StdoutTruncated {
			r.Status = strp("EL")
		}
	case runner.StatusMemoryLimitExceeded:
		r.Status, r.Message = strp("SG"), strp("memory limit exceeded")
		if r.Signal == nil {
			r.Signal = strp("SIGKILL")
		}
	case runner.StatusRuntimeError:
		if res.Signal != "" {
			r.Status = strp("SG")
		} else {
			r.Status = strp("RE")
		}
	}
	out.Run = r
	return out
}

func signal(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
