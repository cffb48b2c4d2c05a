package runner

import "testing"

// The conformance table, for the tests of package runner_test, which run
// it through the HTTP APIs in front of the runner (packages that import
// this one, so the table's own package cannot).

// ConformanceCase is a row of the conformance table.
type ConformanceCase = conformanceCase

// ConformanceCases and ConformancePrograms are the table and each
// language's programs.
var (
	ConformanceCases    = conformanceCases
	ConformancePrograms = conformancePrograms
)

// Name is the row's name.
func (c conformanceCase) Name() string { return c.name }

// Timed says the row checks the default wall-clock limit itself; every
// other row runs under testtiming.LimitWait.
func (c conformanceCase) Timed() bool { return c.timed }

// Input is the row's stdin.
func (c conformanceCase) Input(t *testing.T) string {
	if c.input == nil {
		return ""
	}
	return c.input(t)
}

// Check checks what the run said.
func (c conformanceCase) Check(t *testing.T, lang Language, res Result) { c.check(t, lang, res) }
