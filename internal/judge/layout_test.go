package judge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func names(tests []NamedTest) string {
	var out []string
	for _, t := range tests {
		out = append(out, t.Name+"="+strings.TrimSpace(t.ExpectedOutput))
	}
	return strings.Join(out, " ")
}

func TestLoadTests(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
		err   string
	}{
		{"in/out pairs, numbers in order", map[string]string{"1.in": "a", "1.out": "A", "10.in": "j", "10.out": "J", "2.in": "b", "2.out": "B"}, "1.in=A 2.in=B 10.in=J", ""},
		{"in/ans pairs", map[string]string{"x.in": "1", "x.ans": "2"}, "x.in=2", ""},
		{"kattis data folders, samples first, groups deep", map[string]string{
			"data/sample/1.in": "", "data/sample/1.ans": "s1",
			"data/secret/g2/a.in": "", "data/secret/g2/a.ans": "g2a",
			"data/secret/g1/b.in": "", "data/secret/g1/b.ans": "g1b",
			"problem.yaml": "name: x"}, "data/sample/1.in=s1 data/secret/g1/b.in=g1b data/secret/g2/a.in=g2a", ""},
		{"the data folder itself", map[string]string{"sample/1.in": "", "sample/1.ans": "s"}, "sample/1.in=s", ""},
		{"an input without an answer", map[string]string{"1.in": "a", "2.in": "b", "2.out": "B"}, "", "no 1.ans or 1.out"},
		{"no tests", map[string]string{"readme.txt": "x"}, "", "no tests in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadTests(writeTree(t, tc.files))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tc.want {
				t.Fatalf("got %s, want %s", names(got), tc.want)
			}
		})
	}
}

func TestNaturalCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{{"2.in", "10.in", true}, {"a10", "a9", false}, {"test01", "test2", true}, {"a", "b", true}, {"a", "a1", true}} {
		if got := naturalCompare(tc.a, tc.b) < 0; got != tc.less {
			t.Errorf("%q < %q = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
}
