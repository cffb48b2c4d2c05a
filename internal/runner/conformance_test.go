package runner

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/testtiming"
)

// conformanceCase is one row of the conformance table: what a program of
// each language does, and what the run must then say. A language without a
// program for a row skips it (compile_error for interpreted languages; the
// 10^6-deep recursion where the language's own stack limit forbids it;
// most of the memory limit in bash, whose strings cost several times their
// size).
//
// No row's verdict depends on how fast the machine is. Only the
// "infinite" row (timed) runs under the default 2 s time limit, which is
// what it checks; every other row ends by itself or by another limit
// (memory, output), and runs under testtiming.LimitWait, far longer than
// any machine needs: bash's memory bomb, the slowest row, reaches the
// memory limit in about 3.3 s on the project's slower 2-core machines,
// and its time limit is 30 s.
type conformanceCase struct {
	name  string
	input func(t *testing.T) string // stdin; nil for none
	check func(t *testing.T, lang Language, res Result)
	timed bool // the row checks the wall-clock limit itself
}

// conformancePrograms holds, per language, the program of each row.
var conformancePrograms = map[string]map[string]string{
	"python": {
		"big memory":   "b = bytearray(160 << 20)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nprint('ok')",
		"hello":        `print("hello")`,
		"echo":         `print(input())`,
		"exit code":    "import sys\nsys.exit(3)",
		"uncaught":     `raise ValueError("boom")`,
		"infinite":     "while True:\n    pass",
		"memory bomb":  "a = []\nwhile True:\n    a.append(b'x' * (1 << 20))",
		"output flood": "while True:\n    print('x' * 1000)",
		"uid":          "import os\nprint(os.getuid())",
		"no network":   "import socket\nport = int(input())\ntry:\n    socket.create_connection(('127.0.0.1', port), 2)\n    print('connected')\nexcept OSError:\n    print('no network')",
		"read-only":    "try:\n    open('/etc/codeexec-probe', 'w')\n    print('writable')\nexcept OSError:\n    print('read-only')",
		"recursion":    "import sys\nsys.setrecursionlimit(10**6 + 100)\ndef f(n):\n    return 0 if n == 0 else n + f(n - 1)\nprint(f(10**6))",
	},
	"cpp": {
		"big memory":    "#include <cstdio>\n#include <cstdlib>\n#include <cstring>\nint main() { char *p = (char *)std::malloc(160 << 20); std::memset(p, 1, 160 << 20); std::puts(p[12345] == 1 ? \"ok\" : \"bad\"); }",
		"hello":         "#include <cstdio>\nint main() { std::puts(\"hello\"); }",
		"echo":          "#include <iostream>\n#include <string>\nint main() { std::string s; std::getline(std::cin, s); std::cout << s << \"\\n\"; }",
		"exit code":     "int main() { return 3; }",
		"uncaught":      "#include <stdexcept>\nint main() { throw std::runtime_error(\"boom\"); }",
		"compile error": "int main() { return x; }",
		"infinite":      "int main() { volatile unsigned x = 0; for (;;) x++; }",
		"memory bomb":   "#include <cstdlib>\n#include <cstring>\nint main() { for (;;) { char *p = (char *)std::malloc(1 << 20); std::memset(p, 1, 1 << 20); } }",
		"output flood":  "#include <cstdio>\nint main() { for (;;) std::puts(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"); }",
		"uid":           "#include <cstdio>\n#include <unistd.h>\nint main() { std::printf(\"%d\\n\", (int)getuid()); }",
		"no network":    cNetwork,
		"read-only":     "#include <cstdio>\nint main() { std::puts(std::fopen(\"/etc/codeexec-probe\", \"w\") ? \"writable\" : \"read-only\"); }",
		"recursion":     "#include <cstdio>\nlong f(long n) { return n == 0 ? 0 : n + f(n - 1); }\nint main() { std::printf(\"%ld\\n\", f(1000000)); }",
	},
	"c": {
		"big memory":    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { char *p = malloc(160 << 20); memset(p, 1, 160 << 20); puts(p[12345] == 1 ? \"ok\" : \"bad\"); return 0; }",
		"hello":         "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }",
		"echo":          "#include <stdio.h>\nint main(void) { char s[100]; if (fgets(s, sizeof s, stdin)) fputs(s, stdout); return 0; }",
		"exit code":     "int main(void) { return 3; }",
		"uncaught":      "int main(void) { volatile int *p = 0; *p = 1; return 0; }",
		"compile error": "int main(void) { return x; }",
		"infinite":      "int main(void) { volatile unsigned x = 0; for (;;) x++; }",
		"memory bomb":   "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char *p = malloc(1 << 20); memset(p, 1, 1 << 20); } }",
		"output flood":  "#include <stdio.h>\nint main(void) { for (;;) puts(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"); }",
		"uid":           "#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf(\"%d\\n\", (int)getuid()); return 0; }",
		"no network":    cNetwork,
		"read-only":     "#include <stdio.h>\nint main(void) { puts(fopen(\"/etc/codeexec-probe\", \"w\") ? \"writable\" : \"read-only\"); return 0; }",
		"recursion":     "#include <stdio.h>\nlong f(long n) { return n == 0 ? 0 : n + f(n - 1); }\nint main(void) { printf(\"%ld\\n\", f(1000000)); return 0; }",
	},
	"javascript": {
		"big memory":  `const b = Buffer.alloc(160 << 20, 1); console.log(b[12345] === 1 ? "ok" : "bad")`,
		"hello":       `console.log("hello")`,
		"echo":        `process.stdout.write(require("fs").readFileSync(0, "utf8"))`,
		"exit code":   `process.exit(3)`,
		"uncaught":    `throw new Error("boom")`,
		"infinite":    `for (;;) {}`,
		"memory bomb": `const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))`,
		// console.log queues what a slow reader has not taken yet, so on a
		// busy machine that loop meets the memory limit before the output
		// cap; writeSync waits for the reader, and floods only output.
		"output flood": `const fs = require("fs"), line = "x".repeat(1000) + "\n";
for (;;) { try { fs.writeSync(1, line); } catch (e) { if (e.code !== "EAGAIN") throw e; } }`,
		"uid": `console.log(process.getuid())`,
		"no network": `const port = +require("fs").readFileSync(0, "utf8");
const s = require("net").connect(port, "127.0.0.1");
s.on("connect", () => { console.log("connected"); process.exit(0); });
s.on("error", () => console.log("no network"));`,
		"read-only": `try { require("fs").writeFileSync("/etc/codeexec-probe", "x"); console.log("writable"); } catch (e) { console.log("read-only"); }`,
		"recursion": `function f(n) { return n === 0 ? 0 : n + f(n - 1); }
console.log(f(1e6));`,
	},
	"java": {
		"big memory":    `public class Main { public static void main(String[] a) { byte[] b = new byte[160 << 20]; java.util.Arrays.fill(b, (byte) 1); System.out.println(b[12345] == 1 ? "ok" : "bad"); } }`,
		"hello":         `public class Main { public static void main(String[] a) { System.out.println("hello"); } }`,
		"echo":          "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { System.out.println(new Scanner(System.in).nextLine()); } }",
		"exit code":     `public class Main { public static void main(String[] a) { System.exit(3); } }`,
		"uncaught":      `public class Main { public static void main(String[] a) { throw new RuntimeException("boom"); } }`,
		"compile error": `public class Main { public static void main(String[] a) { return x; } }`,
		"infinite":      `public class Main { static volatile long x; public static void main(String[] a) { for (;;) x++; } }`,
		"memory bomb":   "import java.util.*;\npublic class Main { public static void main(String[] a) { List<long[]> l = new ArrayList<>(); for (;;) { long[] b = new long[1 << 17]; Arrays.fill(b, 1); l.add(b); } } }",
		"output flood":  `public class Main { public static void main(String[] a) { for (;;) System.out.println("x".repeat(1000)); } }`,
		"uid":           "import java.nio.file.*;\npublic class Main { public static void main(String[] a) throws Exception { for (String l : Files.readAllLines(Path.of(\"/proc/self/status\"))) if (l.startsWith(\"Uid:\")) System.out.println(l.split(\"\\\\s+\")[1]); } }",
		"no network":    "import java.net.*;\nimport java.util.Scanner;\npublic class Main { public static void main(String[] a) { int port = new Scanner(System.in).nextInt(); try (Socket s = new Socket()) { s.connect(new InetSocketAddress(\"127.0.0.1\", port), 2000); System.out.println(\"connected\"); } catch (Exception e) { System.out.println(\"no network\"); } } }",
		"read-only":     "import java.nio.file.*;\npublic class Main { public static void main(String[] a) { try { Files.writeString(Path.of(\"/etc/codeexec-probe\"), \"x\"); System.out.println(\"writable\"); } catch (Exception e) { System.out.println(\"read-only\"); } } }",
		"recursion":     `public class Main { static long f(long n) { return n == 0 ? 0 : n + f(n - 1); } public static void main(String[] a) { System.out.println(f(1000000)); } }`,
	},
	"csharp": {
		"big memory":    "class P { static void Main() { var b = new byte[160 << 20]; for (int i = 0; i < b.Length; i += 4096) b[i] = 1; System.Console.WriteLine(b[4096] == 1 ? \"ok\" : \"bad\"); } }",
		"hello":         `class P { static void Main() { System.Console.WriteLine("hello"); } }`,
		"echo":          `class P { static void Main() { System.Console.WriteLine(System.Console.ReadLine()); } }`,
		"exit code":     `class P { static void Main() { System.Environment.Exit(3); } }`,
		"uncaught":      `class P { static void Main() { throw new System.Exception("boom"); } }`,
		"compile error": `class P { static void Main() { return x; } }`,
		"infinite":      `class P { static void Main() { for (;;) {} } }`,
		"memory bomb":   "using System.Collections.Generic;\nclass P { static void Main() { var l = new List<byte[]>(); for (;;) { var b = new byte[1 << 20]; for (int i = 0; i < b.Length; i += 4096) b[i] = 1; l.Add(b); } } }",
		"output flood":  `class P { static void Main() { var s = new string('x', 1000); for (;;) System.Console.WriteLine(s); } }`,
		"uid":           "using System.IO;\nclass P { static void Main() { foreach (var l in File.ReadAllLines(\"/proc/self/status\")) if (l.StartsWith(\"Uid:\")) System.Console.WriteLine(l.Split(new[] { '\\t', ' ' }, System.StringSplitOptions.RemoveEmptyEntries)[1]); } }",
		"no network":    "using System;\nusing System.Net.Sockets;\nclass P { static void Main() { int port = int.Parse(Console.ReadLine()); try { new TcpClient().Connect(\"127.0.0.1\", port); Console.WriteLine(\"connected\"); } catch (Exception) { Console.WriteLine(\"no network\"); } } }",
		"read-only":     "using System;\nusing System.IO;\nclass P { static void Main() { try { File.WriteAllText(\"/etc/codeexec-probe\", \"x\"); Console.WriteLine(\"writable\"); } catch (Exception) { Console.WriteLine(\"read-only\"); } } }",
		"recursion":     `class P { static long F(long n) { return n == 0 ? 0 : n + F(n - 1); } static void Main() { System.Console.WriteLine(F(1000000)); } }`,
	},
	"rust": {
		"hello":         `fn main() { println!("hello"); }`,
		"echo":          "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); print!(\"{}\", s); }",
		"exit code":     `fn main() { std::process::exit(3); }`,
		"uncaught":      `fn main() { panic!("boom"); }`,
		"compile error": `fn main() { let x: i32 = "s"; }`,
		"infinite":      `fn main() { loop {} }`,
		"big memory":    "fn main() { let v = vec![1u8; 160 << 20]; println!(\"{}\", if v[12345] == 1 { \"ok\" } else { \"bad\" }); }",
		"memory bomb":   "fn main() { let mut v = Vec::new(); loop { v.push(vec![1u8; 1 << 20]); } }",
		"output flood":  `fn main() { loop { println!("{}", "x".repeat(1000)); } }`,
		"uid":           "fn main() { let s = std::fs::read_to_string(\"/proc/self/status\").unwrap(); for l in s.lines() { if l.starts_with(\"Uid:\") { println!(\"{}\", l.split_whitespace().nth(1).unwrap()); } } }",
		"no network":    "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); let port: u16 = s.trim().parse().unwrap(); match std::net::TcpStream::connect((\"127.0.0.1\", port)) { Ok(_) => println!(\"connected\"), Err(_) => println!(\"no network\") } }",
		"read-only":     `fn main() { println!("{}", if std::fs::write("/etc/codeexec-probe", "x").is_ok() { "writable" } else { "read-only" }); }`,
		"recursion":     "fn f(n: u64) -> u64 { if n == 0 { 0 } else { n + f(n - 1) } }\nfn main() { println!(\"{}\", f(1000000)); }",
	},
	"go": {
		"big memory":    "package main\nimport \"fmt\"\nfunc main() { b := make([]byte, 160<<20); for i := range b { b[i] = 1 }; if b[12345] == 1 { fmt.Println(\"ok\") } }",
		"hello":         "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello\") }",
		"echo":          "package main\nimport (\"bufio\"; \"fmt\"; \"os\")\nfunc main() { s, _ := bufio.NewReader(os.Stdin).ReadString('\\n'); fmt.Print(s) }",
		"exit code":     "package main\nimport \"os\"\nfunc main() { os.Exit(3) }",
		"uncaught":      "package main\nfunc main() { panic(\"boom\") }",
		"compile error": "package main\nfunc main() { return x }",
		"infinite":      "package main\nfunc main() { for {} }",
		"memory bomb":   "package main\nvar a [][]byte\nfunc main() { for { b := make([]byte, 1<<20); for i := range b { b[i] = 1 }; a = append(a, b) } }",
		"output flood":  "package main\nimport (\"fmt\"; \"strings\")\nfunc main() { for { fmt.Println(strings.Repeat(\"x\", 1000)) } }",
		"uid":           "package main\nimport (\"fmt\"; \"os\")\nfunc main() { fmt.Println(os.Getuid()) }",
		"no network":    "package main\nimport (\"fmt\"; \"net\"; \"time\")\nfunc main() { var port int; fmt.Scan(&port); if c, err := net.DialTimeout(\"tcp\", fmt.Sprintf(\"127.0.0.1:%d\", port), 2*time.Second); err == nil { c.Close(); fmt.Println(\"connected\") } else { fmt.Println(\"no network\") } }",
		"read-only":     "package main\nimport (\"fmt\"; \"os\")\nfunc main() { if os.WriteFile(\"/etc/codeexec-probe\", []byte(\"x\"), 0o644) == nil { fmt.Println(\"writable\") } else { fmt.Println(\"read-only\") } }",
		"recursion":     "package main\nimport \"fmt\"\nfunc f(n int64) int64 { if n == 0 { return 0 }; return n + f(n-1) }\nfunc main() { fmt.Println(f(1000000)) }",
	},
	"typescript": {
		"big memory":    `const b: Buffer = Buffer.alloc(160 << 20, 1); console.log(b[12345] === 1 ? "ok" : "bad");`,
		"hello":         `console.log("hello");`,
		"echo":          `import * as fs from "fs"; process.stdout.write(fs.readFileSync(0, "utf8"));`,
		"exit code":     `process.exit(3);`,
		"uncaught":      `throw new Error("boom");`,
		"compile error": `const n: number = "s"; console.log(n);`,
		"infinite":      `for (;;) {}`,
		"memory bomb":   `const a: Buffer[] = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));`,
		"output flood": `import * as fs from "fs"; const line: string = "x".repeat(1000) + "\n";
for (;;) { try { fs.writeSync(1, line); } catch (e: any) { if (e.code !== "EAGAIN") throw e; } }`,
		"uid": `console.log(process.getuid!());`,
		"no network": `import * as fs from "fs"; import * as net from "net";
const port: number = +fs.readFileSync(0, "utf8");
const s = net.connect(port, "127.0.0.1");
s.on("connect", () => { console.log("connected"); process.exit(0); });
s.on("error", () => console.log("no network"));`,
		"read-only": `import * as fs from "fs"; try { fs.writeFileSync("/etc/codeexec-probe", "x"); console.log("writable"); } catch (e) { console.log("read-only"); }`,
		"recursion": `function f(n: number): number { return n === 0 ? 0 : n + f(n - 1); }
console.log(f(1e6));`,
	},
	"ruby": {
		"big memory":   `s = "x" * (160 << 20); puts s.bytesize == (160 << 20) ? "ok" : "bad"`,
		"hello":        `puts "hello"`,
		"echo":         `puts gets`,
		"exit code":    `exit 3`,
		"uncaught":     `raise "boom"`,
		"infinite":     `loop {}`,
		"memory bomb":  `a = []; loop { a << "x" * (1 << 20) }`,
		"output flood": `loop { puts "x" * 1000 }`,
		"uid":          `puts Process.uid`,
		"no network":   "require 'socket'\nport = gets.to_i\nbegin\n  TCPSocket.new('127.0.0.1', port)\n  puts 'connected'\nrescue SystemCallError\n  puts 'no network'\nend",
		"read-only":    "begin\n  File.write('/etc/codeexec-probe', 'x')\n  puts 'writable'\nrescue SystemCallError\n  puts 'read-only'\nend",
		// Ruby's VM stack (1 MiB for the main thread) ends recursion at
		// about 10^4 frames with SystemStackError: no 10^6 row.
	},
	"php": {
		"big memory":   `<?php $s = str_repeat("x", 160 << 20); echo strlen($s) == (160 << 20) ? "ok\n" : "bad\n";`,
		"hello":        `<?php echo "hello\n";`,
		"echo":         `<?php echo fgets(STDIN);`,
		"exit code":    `<?php exit(3);`,
		"uncaught":     `<?php throw new Exception("boom");`,
		"infinite":     `<?php while (true) {}`,
		"memory bomb":  `<?php $a = []; while (true) { $a[] = str_repeat("x", 1 << 20); }`,
		"output flood": `<?php while (true) { echo str_repeat("x", 1000), "\n"; }`,
		"uid":          `<?php echo posix_getuid(), "\n";`,
		"no network":   `<?php $port = (int) fgets(STDIN); $s = @fsockopen("127.0.0.1", $port, $errno, $errstr, 2); echo $s ? "connected\n" : "no network\n";`,
		"read-only":    `<?php echo @file_put_contents("/etc/codeexec-probe", "x") === false ? "read-only\n" : "writable\n";`,
		"recursion":    `<?php function f($n) { return $n == 0 ? 0 : $n + f($n - 1); } echo f(1000000), "\n";`,
	},
	"bash": {
		"hello":        `echo hello`,
		"echo":         "read -r line\necho \"$line\"",
		"exit code":    `exit 3`,
		"uncaught":     "set -e\nfalse\necho not reached",
		"infinite":     `while :; do :; done`,
		"memory bomb":  "a=xxxxxxxx\nwhile :; do a=$a$a; done",
		"output flood": `while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done`,
		"uid":          `id -u`,
		"no network":   "read -r port\nif exec 3<>\"/dev/tcp/127.0.0.1/$port\"; then echo connected; else echo no network; fi 2>/dev/null",
		"read-only":    "if ( : > /etc/codeexec-probe ) 2>/dev/null; then echo writable; else echo read-only; fi",
		// Bash functions recurse on the C stack with a frame of several
		// KiB each: no 10^6 row.
	},
}

