// Package language says how to build and run a program of each language:
// the image, the source file's name, the compile and run commands, as the
// embedded runtimes.json or an operator's runtimes file defines them. It
// knows nothing of containerd or of how a sandbox is made.
package language

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Image names of the built-in languages, as scripts/images.sh imports them.
const (
	PythonImage = "localhost/codeexec/python:latest"
	CppImage    = "localhost/codeexec/cpp:latest"
)

// Language says how to build and run a program of one language.
type Language struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`     // what the image provides, for GET /runtimes
	Image      string   `json:"image"`       // image reference in the service's containerd namespace
	SourceFile string   `json:"source_file"` // the file the code is written to in the job directory
	Compile    []string `json:"compile"`     // compile command; empty for interpreted languages
	Run        []string `json:"run"`         // run command
	// Prestart says that Run reads the source file once, at start-up, as
	// an interpreter reads its script. A pooled sandbox then starts Run
	// ahead of the request with the source file as a FIFO: the interpreter
	// initialises and blocks opening it, and the request only writes the
	// code into the FIFO. The program runs as the ordinary script it is.
	// Without Prestart, pooled sandboxes are created but not started.
	Prestart bool `json:"prestart"`
	// Fork names the interpreter's forking parent (internal/runner/lane/fork):
	// a judge lane starts it once and forks each test from it, instead of
	// starting the interpreter for each (docs/judge.md). Run's interpreter,
	// its first word after tini, runs it.
	Fork string `json:"fork,omitempty"`
}

// Compiled reports whether the language has a compile step.
func (l Language) Compiled() bool { return len(l.Compile) > 0 }

//go:embed runtimes.json
var defaultRuntimes []byte

// Defaults returns the built-in languages (runtimes.json, embedded):
// Python 3 and C++17. Every command starts with tini as PID 1, which reaps
// orphans and forwards signals, so the program gets ordinary signal
// semantics (a PID 1 ignores signals it has no handler for) and a death by
// signal N is reported as 128+N.
func Defaults() map[string]Language {
	langs, err := parseLanguages(defaultRuntimes)
	if err != nil {
		panic("language: embedded runtimes.json: " + err.Error())
	}
	return langs
}

// Load reads a runtimes file of the same shape as the embedded
// runtimes.json. Adding a language means a Dockerfile under sandbox/ and
// an entry in such a file.
func Load(path string) (map[string]Language, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("runtimes file: %w", err)
	}
	langs, err := parseLanguages(b)
	if err != nil {
		return nil, fmt.Errorf("runtimes file %s: %w", path, err)
	}
	return langs, nil
}

var (
	languageName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	// A source file name is one plain path element: no directories, no
	// "..", nothing a shell or the kernel would read specially.
	sourceFileName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
)

// PlainName reports whether name is one plain path element, as a source
// file's or a batch run's data file's name must be: no directories, no
// "..", nothing a shell or the kernel would read specially.
func PlainName(name string) bool {
	return sourceFileName.MatchString(name) && !strings.Contains(name, "..")
}

func parseLanguages(b []byte) (map[string]Language, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var file struct {
		Languages []Language `json:"languages"`
	}
	if err := dec.Decode(&file); err != nil {
		return nil, err
	}
	out := map[string]Language{}
	var errs []error
	for i, l := range file.Languages {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("language %d (%q): %s", i, l.Name, fmt.Sprintf(format, args...)))
		}
		if !languageName.MatchString(l.Name) {
			bad("name must match %s", languageName)
		}
		if _, dup := out[l.Name]; dup {
			bad("defined twice")
		}
		if l.Image == "" {
			bad("image is empty")
		}
		if !PlainName(l.SourceFile) {
			bad("source_file %q must be a plain file name (letters, digits, _ . -; no / or ..)", l.SourceFile)
		}
		if len(l.Run) == 0 || !strings.HasPrefix(l.Run[0], "/") {
			bad("run must be a command with an absolute path")
		}
		if len(l.Compile) > 0 && !strings.HasPrefix(l.Compile[0], "/") {
			bad("compile must be a command with an absolute path")
		}
		if l.Prestart && l.Compiled() {
			bad("prestart is for interpreters: a compiled language's run command does not read the source")
		}
		if l.Fork != "" && l.Compiled() {
			bad("fork is for interpreters: a compiled language's run command is not one")
		}
		out[l.Name] = l
	}
	if len(file.Languages) == 0 {
		errs = append(errs, errors.New("no languages defined"))
	}
	return out, errors.Join(errs...)
}
