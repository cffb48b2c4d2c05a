package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's headless-capable Chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CODEEXEC_REQUIRE_INTEGRATION") == "1" {
		t.Fatal("CODEEXEC_REQUIRE_INTEGRATION=1 but there is no chromium: run `make test` (scripts/setup.sh installs Debian's)")
	}
	t.Skip("browser test: install chromium (or run `make test`)")
	return ""
}

// TestPlaygroundInABrowser loads the playground in headless Chromium from
// a real service, runs a Python program and judges it against a test it
// fails, and checks what the page shows; the page must run without a
// script error or a Content-Security-Policy violation. The browser
// resolves no host name but the service's loopback address. A screenshot
// is kept in test-artifacts/ (or $CODEEXEC_ARTIFACTS).
func TestPlaygroundInABrowser(t *testing.T) {
	bin := chromium(t)
	s := startService(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // the tests run as root; the page is our own
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	var mu sync.Mutex
	var problems []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, "console.error")
			}
		}
	}))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// On a failure, what the page said.
	defer func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("the page's errors: %q", problems)
		}
	}()

	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	waitSummary := func(prefix string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			got := text("#summary")
			if strings.HasPrefix(got, prefix) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page says %q, want %q...", got, prefix)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	const program = `s = input()
print(s[::-1])
`
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitReady(chromedp.CSS(`#language option[value="csharp"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.cm-content`)),
		chromedp.SetValue(chromedp.CSS("#language"), "python"),
		chromedp.SetValue(chromedp.CSS("#stdin"), "stressed\n"),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The editor's own API, as a paste would: typing would meet the
	// editor's auto-closing brackets.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`codeexecEditor.dispatch({changes: {from: 0, to: codeexecEditor.state.doc.length, insert: `+jsString(program)+`}})`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#run"))); err != nil {
		t.Fatal(err)
	}
	waitSummary("success")
	if got := text("#stdout"); got != "desserts\n" {
		t.Errorf("stdout on the page: %q", got)
	}
	if got := text("#figures"); !strings.Contains(got, "exit code0") || !strings.Contains(got, "memory peak") {
		t.Errorf("figures on the page: %q", got)
	}
	if got := text(".cm-content"); !strings.Contains(got, "print(s[::-1])") {
		t.Errorf("the editor shows %q", got)
	}

	// Judge: the page's own first test (world -> hello, world) fails, a
	// second one added passes.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#tab-judge")),
		chromedp.Click(chromedp.CSS("#add-test")),
		chromedp.SetValue(chromedp.CSS(".test:nth-child(2) .input"), "abc\n"),
		chromedp.SetValue(chromedp.CSS(".test:nth-child(2) .expected"), "cba\n"),
		chromedp.Click(chromedp.CSS("#judge")),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitSummary("wrong_answer (1/2)")
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#verdicts tbody tr")].map(r => r.cells[1].textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows, ",") != "wrong_answer,accepted" {
		t.Errorf("the verdicts on the page: %v", rows)
	}
	if got := text("#stdout"); got != "dlrow\n" {
		t.Errorf("the failing test's output on the page: %q", got)
	}
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.codeexecViolations`))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("the page broke its Content-Security-Policy: %s", v)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("CODEEXEC_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "playground.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("the page: %s", p)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`)
	return "`" + r.Replace(s) + "`"
}
