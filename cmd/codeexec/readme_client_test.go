package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// clientRequest is one README curl command, as the generated client's
// program (clientProgram) takes it.
type clientRequest struct {
	Line        int    `json:"line"`
	Method      string `json:"method"`
	Path        string `json:"path"` // with its query; "<id>" stands for the last answer's id
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
	File        string `json:"file,omitempty"` // --data-binary @file
}

// clientAnswer is what the program says of one request.
type clientAnswer struct {
	Line   int             `json:"line"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// curlRequest reads a README curl command (after the shell has split it
// into words) as a request.
func curlRequest(t *testing.T, line int, words []string) clientRequest {
	t.Helper()
	r := clientRequest{Line: line, Method: http.MethodGet}
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() string {
			if i+1 >= len(words) {
				t.Fatalf("README line %d: %s without a value", line, w)
			}
			i++
			return words[i]
		}
		switch {
		case w == "-s":
		case w == "-H":
			if k, v, ok := strings.Cut(next(), ":"); ok && strings.EqualFold(k, "Content-Type") {
				r.ContentType = strings.TrimSpace(v)
			}
		case w == "-d" || w == "--data":
			r.Method, r.Body = http.MethodPost, next()
		case w == "--data-binary":
			r.Method, r.File = http.MethodPost, strings.TrimPrefix(next(), "@")
		case w == "-X":
			r.Method = next()
		case strings.HasPrefix(w, "localhost:3000"):
			r.Path = strings.TrimPrefix(w, "localhost:3000")
		default:
			t.Fatalf("README line %d: curl %s: the client test does not know this option; teach curlRequest it", line, w)
		}
	}
	if r.Path == "" {
		t.Fatalf("README line %d: no localhost:3000 URL", line)
	}
	return r
}

// shellWords splits a command as bash does, by having bash print its words.
func shellWords(t *testing.T, sh string) []string {
	t.Helper()
	out, err := exec.Command("bash", "-c", `printf '%s\0' `+sh).Output()
	if err != nil {
		t.Fatalf("split %q: %v", sh, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestAGeneratedClientRunsTheReadmeExamples generates a Go client from the
// contract the service serves (ogen, a go.mod tool, into a directory of
// this module, so that the generated code builds against go.mod's
// versions), and has it send every request of the README's examples: each
// body decoded into the generated request type, sent by the generated
// method, and the answer decoded into the generated response type (ogen's
// decoders check the schema: types, enums, required fields). The answers,
// encoded again, must match what the README shows, as TestReadmeExamples
// checks curl's.
func TestAGeneratedClientRunsTheReadmeExamples(t *testing.T) {
	blocks := readmeExamples(t)
	s := startService(t)
	tmp := t.TempDir()
	var reqs []clientRequest
	byLine := map[int]readmeCommand{}
	for _, block := range blocks {
		for _, c := range block {
			sh := strings.ReplaceAll(c.shell, "/tmp/", tmp+"/")
			if !strings.HasPrefix(sh, "curl ") {
				// Not a request (the archive of a problem package): run
				// as written, from the repository's root.
				cmd := exec.Command("bash", "-c", sh)
				cmd.Dir = "../.."
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("README line %d: %v\n%s", c.line, err, out)
				}
				continue
			}
			// "<id>" is not the shell's: keep it from the split.
			words := shellWords(t, strings.ReplaceAll(sh, "<id>", "__ID__"))
			r := curlRequest(t, c.line, words)
			r.Path = strings.ReplaceAll(r.Path, "__ID__", "<id>")
			r.Body = strings.ReplaceAll(r.Body, "__ID__", "<id>")
			reqs = append(reqs, r)
			byLine[c.line] = c
		}
	}
	if len(reqs) < 8 {
		t.Fatalf("found %d requests in the README's examples, want its Use it section's", len(reqs))
	}

	// The generated client lives in a directory of this module, removed
	// afterwards: its imports (ogen's runtime) resolve with go.mod's
	// versions, which go.sum checks, and nothing is fetched.
	dir, err := os.MkdirTemp("testdata", "genclient-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	spec := filepath.Join(dir, "openapi.json")
	resp, err := http.Get(s.url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := os.WriteFile(spec, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	gen := exec.Command("go", "tool", "ogen", "--target", filepath.Join(dir, "oas"), "--package", "oas", "--clean", spec)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("ogen: %v\n%s", err, out)
	}
	pkg := "github.com/codeexec/codeexec/cmd/codeexec/" + filepath.ToSlash(dir)
	// The program that uses the client: testdata/genclient.go.txt, for
	// the client's package.
	program, err := os.ReadFile(filepath.Join("testdata", "genclient.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), bytes.ReplaceAll(program, []byte("OAS_PACKAGE"), []byte(pkg+"/oas")), 0o644); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(reqs)
	run := exec.Command("go", "run", "./"+filepath.ToSlash(dir), s.url)
	run.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		t.Fatalf("the generated client's program: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for dec.More() {
		var a clientAnswer
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("the program's answer %d: %v", n, err)
		}
		n++
		c, ok := byLine[a.Line]
		if !ok {
			t.Fatalf("an answer for README line %d, which sent nothing", a.Line)
		}
		checkReadmeAnswer(t, c, a.Body, strconv.Itoa(a.Status))
	}
	if n != len(reqs) {
		t.Fatalf("%d answers for %d requests\n%s", n, len(reqs), stderr.String())
	}
}
