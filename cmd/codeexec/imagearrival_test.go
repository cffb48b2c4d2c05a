package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner/runnertest"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/codeexec/codeexec/internal/testtiming"
	cimages "github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/google/uuid"
)

// TestALanguageIsServedWhenItsImageArrives is a first start's service: it
// serves the languages whose image is there, lists the others as pending in
// /runtimes and /readyz, refuses them with a message that says why, and
// serves each one as soon as its image is imported, without a restart.
func TestALanguageIsServedWhenItsImageArrives(t *testing.T) {
	cfg := runnertest.Config(t)
	lateRef := "localhost/codeexec/late-" + uuid.NewString() + ":latest"
	py := cfg.Languages["python"]
	file := filepath.Join(t.TempDir(), "runtimes.json")
	entry := func(name, image string) map[string]any {
		return map[string]any{"name": name, "version": py.Version, "image": image, "source_file": py.SourceFile, "run": py.Run}
	}
	raw, _ := json.Marshal(map[string]any{"languages": []any{entry("python", py.Image), entry("late", lateRef)}})
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := sandbox.Dial(cfg.Socket, cfg.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	// Registered before the service's, so it runs after the service stopped.
	t.Cleanup(func() {
		if err := c.ImageService().Delete(ctx, lateRef); err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("remove the test's image: %v", err)
		}
	})
	s := startService(t, "--runtimes", file, "--image-watch", "200ms")

	type state struct {
		Runtimes []struct {
			Language string `json:"language"`
		} `json:"runtimes"`
		Pending []string `json:"pending"`
	}
	get := func(path string, into any) int {
		t.Helper()
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode
	}
	served := func() (names, pending []string) {
		var st state
		if code := get("/runtimes", &st); code != http.StatusOK {
			t.Fatalf("GET /runtimes: %d", code)
		}
		for _, r := range st.Runtimes {
			names = append(names, r.Language)
		}
		return names, st.Pending
	}
	if names, pending := served(); !slices.Equal(names, []string{"python"}) || !slices.Equal(pending, []string{"late"}) {
		t.Fatalf("before the image: serves %v, pending %v; want python, and late pending", names, pending)
	}
	var ready struct {
		Status  string   `json:"status"`
		Pending []string `json:"pending"`
	}
	if code := get("/readyz", &ready); code != http.StatusOK || ready.Status != "ready" || !slices.Equal(ready.Pending, []string{"late"}) {
		t.Fatalf("/readyz before the image: %d %+v, want ready with late pending", code, ready)
	}
	code, got := post(t, s.url, `{"language":"late","code":"print(1)"}`)
	if code != http.StatusBadRequest || !strings.Contains(got.Error, `language "late" is not served yet`) || !strings.Contains(got.Error, "python") {
		t.Fatalf("a run of the language before its image: %d %q", code, got.Error)
	}

	// The import: a second name for the Python image, as `ctr images
	// import` makes it.
	img, err := c.ImageService().Get(ctx, py.Image)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImageService().Create(ctx, cimages.Image{Name: lateRef, Target: img.Target}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(testtiming.Scaled(30 * time.Second)); ; time.Sleep(50 * time.Millisecond) {
		names, pending := served()
		if slices.Equal(names, []string{"late", "python"}) && len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the image arrived: serves %v, pending %v", names, pending)
		}
	}
	ready.Pending = nil
	if code := get("/readyz", &ready); code != http.StatusOK || ready.Pending != nil {
		t.Fatalf("/readyz after the image: %d %+v, want ready with nothing pending", code, ready)
	}
	code, got = post(t, s.url, `{"language":"late","code":"print('late', input())","input":"arrival\n"}`)
	if code != http.StatusOK || got.Status != "success" || got.Stdout != "late arrival\n" {
		t.Fatalf("a run of the language after its image: %d %+v", code, got)
	}
}
