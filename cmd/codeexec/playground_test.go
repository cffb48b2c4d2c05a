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

// browserPage is a headless Chromium tab, with what went wrong in it.
type browserPage struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

// openBrowser starts Debian's Chromium, headless, for one test. It
// resolves no host name but the loopback address, and its background
// networking is off.
func openBrowser(t *testing.T) *browserPage {
	bin := chromium(t)
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
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	p := &browserPage{t: t}
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			p.problems = append(p.problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				p.problems = append(p.problems, "console.error")
			}
		}
	}))
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	p.ctx = ctx
	t.Cleanup(func() {
		p.mu.Lock()
		for _, pr := range p.problems {
			t.Errorf("the page: %s", pr)
		}
		p.mu.Unlock()
		cancel()
		cancelTab()
		cancelAlloc()
	})
	return p
}

func (p *browserPage) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s: %v", sel, err)
	}
	return s
}

// waitSummary waits until the page's summary line starts with prefix.
func (p *browserPage) waitSummary(prefix string) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := p.text("#summary")
		if strings.HasPrefix(got, prefix) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the page says %q, want %q...", got, prefix)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPlaygroundInABrowser loads the playground in headless Chromium from
// a real service, runs a Python program and judges it against a test it
// fails, and checks what the page shows; the page must run without a
// script error or a Content-Security-Policy violation. The browser
// resolves no host name but the service's loopback address. A screenshot
// is kept in test-artifacts/ (or $CODEEXEC_ARTIFACTS).
func TestPlaygroundInABrowser(t *testing.T) {
	p := openBrowser(t)
	s := startService(t)
	ctx, text, waitSummary := p.ctx, p.text, p.waitSummary

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

}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`)
	return "`" + r.Replace(s) + "`"
}

// TestPlaygroundAsksForTheKey: on a service with API keys, the page says
// it needs one and shows the key field; with the key it lists the
// languages and runs a program.
func TestPlaygroundAsksForTheKey(t *testing.T) {
	const key = "playground-key-0123456789abcdef"
	p := openBrowser(t)
	s := startService(t, "--api-keys", key)
	if err := chromedp.Do(p.ctx, chromedp.Navigate(s.url+"/")); err != nil {
		t.Fatal(err)
	}
	p.waitSummary("This service needs an API key")
	err := chromedp.Do(p.ctx,
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), key),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](`document.getElementById("key").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(p.ctx, chromedp.WaitReady(chromedp.CSS(`#language option[value="python"]`)), chromedp.Click(chromedp.CSS("#run"))); err != nil {
		t.Fatal(err)
	}
	p.waitSummary("success")
	if got := p.text("#stdout"); got != "hello, world\n" {
		t.Errorf("stdout on the page: %q", got)
	}
}