const cNetwork = `#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
int main(void) {
	int port;
	if (scanf("%d", &port) != 1) return 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	puts(connect(s, (struct sockaddr *)&a, sizeof a) == 0 ? "connected" : "no network");
	return 0;
}`

// hostListener listens on the host's loopback: a sandbox with a network of
// its own cannot reach it, and the check fails if anything connects.
func hostListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.(*net.TCPListener).SetDeadline(time.Now())
		if c, err := l.Accept(); err == nil {
			c.Close()
			t.Error("a sandbox connected to the host's loopback")
		}
		l.Close()
	})
	return fmt.Sprintf("%d\n", l.Addr().(*net.TCPAddr).Port)
}

var conformanceCases = []conformanceCase{
	{name: "hello", check: func(t *testing.T, _ Language, res Result) {
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "hello\n")
	}},
	{name: "echo", input: func(*testing.T) string { return "ping\n" },
		check: func(t *testing.T, _ Language, res Result) {
			wantStatus(t, res, StatusSuccess)
			wantStdout(t, res, "ping\n")
		}},
	{name: "exit code", check: func(t *testing.T, _ Language, res Result) {
		wantStatus(t, res, StatusRuntimeError)
		wantExit(t, res, 3)
	}},
	{name: "uncaught", check: func(t *testing.T, _ Language, res Result) { wantStatus(t, res, StatusRuntimeError) }},
	{name: "compile error", check: func(t *testing.T, lang Language, res Result) {
		wantStatus(t, res, StatusCompileError)
		// Every compiler's diagnostics name the file (the Go compiler's
		// say "undefined: x", without the word error).
		if !strings.Contains(res.CompileOutput, lang.SourceFile) {
			t.Errorf("compile output lacks the diagnostics on %s: %q", lang.SourceFile, res.CompileOutput)
		}
	}},
	{name: "infinite", timed: true, check: func(t *testing.T, _ Language, res Result) { wantTimeout(t, res) }},
	{name: "big memory", check: func(t *testing.T, _ Language, res Result) {
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "ok\n")
	}},
	{name: "memory bomb", check: func(t *testing.T, _ Language, res Result) { wantStatus(t, res, StatusMemoryLimitExceeded) }},
	{name: "output flood", check: func(t *testing.T, _ Language, res Result) {
		wantStatus(t, res, StatusOutputLimitExceeded)
		if !res.StdoutTruncated {
			t.Error("stdout not marked truncated")
		}
	}},
	{name: "uid", check: func(t *testing.T, _ Language, res Result) {
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "10001\n")
	}},
	{name: "no network", input: hostListener,
		check: func(t *testing.T, _ Language, res Result) {
			wantStatus(t, res, StatusSuccess)
			wantStdout(t, res, "no network\n")
		}},
	{name: "read-only", check: func(t *testing.T, _ Language, res Result) {
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "read-only\n")
	}},
	{name: "recursion", check: func(t *testing.T, _ Language, res Result) {
		wantStatus(t, res, StatusSuccess)
		wantStdout(t, res, "500000500000\n")
	}},
}

