package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/codeexec/codeexec/internal/testtiming"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/google/uuid"
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
	t.Run("a language whose image arrives later is served from then on", func(t *testing.T) {
		cfg := testConfig(t)
		late := cfg.Languages["python"]
		late.Name, late.Image = "late", "localhost/codeexec/late-"+uuid.NewString()+":latest"
		c, err := sandbox.Dial(cfg.Socket, cfg.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ctx := context.Background()
		// Registered before the runner's, so it runs after its Close: the
		// runner must not find its image gone under it.
		t.Cleanup(func() {
			if err := c.ImageService().Delete(ctx, late.Image); err != nil && !errdefs.IsNotFound(err) {
				t.Errorf("remove the test's image: %v", err)
			}
		})
		r := openPooled(t, 1, func(c *Config) {
			c.Languages = map[string]Language{"python": c.Languages["python"], "late": late}
			c.ImageWatch = 100 * time.Millisecond
		})
		if _, ok := r.Languages()["late"]; ok || !slices.Equal(r.PendingLanguages(), []string{"late"}) {
			t.Fatalf("serves %v, pending %v; want python, and late pending", r.ServedLanguages(), r.PendingLanguages())
		}
		if _, err := r.Run(ctx, Request{Language: "late", Code: "x"}); !errors.Is(err, ErrUnknownLanguage) {
			t.Fatalf("a run of the language before its image: %v, want ErrUnknownLanguage", err)
		}
		if err := r.Ready(ctx); err != nil {
			t.Fatalf("not ready with python served and late pending: %v", err)
		}
		// The import: a second name for the Python image, as ctr images
		// import or a registry pull would make it.
		py, err := c.ImageService().Get(ctx, cfg.Languages["python"].Image)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ImageService().Create(ctx, images.Image{Name: late.Image, Target: py.Target}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(testtiming.Scaled(30 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
			if _, ok := r.Languages()["late"]; ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("late is not served 30s after its image arrived: serves %v", r.ServedLanguages())
			}
		}
		if p := r.PendingLanguages(); len(p) != 0 {
			t.Fatalf("pending %v once every image is there", p)
		}
		// Its warm pool fills like the others', and the readiness never
		// waited for it.
		waitPoolFull(t, r, 1)
		res := run(t, r, "late", `print("late", input())`, "arrival\n")
		wantStatus(t, res, StatusSuccess)
		if res.Stdout != "late arrival\n" || !res.Warm {
			t.Fatalf("stdout %q warm %v, want a warm run", res.Stdout, res.Warm)
		}
		if err := r.Ready(ctx); err != nil {
			t.Fatal(err)
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
