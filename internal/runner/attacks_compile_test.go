package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Attack class 16: the C++ compile step. The compiler runs in a sandbox of
// its own with the compile limits (10 s, 512 MiB, the same output cap), as
// uid 10001, on the image's filesystem: whatever it includes comes from the
// image, and whatever it does ends in a compile_error.

// wantCompileError fails unless the run ended at the compile step and the
// compiler's output contains every one of want.
func wantCompileError(t *testing.T, res Result, want ...string) {
	t.Helper()
	wantStatus(t, res, StatusCompileError)
	for _, w := range want {
		if !strings.Contains(res.CompileOutput, w) {
			t.Errorf("compile output lacks %q:\n%.2000s", w, res.CompileOutput)
		}
	}
	if res.CompileTime > DefaultCompileTimeout+timeoutMargin {
		t.Errorf("the compile lasted %s, over the %s limit", res.CompileTime, DefaultCompileTimeout)
	}
	if res.Stdout != "" || res.Time != 0 {
		t.Errorf("the program ran after a failed compile: stdout %q, time %s", res.Stdout, res.Time)
	}
}

// shadowLine matches a line of a shadow file: name, password, then the
// numeric ageing fields.
var shadowLine = regexp.MustCompile(`(?m)^[a-z_][a-z0-9_-]*:[^:\s]*:\d*:\d*:\d*:`)