// TestConformance runs the conformance table for every language the runner
// serves by default: one program per language per row, the same checks for
// all, on a cold runner; then the rows of the languages whose interpreter
// the warm pool prestarts (Language.Prestart) on a warm runner, each run in
// a prestarted sandbox. A language missing from
// conformancePrograms fails: each language must be held to the table.
func TestConformance(t *testing.T) {
	for _, warm := range []bool{false, true} {
		mode := "cold"
		if warm {
			mode = "warm"
		}
		t.Run(mode, func(t *testing.T) {
			r := MustOpenRunner(t, nil)
			if warm {
				r = openPooled(t, 1, nil)
			}
			for _, lang := range slices.Sorted(maps.Keys(r.cfg.Languages)) {
				if warm && !r.cfg.Languages[lang].Prestart {
					continue
				}
				progs, ok := conformancePrograms[lang]
				switch lang {
				case "cpp20":
					progs, ok = conformancePrograms["cpp"], true
				}
				if !ok {
					t.Errorf("language %s has no conformance programs", lang)
					continue
				}
				for _, c := range conformanceCases {
					code, ok := progs[c.name]
					if !ok {
						continue
					}
					t.Run(lang+"/"+c.name, func(t *testing.T) {
						input := ""
						if c.input != nil {
							input = c.input(t)
						}
						if warm {
							waitPooled(t, r, lang)
						}
						var res Result
						if c.timed {
							res = run(t, r, lang, code, input)
						} else {
							res = runUntimed(t, r, lang, code, input)
						}
						if warm && !res.Warm {
							t.Errorf("a run of the warm runner got no pooled sandbox")
						}
						c.check(t, r.cfg.Languages[lang], res)
					})
				}
				if r.cfg.Languages[lang].Compiled() && progs["compile error"] == "" {
					t.Errorf("compiled language %s has no compile error row", lang)
				}
			}
		})
	}
}

