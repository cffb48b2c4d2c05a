package runner

import (
	"os"
	"path/filepath"
	"testing"
)

// TestALanguageAddedOnlyByConfiguration runs a language that exists only in
// a runtimes file: POSIX sh, from the Python image, no code change.
func TestALanguageAddedOnlyByConfiguration(t *testing.T) {
	file := filepath.Join(t.TempDir(), "runtimes.json")
	os.WriteFile(file, []byte(`{"languages":[{
		"name": "sh", "version": "dash (Debian 12)", "image": "localhost/codeexec/python:latest",
		"source_file": "main.sh", "run": ["/usr/bin/tini", "--", "/bin/sh", "/job/main.sh"], "prestart": true
	}]}`), 0o644)
	langs, err := LoadLanguages(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, pool := range []int{0, 1} {
		r := MustOpenRunner(t, func(c *Config) { c.Languages = langs; c.PoolSize = 0 })
		if pool == 1 {
			r = openPooled(t, 1, func(c *Config) { c.Languages = langs })
		}
		res := run(t, r, "sh", "read name; echo \"hello, $name\"; id -u", "world\n")
		wantStatus(t, res, StatusSuccess)
		if res.Stdout != "hello, world\n10001\n" || res.Warm != (pool == 1) {
			t.Fatalf("pool %d: stdout %q warm %v", pool, res.Stdout, res.Warm)
		}
	}
}
