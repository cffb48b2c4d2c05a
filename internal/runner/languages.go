package runner

import "github.com/codeexec/codeexec/internal/runner/language"

// Language says how to build and run a program of one language (package
// language).
type Language = language.Language

// Image names of the built-in languages, as scripts/images.sh imports them.
const (
	PythonImage = language.PythonImage
	CppImage    = language.CppImage
)

// DefaultLanguages returns the built-in languages (language.Defaults).
func DefaultLanguages() map[string]Language { return language.Defaults() }

// LoadLanguages reads a runtimes file (language.Load).
func LoadLanguages(path string) (map[string]Language, error) { return language.Load(path) }
