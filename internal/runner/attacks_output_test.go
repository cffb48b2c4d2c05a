package runner

import (
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// Attack class 6: output. The runner keeps at most OutputBytes of each
// stream, byte for byte (a Go string holding whatever the program wrote,
// valid UTF-8 or not), and kills the program as soon as either stream goes
// over. Turning invalid UTF-8 into U+FFFD for JSON is the HTTP layer's job.

// wantOverflow fails unless the run was stopped for output on the named
// stream only, keeping exactly the cap, well before the wall-clock limit.
func wantOverflow(t *testing.T, res Result, stdout, stderr bool) {
	t.Helper()
	wantStatus(t, res, StatusOutputLimitExceeded)
	if res.StdoutTruncated != stdout || res.StderrTruncated != stderr {
		t.Errorf("truncated stdout %v stderr %v, want %v %v", res.StdoutTruncated, res.StderrTruncated, stdout, stderr)
	}
	if stdout && len(res.Stdout) != DefaultOutputBytes {
		t.Errorf("kept %d bytes of stdout, want the %d byte cap", len(res.Stdout), DefaultOutputBytes)
	}
	if stderr && len(res.Stderr) != DefaultOutputBytes {
		t.Errorf("kept %d bytes of stderr, want the %d byte cap", len(res.Stderr), DefaultOutputBytes)
	}
	if res.Time > testtiming.EarlyStop {
		t.Errorf("the run lasted %s; an overflow must stop it well before the %s limit", res.Time, DefaultRunTimeout)
	}
}

func TestAttackOutput(t *testing.T) {
	r := openAttackRunner(t)
	var every []byte // every byte value once
	for i := range 256 {
		every = append(every, byte(i))
	}
	binary := strings.Repeat(string(every), DefaultOutputBytes/256)

	runAttacks(t, r, []attack{
		{name: "a cpp line flood keeps exactly the first 64 KiB", lang: "cpp",
			code: "#include <cstdio>\nint main() { for (;;) std::fputs(\"0123456789abcdef\\n\", stdout); }\n",
			check: func(t *testing.T, res Result) {
				wantOverflow(t, res, true, false)
				wantStdout(t, res, strings.Repeat("0123456789abcdef\n", DefaultOutputBytes/17+1)[:DefaultOutputBytes])
			}},
		{name: "one huge line without a newline keeps exactly the first 64 KiB", lang: "python",
			code: "import sys\nwhile True:\n    sys.stdout.write('y' * (1 << 20))\n",
			check: func(t *testing.T, res Result) {
				wantOverflow(t, res, true, false)
				wantStdout(t, res, strings.Repeat("y", DefaultOutputBytes))
			}},
		{name: "a stderr flood sets only the stderr flag and leaves stdout intact", lang: "python",
			code: "import sys\nprint('before', flush=True)\nwhile True:\n    sys.stderr.write('e' * 4096)\n",
			check: func(t *testing.T, res Result) {
				wantOverflow(t, res, false, true)
				wantStdout(t, res, "before\n")
				if res.Stderr != strings.Repeat("e", DefaultOutputBytes) {
					t.Errorf("stderr is not the first %d bytes of the flood", DefaultOutputBytes)
				}
			}},
		{name: "invalid UTF-8 bytes are kept byte for byte", lang: "python",
			code: "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\xc3\\x28 \\xed\\xa0\\x80 \\x00 \\xf8\\x88\\x80\\x80\\x80 ok\\n')\n",
			check: func(t *testing.T, res Result) {
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, "\xff\xfe\xc3\x28 \xed\xa0\x80 \x00 \xf8\x88\x80\x80\x80 ok\n")
			}},
		{name: "a flood of every byte value keeps exactly the first 64 KiB", lang: "python",
			code: "import sys\nb = bytes(range(256))\nwhile True:\n    sys.stdout.buffer.write(b)\n",
			check: func(t *testing.T, res Result) {
				wantOverflow(t, res, true, false)
				if res.Stdout != binary {
					t.Errorf("stdout is not 256 repeats of bytes 0..255 (first bytes %q)", res.Stdout[:min(len(res.Stdout), 64)])
				}
			}},
		{name: "sixty processes flooding together are stopped at the cap", lang: "python",
			code: "import os, sys\nfor _ in range(59):\n    if os.fork() == 0:\n        break\nwhile True:\n    os.write(1, b'z' * 1000 + b'\\n')\n",
			check: func(t *testing.T, res Result) {
				wantOverflow(t, res, true, false)
				if strings.Trim(res.Stdout, "z\n") != "" {
					t.Errorf("stdout holds bytes nobody wrote")
				}
			}},
		{name: "one byte over the cap is an overflow even when the program exits 0", lang: "python",
			code: "import sys\nsys.stdout.write('o' * 65537)\n",
			check: func(t *testing.T, res Result) {
				wantOverflow(t, res, true, false)
				wantStdout(t, res, strings.Repeat("o", DefaultOutputBytes))
			}},
	})
}