func TestAttackCompile(t *testing.T) {
	// The compile limit as the service has it, unscaled: it is what these
	// attacks assert.
	r := MustOpenRunner(t, func(c *Config) {
		c.QueueTimeout = 5 * time.Minute
		c.CompileTimeout = DefaultCompileTimeout
	})
	memoryStop := fmt.Sprintf("compilation stopped: the compiler used more than %d MiB", DefaultCompileMemory>>20)

	// A file only the host has: if the compiler saw the host's filesystem,
	// it would include it.
	hostFile := filepath.Join(t.TempDir(), "host-only.h")
	const hostSecret = "host_secret_7d2e"
	if err := os.WriteFile(hostFile, []byte("int "+hostSecret+";\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	runAttacks(t, r, []attack{
		{name: "including /etc/shadow reads the image's file, which uid 10001 cannot read", lang: "cpp",
			code: "#include \"/etc/shadow\"\nint main() {}\n",
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res)
				if want := "/job/main.cpp:1:10: fatal error: /etc/shadow: Permission denied\n    1 | #include \"/etc/shadow\"\n" +
					"      |          ^~~~~~~~~~~~~\ncompilation terminated.\n"; res.CompileOutput != want {
					t.Errorf("compile output:\n%s\nwant:\n%s", res.CompileOutput, want)
				}
				if shadowLine.MatchString(res.CompileOutput) {
					t.Errorf("compile output shows a shadow line:\n%s", res.CompileOutput)
				}
				wantNoHostShadow(t, res.CompileOutput)
			}},
		{name: "a host file cannot be included", lang: "cpp",
			code: "#include \"" + hostFile + "\"\nint main() { return " + hostSecret + "; }\n",
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res, "fatal error: "+hostFile+": No such file or directory")
				if strings.Count(res.CompileOutput, hostSecret) > 1 { // once: the quoted line of main.cpp
					t.Errorf("compile output shows the host file's content:\n%s", res.CompileOutput)
				}
			}},
		{name: "template recursion stops at the depth limit", lang: "cpp",
			code: "template <int N> struct F { static const int v = F<N + 1>::v; };\nint main() { return F<0>::v; }\n",
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res, "fatal error: template instantiation depth exceeds maximum of 900")
			}},
		{name: "a file including itself stops at the include depth limit", lang: "cpp",
			code: "#include \"/job/main.cpp\"\nint main() {}\n",
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res, "#include nested depth 200 exceeds maximum of 200")
			}},
		{name: "an error flood is cut at the output cap", lang: "cpp",
			// 100 000 errors, each with five notes on the macro expansions.
			code: `#define A { int v = "x"; } { int v = "x"; } { int v = "x"; } { int v = "x"; } { int v = "x"; }
#define B A A A A A A A A A A
#define C B B B B B B B B B B
#define D C C C C C C C C C C
#define E D D D D D D D D D D
int main() { E E E E E E E E E E }
`,
			check: func(t *testing.T, res Result) {
				stop := fmt.Sprintf("compilation stopped: the compiler wrote more than %d bytes", DefaultOutputBytes)
				wantCompileError(t, res, "error: invalid conversion from ‘const char*’ to ‘int’", stop)
				if n := len(res.CompileOutput); n > 2*DefaultOutputBytes+len(stop)+2 {
					t.Errorf("compile output is %d bytes, over two capped streams", n)
				}
			}},
		{name: "a 1 GiB binary is stopped by the file size limit", lang: "cpp",
			code: "char big[1u << 30] = {1};\nint main(int argc, char**) { return big[argc * 12345]; }\n",
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res, "File size limit exceeded signal terminated program as")
			}},
		{name: "a slow constant evaluation is stopped at the compile timeout", lang: "cpp",
			// 90 evaluations, each just under GCC's own operation limit.
			code: `template <int K> constexpr long spin() {
    long s = 0;
    for (long i = 0; i < 4000; i++)
        for (long j = 0; j < 4000; j++) s += (i ^ j) + K;
    return s;
}
#define S(k) static_assert(spin<k>() != 1);
#define S10(k) S(k##0) S(k##1) S(k##2) S(k##3) S(k##4) S(k##5) S(k##6) S(k##7) S(k##8) S(k##9)
S10(1) S10(2) S10(3) S10(4) S10(5) S10(6) S10(7) S10(8) S10(9)
int main() {}
`,
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res, fmt.Sprintf("compilation stopped: it ran longer than %s", DefaultCompileTimeout))
				if res.Signal != "SIGKILL" || res.CompileTime < DefaultCompileTimeout {
					t.Errorf("signal %q after %s, want SIGKILL at the %s limit", res.Signal, res.CompileTime, DefaultCompileTimeout)
				}
			}},
	})

	// The memory bombs come last, one at a time: next to the 10 s compile
	// above, on a 2-core machine, they would be slowed past the timeout and
	// end as timeouts rather than at the memory limit.
	runAttacksInTurn(t, r, []attack{
		{name: "including /dev/random is stopped at the compile memory limit", lang: "cpp",
			code: "#include </dev/random>\nint main() {}\n",
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res, "g++: fatal error: Killed signal terminated program cc1plus", memoryStop)
			}},
		{name: "a macro expansion bomb is stopped at the compile memory limit", lang: "cpp",
			// 10^8 adjacent 16-byte string literals, concatenated into one.
			code: `#define A(x) x x x x x x x x x x
#define B(x) A(A(x))
#define C(x) B(B(x))
#define D(x) C(C(x))
const char s[] = D("0123456789abcdef");
int main() { return s[0]; }
`,
			check: func(t *testing.T, res Result) {
				wantCompileError(t, res, "g++: fatal error: Killed signal terminated program cc1plus", memoryStop)
			}},
	})

	t.Run("/dev/random in the sandbox is the kernel's character device", func(t *testing.T) {
		res := run(t, r, "cpp", `#include <cstdio>
#include <sys/stat.h>
#include <sys/sysmacros.h>
int main() {
    struct stat st;
    stat("/dev/random", &st);
    std::printf("/dev/random: %s %u:%u\n", S_ISCHR(st.st_mode) ? "char device" : "other", major(st.st_rdev), minor(st.st_rdev));
}
`, "")
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "/dev/random: char device 1:8\n")
	})
}

// wantNoHostShadow fails if s contains a password hash of the host's
// /etc/shadow. Locked and passwordless entries ("*", "!") are too short to
// be told apart and are skipped.
func wantNoHostShadow(t *testing.T, s string) {
	t.Helper()
	b, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Logf("cannot read the host's /etc/shadow: %v", err)
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 1 && len(f[1]) > 2 && strings.Contains(s, f[1]) {
			t.Errorf("the output holds the password hash of the host's user %s", f[0])
		}
	}
}
