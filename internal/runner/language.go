package runner

// Image names of the built-in languages, as scripts/images.sh imports them.
const (
	PythonImage = "localhost/codeexec/python:latest"
	CppImage    = "localhost/codeexec/cpp:latest"
)

// Language says how to build and run a program of one language.
type Language struct {
	Name       string
	Version    string   // what the image provides, for GET /runtimes
	Image      string   // image reference in the service's containerd namespace
	SourceFile string   // name of the file the code is written to in the job directory
	Compile    []string // compile command; nil for interpreted languages
	Run        []string // run command
	// Prestart says that Run reads the source file once, at start-up, as
	// an interpreter reads its script. A pooled sandbox then starts Run
	// ahead of the request with the source file as a FIFO: the interpreter
	// initialises and blocks opening it, and the request only writes the
	// code into the FIFO. The program runs as the ordinary script it is.
	// Without Prestart, pooled sandboxes are created but not started.
	Prestart bool
}

// Compiled reports whether the language has a compile step.
func (l Language) Compiled() bool { return len(l.Compile) > 0 }

// tini is PID 1 of every sandbox: it reaps orphans and forwards signals, so
// the user's program gets ordinary signal semantics (a PID 1 ignores signals
// it has no handler for) and its exit status is reported as 128+signal.
const tini = "/usr/bin/tini"

// DefaultLanguages returns the built-in languages: Python 3 and C++17.
func DefaultLanguages() map[string]Language {
	return map[string]Language{
		"python": {
			Name:       "python",
			Version:    "Python 3.11 (Debian 12)",
			Image:      PythonImage,
			SourceFile: "main.py",
			Run:        []string{tini, "--", "python3", "/job/main.py"},
			Prestart:   true,
		},
		"cpp": {
			Name:       "cpp",
			Version:    "g++ 12, C++17 (Debian 12)",
			Image:      CppImage,
			SourceFile: "main.cpp",
			Compile:    []string{tini, "--", "g++", "-O2", "-std=c++17", "-o", "/job/main", "/job/main.cpp"},
			Run:        []string{tini, "--", "/job/main"},
		},
	}
}
