package judge

import (
	"strings"

	"github.com/codeexec/codeexec/internal/runner"
)

// The checker protocol is testlib's: the checker runs as
// `checker input output answer` (CheckerArgs: the test's input, the
// program's output and the expected output, as files) and says its verdict
// by its exit code; what it writes (testlib writes to stderr) is the
// test's message.
const (
	CheckerInput  = "input"
	CheckerOutput = "output"
	CheckerAnswer = "answer"
)

// checkerArgs are the checker's arguments: its three files, in the batch
// lane's data directory.
var checkerArgs = []string{runner.DataDir + "/" + CheckerInput, runner.DataDir + "/" + CheckerOutput, runner.DataDir + "/" + CheckerAnswer}

// testlib's exit codes (testlib.h: _ok, _wa, _pe, _fail).
const (
	exitOK     = 0
	exitWA     = 1
	exitPE     = 2
	exitFail   = 3
	maxMessage = 1024 // bytes of a checker's message kept in a test's message
)

// checkerVerdict maps a checker's run to the test's status and message. A
// checker that exits 0, 1 or 2 judged the output; anything else (its own
// failure, exit 3 included, a crash, a timeout, an overflow) is
// checker_error: the checker is at fault, not the submission.
func checkerVerdict(res runner.Result) (Status, string) {
	msg := strings.TrimSpace(res.Stderr)
	if msg == "" {
		msg = strings.TrimSpace(res.Stdout)
	}
	msg = cut(msg, maxMessage)
	if res.Status == runner.StatusSuccess || res.Status == runner.StatusRuntimeError && res.ExitCode != nil {
		switch *res.ExitCode {
		case exitOK:
			return StatusAccepted, msg
		case exitWA:
			return StatusWrongAnswer, msg
		case exitPE:
			return StatusPresentationError, msg
		}
	}
	why := "checker failed"
	switch {
	case res.Status == runner.StatusTimeout:
		why = "checker ran out of time"
	case res.Status == runner.StatusMemoryLimitExceeded:
		why = "checker ran out of memory"
	case res.Status == runner.StatusOutputLimitExceeded:
		why = "checker wrote too much"
	case res.Signal != "":
		why = "checker was killed by " + res.Signal
	case res.ExitCode != nil && *res.ExitCode == exitFail:
		why = "checker failed (exit 3, testlib's _fail)"
	case res.ExitCode != nil:
		why = "checker exited with an unknown code"
	}
	if msg != "" {
		why += ": " + msg
	}
	return StatusCheckerError, why
}

// cut shortens s to at most n bytes, at a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}