// waitPooled waits until lang's pool holds a sandbox.
func waitPooled(t *testing.T, r *Runner, lang string) {
	t.Helper()
	for deadline := time.Now().Add(testtiming.Settle); r.PoolLevels()[lang] < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no pooled %s sandbox after %s: %v", lang, testtiming.Settle, r.PoolLevels())
		}
	}
}

// TestConformanceBatch runs each language's echo program as a batch, the
// way /judge runs a submission's tests: built once, then three runs in one
// lane, each a fresh process with its own input. No language needs code of
// its own for it.
func TestConformanceBatch(t *testing.T) {
	r := MustOpenRunner(t, nil)
	for _, lang := range slices.Sorted(maps.Keys(r.cfg.Languages)) {
		t.Run(lang, func(t *testing.T) {
			progs := conformancePrograms[lang]
			if lang == "cpp20" {
				progs = conformancePrograms["cpp"]
			}
			b, builds, err := r.OpenBatch(context.Background(), []Program{{Language: lang, Code: progs["echo"]}}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if builds[0].Status != StatusSuccess {
				t.Fatalf("build %+v", builds[0])
			}
			defer b.Close()
			for i := range 3 {
				in := fmt.Sprintf("test %d\n", i)
				res, err := b.Run(context.Background(), 0, 0, BatchRun{Input: in, Timeout: testtiming.LimitWait})
				if err != nil {
					t.Fatal(err)
				}
				wantStatus(t, res, StatusSuccess)
				wantStdout(t, res, in)
			}
		})
	}
}
