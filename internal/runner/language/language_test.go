package language

import (
	"strings"
	"testing"
)

func TestDefaultLanguages(t *testing.T) {
	l := Defaults()
	if l["python"].Image != PythonImage || !l["python"].Prestart || l["cpp"].Image != CppImage || !l["cpp"].Compiled() {
		t.Fatalf("got %+v", l)
	}
}

func TestParseLanguagesRefusesBadEntries(t *testing.T) {
	entry := func(name, file string) string {
		return `{"languages":[{"name":"` + name + `","image":"x","source_file":"` + file + `","run":["/bin/sh","/job/` + file + `"]}]}`
	}
	for _, tc := range []struct {
		name, json, want string
	}{
		{"a source file with a directory", entry("sh", "../etc/passwd"), "plain file name"},
		{"an absolute source file", entry("sh", "/etc/passwd"), "plain file name"},
		{"a source file with a NUL", entry("sh", `a\u0000b`), "plain file name"},
		{"an over-long source file", entry("sh", strings.Repeat("a", 65)), "plain file name"},
		{"a source file of dots", entry("sh", ".."), "plain file name"},
		{"an upper-case name", entry("Sh", "main.sh"), "name must match"},
		{"a relative run command", `{"languages":[{"name":"sh","image":"x","source_file":"m.sh","run":["sh"]}]}`, "absolute path"},
		{"an unknown field", `{"languages":[{"name":"sh","imag":"x"}]}`, "unknown field"},
		{"no languages", `{"languages":[]}`, "no languages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseLanguages([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
