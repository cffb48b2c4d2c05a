package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/runner/language"
)

// readmePath is the README, from this package's directory.
const readmePath = "../../README.md"

// A readmeCommand is one shell command of a README example, with the
// answer the README shows for it: a ```json block after the example (the
// whole answer) or "# " lines after the command (some fields; "..." elides
// the rest, and "<...>" stands for a value of the run's own).
type readmeCommand struct {
	line  int // in the README
	shell string
	want  string
	whole bool // want is the whole answer: no other field may appear
}

// readmeExamples reads the ```sh blocks of the README that call the
// service, in order.
func readmeExamples(t *testing.T) [][]readmeCommand {
	t.Helper()
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	var blocks [][]readmeCommand
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		var cmds []readmeCommand
		var cur strings.Builder
		start := 0
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			l := lines[i]
			if cur.Len() == 0 && strings.HasPrefix(l, "#") {
				if len(cmds) > 0 {
					c := &cmds[len(cmds)-1]
					c.want += strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
				}
				continue
			}
			if cur.Len() == 0 {
				start = i + 1
			}
			cur.WriteString(l + "\n")
			if complete(cur.String()) {
				cmds = append(cmds, readmeCommand{line: start, shell: strings.TrimSpace(cur.String())})
				cur.Reset()
			}
		}
		if cur.Len() > 0 {
			t.Fatalf("README line %d: a command whose quotes never close", start)
		}
		// The whole answer of the block's last command, in the ```json
		// block right after it.
		if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "```json" && len(cmds) > 0 {
			var j strings.Builder
			for i += 2; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				j.WriteString(lines[i] + "\n")
			}
			cmds[len(cmds)-1].want, cmds[len(cmds)-1].whole = j.String(), true
		}
		if slices.ContainsFunc(cmds, func(c readmeCommand) bool { return strings.Contains(c.shell, "localhost:3000") }) {
			blocks = append(blocks, cmds)
		}
	}
	return blocks
}

// complete says whether sh is a whole shell command: no quote left open,
// no line continued.
func complete(sh string) bool {
	var quote rune
	escaped := false
	for _, r := range sh {
		switch {
		case escaped:
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			}
		case r == '\\':
			escaped = true
		case quote == '"':
			if r == '"' {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		}
	}
	return quote == 0 && !strings.HasSuffix(strings.TrimRight(sh, "\n"), "\\")
}

// TestReadmeExamples runs the README's examples as a user would, with
// bash and curl from the repository's root, against a real service, and
// compares each answer with the one the README shows: the same fields
// (all of them for a whole answer), the same values but for what differs
// from run to run (ids, times, memory figures), and an error exactly when
// the README shows one. A README that says something the service does not
// do fails here.
func TestReadmeExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README's examples use curl: install it (scripts/setup.sh does)")
	}
	blocks := readmeExamples(t)
	if len(blocks) < 5 {
		t.Fatalf("found %d examples in the README, want its Use it section's", len(blocks))
	}
	s := startService(t)
	addr := strings.TrimPrefix(s.url, "http://")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, block := range blocks {
		vars := map[string]string{}
		for _, c := range block {
			t.Run(fmt.Sprintf("line%d", c.line), func(t *testing.T) {
				sh := strings.ReplaceAll(c.shell, "localhost:3000", addr)
				sh = strings.ReplaceAll(sh, "/tmp/", tmp+"/")
				for k, v := range vars {
					sh = strings.ReplaceAll(sh, k, v)
				}
				isCurl := strings.HasPrefix(sh, "curl ")
				if isCurl {
					sh += ` -w '\n%{http_code}'`
				}
				cmd := exec.Command("bash", "-c", sh)
				cmd.Dir = root
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("README line %d: %v\n%s\n%s", c.line, err, sh, stderr.String())
				}
				if !isCurl {
					return
				}
				// curl's -w wrote the status on a line of its own, last.
				i := strings.LastIndex(string(out), "\n")
				if i < 0 {
					t.Fatalf("README line %d: no status after the answer: %q", c.line, out)
				}
				body, code := strings.TrimSpace(string(out[:i])), strings.TrimSpace(string(out[i+1:]))
				if id := checkReadmeAnswer(t, c, []byte(body), code); id != "" {
					vars["<id>"] = id
				}
			})
		}
	}
}

