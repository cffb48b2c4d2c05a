package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pistonClientScript drives Piston's own Node.js client, piston-client
// from npm, against the service: its runtimes(), then execute() as its
// README shows it, with stdin and arguments, and a compiled language.
const pistonClientScript = `
import piston from "piston-client";
const client = piston({ server: process.argv[2] });
const runtimes = await client.runtimes();
const hello = await client.execute("python", "import sys\nprint(input(), sys.argv[1:])", { stdin: "Hello World!", args: ["x", "y z"] });
const cpp = await client.execute("c++", "#include <cstdio>\nint main() { std::puts(\"compiled\"); }");
const bad = await client.execute({ language: "python", version: "2.7", files: [{ content: "print 1" }] });
console.log(JSON.stringify({ runtimes, hello, cpp, bad }));
`

// TestPistonClientFromNPM is the proof that a Piston client moves by
// changing its server: piston-client, installed by scripts/clients.sh
// (`make test` sets CODEEXEC_PISTON_CLIENT), runs on Node.js against the
// real service.
func TestPistonClientFromNPM(t *testing.T) {
	dir := os.Getenv("CODEEXEC_PISTON_CLIENT")
	if dir == "" {
		if os.Getenv("CODEEXEC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("CODEEXEC_PISTON_CLIENT is empty: run `make test`, which installs the client with scripts/clients.sh")
		}
		t.Skip("CODEEXEC_PISTON_CLIENT is not set (scripts/clients.sh installs piston-client)")
	}
	s := startService(t)
	script := filepath.Join(dir, "codeexec-test.mjs") // beside node_modules, where Node finds the package
	if err := os.WriteFile(script, []byte(pistonClientScript), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(script) })
	out, err := exec.Command("node", script, s.url).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Runtimes []struct {
			Language string   `json:"language"`
			Version  string   `json:"version"`
			Aliases  []string `json:"aliases"`
		} `json:"runtimes"`
		Hello, Cpp struct {
			Language string `json:"language"`
			Run      *struct {
				Stdout string `json:"stdout"`
				Output string `json:"output"`
				Code   *int   `json:"code"`
				Signal any    `json:"signal"`
			} `json:"run"`
			Compile *struct {
				Code *int `json:"code"`
			} `json:"compile"`
		}
		Bad struct {
			Message string `json:"message"`
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	langs := map[string]bool{}
	for _, r := range got.Runtimes {
		langs[r.Language] = r.Version != ""
	}
	if !langs["python"] || !langs["c++"] || !langs["javascript"] {
		t.Fatalf("runtimes %s", out)
	}
	if h := got.Hello; h.Language != "python" || h.Run == nil || h.Run.Stdout != "Hello World! ['x', 'y z']\n" || h.Run.Code == nil || *h.Run.Code != 0 || h.Run.Signal != nil {
		t.Fatalf("python: %s", out)
	}
	if c := got.Cpp; c.Run == nil || c.Run.Stdout != "compiled\n" || c.Compile == nil || *c.Compile.Code != 0 {
		t.Fatalf("c++: %s", out)
	}
	if !strings.Contains(got.Bad.Message, "runtime is unknown") {
		t.Fatalf("an unknown version: %s", out)
	}
}
