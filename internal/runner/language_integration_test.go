package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestLanguagesWithoutAnImageAreNotServed: an operator who built only some
// images gets a runner serving those, and one with none gets an error
// saying how to build them.
func TestLanguagesWithoutAnImageAreNotServed(t *testing.T) {
	ghost := Language{Name: "ghost", Image: "localhost/codeexec/ghost:latest", SourceFile: "main.gh",
		Run: []string{"/usr/bin/tini", "--", "/bin/true"}}
	t.Run("the languages whose image is there are served", func(t *testing.T) {
		r := MustOpenRunner(t, func(c *Config) {
			c.Languages = map[string]Language{"python": c.Languages["python"], "ghost": ghost}
		})
		if _, ok := r.Languages()["ghost"]; ok || len(r.Languages()) != 1 {
			t.Fatalf("serves %v, want python alone", r.Languages())
		}
		res := run(t, r, "python", `print("hello")`, "")
		wantStatus(t, res, StatusSuccess)
		if _, err := r.Run(context.Background(), Request{Language: "ghost", Code: "x"}); !errors.Is(err, ErrUnknownLanguage) {
			t.Fatalf("a run of the language without an image: %v, want ErrUnknownLanguage", err)
		}
	})
	t.Run("no image at all is an error naming the way to build them", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Languages = map[string]Language{"ghost": ghost}
		r, err := New(context.Background(), cfg, testLogger())
		if err == nil {
			r.Close()
			t.Fatal("New succeeded with no image")
		}
		if !strings.Contains(err.Error(), "scripts/images.sh") {
			t.Fatalf("error %q does not say how to build the image", err)
		}
	})
}