// checkReadmeAnswer compares an answer (body, with its HTTP status code)
// with the one the README shows for c, and returns the answer's "id", if
// it has one.
func checkReadmeAnswer(t *testing.T, c readmeCommand, body []byte, code string) (id string) {
	t.Helper()
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("README line %d: the answer is not JSON (%v): %.300s", c.line, err, body)
	}
	if m, ok := got.(map[string]any); ok {
		id, _ = m["id"].(string)
	}
	if c.want == "" {
		t.Fatalf("README line %d: the example shows no answer", c.line)
	}
	want, err := readmeJSON(c.want)
	if err != nil {
		t.Fatalf("README line %d: its answer is not JSON once its elisions are taken out: %v\n%s", c.line, err, c.want)
	}
	isError := false
	if m, ok := want.(map[string]any); ok {
		_, isError = m["error"]
	}
	if code == "" || isError != (code[0] == '4' || code[0] == '5') {
		t.Errorf("README line %d: status %q, and the README shows %s", c.line, code, map[bool]string{true: "an error", false: "an answer"}[isError])
	}
	for _, d := range matchJSON("", want, got, c.whole) {
		t.Errorf("README line %d: %s", c.line, d)
	}
	return id
}

var (
	elidedObject = regexp.MustCompile(`\{\s*\.\.\.[^{}]*\}`)
	elidedItem   = regexp.MustCompile(`,\s*\.\.\.`)
	// volatile are the fields whose values differ from run to run.
	volatile = regexp.MustCompile(`^(id|.*_ms|memory_peak_bytes|.*_at)$`)
)

// readmeJSON parses an answer as the README shows it: "{...}" and ", ..."
// elide.
func readmeJSON(s string) (any, error) {
	s = elidedObject.ReplaceAllString(s, "{}")
	s = elidedItem.ReplaceAllString(s, "")
	var v any
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

// matchJSON lists how got differs from want. A string with "<...>" or
// "..." in want, or a volatile field, matches any value of its type;
// whole also refuses fields that want does not show.
func matchJSON(path string, want, got any, whole bool) []string {
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T, the README shows an object", path, got)}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing from the answer", path, k))
				continue
			}
			if volatile.MatchString(k) {
				if fmt.Sprintf("%T", wv) != fmt.Sprintf("%T", gv) {
					diffs = append(diffs, fmt.Sprintf("%s.%s: got %T, the README shows %T", path, k, gv, wv))
				}
				continue
			}
			diffs = append(diffs, matchJSON(path+"."+k, wv, gv, whole)...)
		}
		if whole {
			for k := range g {
				if _, ok := w[k]; !ok {
					diffs = append(diffs, fmt.Sprintf("%s.%s: in the answer, not in the README", path, k))
				}
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(w) || (whole && len(g) != len(w)) {
			return []string{fmt.Sprintf("%s: got %v, the README shows %d items", path, got, len(w))}
		}
		for i := range w {
			diffs = append(diffs, matchJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], whole)...)
		}
	case string:
		if strings.Contains(w, "...") || (strings.HasPrefix(w, "<") && strings.HasSuffix(w, ">")) {
			if _, ok := got.(string); !ok {
				diffs = append(diffs, fmt.Sprintf("%s: got %v, the README shows a string", path, got))
			}
		} else if got != want {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, the README shows %q", path, got, w))
		}
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, the README shows %v", path, got, want))
		}
	}
	return diffs
}

