package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePackage writes a problem package's files into a new folder.
func writePackage(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "p")
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The secrets a submission must not find: the answer, the validator's
// source and (interactive) the input.
const (
	answerToken    = "ANSWER-TOKEN-5d1e"
	validatorToken = "VALIDATOR-TOKEN-9b27"
	inputToken     = "INPUT-TOKEN-c3a0"
)

// snoop searches every file a submission can read under the places a
// judge puts things (its data and job folders, scratch space, /run with
// a feedback folder if it had one, and every process's root it can see)
// for the secrets, and answers "ok" when it found none.
const snoop = `import os, sys
secrets = [b"ANSWER-" + b"TOKEN-5d1e", b"VALIDATOR-" + b"TOKEN-9b27"] + ([b"INPUT-" + b"TOKEN-c3a0"] if len(sys.argv) < 2 else [])
found = []
for top in ["/run", "/job", "/tmp", "/dev/shm", "/proc/1/root/run", "/proc/1/cwd"]:
    for root, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            try:
                with open(p, "rb", buffering=0) as fh:
                    if not os.path.isfile(p):
                        continue
                    data = fh.read(1 << 20)
            except OSError:
                continue
            found += [p for s in secrets if s in data]
if os.path.exists("/run/feedback"):
    found.append("/run/feedback exists")
`

// TestProblemSubmissionsSeeNoSecrets judges a snooping submission against
// a package with a custom validator and an interactive one: it must find
// neither the answer, nor the validator's source, nor its feedback folder
// (nor, interactive, the input), and so be accepted.
func TestProblemSubmissionsSeeNoSecrets(t *testing.T) {
	validator := `# ` + validatorToken + `
import sys
out = sys.stdin.read().strip()
if out == "ok":
    sys.exit(42)
open(sys.argv[3] + "judgemessage.txt", "w").write("found: " + out)
sys.exit(43)
`
	custom := writePackage(t, map[string]string{
		"problem.yaml":                    "name: Snoop\nvalidation: custom\n",
		"data/secret/1.in":                "nothing here\n",
		"data/secret/1.ans":               answerToken + "\n",
		"output_validators/v/validate.py": validator,
	})
	// A non-interactive submission may see its input: only the answer and
	// the validator are secret (the argument says so).
	subCustom := filepath.Join(t.TempDir(), "snoop_custom.py")
	os.WriteFile(subCustom, []byte("import sys\nsys.argv.append('input allowed')\n"+snoop+"print('ok' if not found else ' '.join(found))\n"), 0o644)
	out, code := cliRun(t, "judge", "--language", "python", "--problem", custom, subCustom)
	if code != 0 || !strings.Contains(out, "secret/1: accepted") {
		t.Fatalf("custom validation: exit %d\n%s", code, out)
	}

	interactive := writePackage(t, map[string]string{
		"problem.yaml":      "name: Snoop talk\nvalidation: custom interactive\n",
		"data/secret/1.in":  inputToken + "\n",
		"data/secret/1.ans": answerToken + "\n",
		"output_validators/v/validate.py": `# ` + validatorToken + `
import sys
print("go", flush=True)
out = sys.stdin.readline().strip()
if out == "ok":
    sys.exit(42)
open(sys.argv[3] + "judgemessage.txt", "w").write("found: " + out)
sys.exit(43)
`,
	})
	subTalk := filepath.Join(t.TempDir(), "snoop_talk.py")
	os.WriteFile(subTalk, []byte("input()\n"+snoop+"print('ok' if not found else ' '.join(found), flush=True)\n"), 0o644)
	out, code = cliRun(t, "judge", "--language", "python", "--problem", interactive, subTalk)
	if code != 0 || !strings.Contains(out, "secret/1: accepted") {
		t.Fatalf("interactive: exit %d\n%s", code, out)
	}
}

// TestProblemValidatorFaultsAreNotTheSubmissions: a validator that
// crashes, exits 0, or runs out of time is checker_error, whatever the
// submission did.
func TestProblemValidatorFaultsAreNotTheSubmissions(t *testing.T) {
	for _, tc := range []struct{ name, validator, want string }{
		{"a crash", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "validator was killed by SIGSEGV"},
		{"exit 0", "import sys\nsys.exit(0)\n", "validator exited with 0, not 42 or 43"},
		{"an exception", "raise RuntimeError('validator bug')\n", "validator exited with 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePackage(t, map[string]string{
				"problem.yaml":                    "name: Faulty\nvalidation: custom\n",
				"data/secret/1.in":                "1\n",
				"data/secret/1.ans":               "1\n",
				"output_validators/v/validate.py": tc.validator,
			})
			prog := filepath.Join(t.TempDir(), "p.py")
			os.WriteFile(prog, []byte("print(input())\n"), 0o644)
			out, code := cliRun(t, "judge", "--language", "python", "--problem", dir, prog)
			if code != judgeExitRejected || !strings.Contains(out, "secret/1: checker_error") || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d\n%s", code, out)
			}
		})
	}
}

// TestInteractiveFloodAndSilenceEndInTime: a submission that floods a
// validator that never reads, and one that never reads a validator that
// floods, both end at the submission's time limit, as timeouts.
func TestInteractiveFloodAndSilenceEndInTime(t *testing.T) {
	for _, tc := range []struct{ name, validator, submission string }{
		// The validator reads (and drops) what comes until the
		// submission's limit ends the flood.
		{"the submission floods", "import sys\nwhile sys.stdin.buffer.read(65536):\n    pass\nsys.exit(43)\n", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"},
		// The validator blocks on a full FIFO, and dies of SIGPIPE (as a
		// C++ validator would) once the submission is gone.
		{"the submission never reads", "import signal, sys\nsignal.signal(signal.SIGPIPE, signal.SIG_DFL)\nwhile True:\n    sys.stdout.write('y' * 65536)\n", "import time\ntime.sleep(60)\n"},
		{"each waits for the other", "import sys\nsys.stdin.readline()\nsys.exit(43)\n", "input()\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePackage(t, map[string]string{
				"problem.yaml":                    "name: Flood\nvalidation: custom interactive\nlimits:\n  time_limit: 1\n",
				"data/secret/1.in":                "\n",
				"data/secret/1.ans":               "\n",
				"output_validators/v/validate.py": tc.validator,
			})
			prog := filepath.Join(t.TempDir(), "p.py")
			os.WriteFile(prog, []byte(tc.submission), 0o644)
			start := time.Now()
			out, code := cliRun(t, "judge", "--language", "python", "--problem", dir, prog)
			if code != judgeExitRejected || !strings.Contains(out, "secret/1: timeout") {
				t.Fatalf("exit %d\n%s", code, out)
			}
			// The CLI builds, starts lanes and stops them: seconds beyond
			// the 1 s limit and the validator's 5 s, not a minute.
			if d := time.Since(start); d > 40*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}
