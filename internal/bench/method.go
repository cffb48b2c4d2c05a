package bench

import (
	"github.com/codeexec/codeexec/internal/bench/report"
)

// AllMethods lists every method, in report order.
func AllMethods() []string { return report.AllMethods() }