// TestReadmeTablesMatchTheService holds the README's lists to what the
// service has: the Languages table and the request table's language row
// name every language of runtimes.json and no other, every flag the
// Limits section names is a flag of codeexec serve, and every flag of
// codeexec serve is documented.
func TestReadmeTablesMatchTheService(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	var names []string
	for name := range language.Defaults() {
		names = append(names, name)
	}
	slices.Sort(names)

	var table []string
	sc := bufio.NewScanner(strings.NewReader(section(t, readme, "## Languages")))
	row := regexp.MustCompile("^\\| `([a-z0-9]+)` \\|")
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			table = append(table, m[1])
		}
	}
	slices.Sort(table)
	if !slices.Equal(table, names) {
		t.Errorf("the README's Languages table has %v; runtimes.json has %v", table, names)
	}

	req := section(t, readme, "### Request")
	i := strings.Index(req, "| `language` |")
	if i < 0 {
		t.Fatal("the request table has no language row")
	}
	rowText, _, _ := strings.Cut(req[i:], "\n")
	var listed []string
	for _, m := range regexp.MustCompile("`([a-z0-9]+)`").FindAllStringSubmatch(rowText, -1)[1:] {
		listed = append(listed, m[1])
	}
	slices.Sort(listed)
	if !slices.Equal(listed, names) {
		t.Errorf("the request table's language row names %v; runtimes.json has %v", listed, names)
	}

	var help bytes.Buffer
	if err := run(t.Context(), []string{"serve", "--help"}, &help, &help, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	limits := section(t, readme, "## Limits")
	for _, m := range regexp.MustCompile("`(--[a-z0-9-]+)`").FindAllStringSubmatch(limits, -1) {
		if !strings.Contains(help.String(), "  "+m[1]+" ") {
			t.Errorf("the README's Limits section names %s, which codeexec serve does not have", m[1])
		}
	}
	// Every flag is documented: in the README or in docs/.
	docs := readme
	pages, _ := filepath.Glob("../../docs/*.md")
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs += string(b)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+(--[a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1) {
		if m[1] != "--help" && !strings.Contains(docs, "`"+m[1]) {
			t.Errorf("codeexec serve has %s, and neither the README nor docs/ says it", m[1])
		}
	}
}

// section is the README's text from heading to the next heading of the
// same level.
func section(t *testing.T, readme, heading string) string {
	t.Helper()
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("the README has no %q", heading)
	}
	rest := readme[i+len(heading)+2:]
	level := strings.Fields(heading)[0]
	if j := strings.Index(rest, "\n"+level+" "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestReadmeComparisonCanFail: the comparison of TestReadmeExamples
// catches a changed value, a missing field, an extra field of a whole
// answer and a wrong type, and lets through what differs from run to run.
func TestReadmeComparisonCanFail(t *testing.T) {
	shown := `{"id":"eb98df3c","status":"success","stdout":"42\n","time_ms":81,"tests":[{"index":0,"status":"accepted"}]}`
	want, err := readmeJSON(shown)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		got   string
		whole bool
		diffs int
	}{
		{`{"id":"other","status":"success","stdout":"42\n","time_ms":7,"tests":[{"index":0,"status":"accepted"}]}`, true, 0},
		{`{"id":"other","status":"timeout","stdout":"42\n","time_ms":7,"tests":[{"index":0,"status":"accepted"}]}`, true, 1},
		{`{"id":"other","status":"success","time_ms":7,"tests":[{"index":0,"status":"accepted"}]}`, true, 1},
		{`{"id":"other","status":"success","stdout":"42\n","time_ms":7,"tests":[{"index":0,"status":"accepted"}],"new":1}`, true, 1},
		{`{"id":"other","status":"success","stdout":"42\n","time_ms":7,"tests":[{"index":0,"status":"accepted"}],"new":1}`, false, 0},
		{`{"id":"other","status":"success","stdout":"42\n","time_ms":"7","tests":[{"index":0,"status":"accepted"}]}`, true, 1},
		{`{"id":"other","status":"success","stdout":"42\n","time_ms":7,"tests":[]}`, true, 1},
	} {
		var got any
		if err := json.Unmarshal([]byte(c.got), &got); err != nil {
			t.Fatal(err)
		}
		if d := matchJSON("", want, got, c.whole); len(d) != c.diffs {
			t.Errorf("%s (whole %v): %d differences %q, want %d", c.got, c.whole, len(d), d, c.diffs)
		}
	}
	// Elisions and placeholders.
	elided, err := readmeJSON(`{"id":"<id>","kind":"run","result":{... the body ...},"tests":[{"index":0,...},...],...}`)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	_ = json.Unmarshal([]byte(`{"id":"x","kind":"run","result":{"a":1},"tests":[{"index":0,"b":2},{"index":1}],"more":true}`), &got)
	if d := matchJSON("", elided, got, false); len(d) != 0 {
		t.Errorf("an elided answer: %q", d)
	}
	_ = json.Unmarshal([]byte(`{"id":"x","kind":"judge","result":{},"tests":[{"index":0}]}`), &got)
	if d := matchJSON("", elided, got, false); len(d) != 1 {
		t.Errorf("an elided answer with another kind: %q", d)
	}
	if !complete("curl -d '{\"a\":\n1}'") || complete("curl -d '{\"a\":") || complete("curl \\") {
		t.Error("complete() misjudges a command's end")
	}
}
