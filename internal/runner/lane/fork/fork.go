// Package fork holds the forking parents of interpreters (docs/judge.md,
// "Forked interpreters"): scripts the lane agent (sandbox/lane/lane.c)
// starts once per judge lane, in the language's own interpreter, and has
// fork each test. Each has run no line of any submission when it forks, and
// the test it forks becomes `INTERPRETER SCRIPT ARGS...` as a plain run
// would be; the agent's side of their protocol is in lane.c, and each
// script says its own.
package fork

import (
	"embed"
	"fmt"
)

//go:embed *.py *.rb
var scripts embed.FS

// Script returns the forking parent called name (a language's "fork" in
// runtimes.json) and its file name.
func Script(name string) (content []byte, file string, err error) {
	for _, ext := range []string{".py", ".rb"} {
		if content, err = scripts.ReadFile(name + ext); err == nil {
			return content, name + ext, nil
		}
	}
	return nil, "", fmt.Errorf("no forking parent %q", name)
}
