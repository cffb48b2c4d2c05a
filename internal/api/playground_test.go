package api

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestPlaygroundIsServedUnderAStrictPolicy: the page and its files come
// with a Content-Security-Policy that allows no inline script and inline
// styles only with the page's own nonce, which the page hands to the
// editor; the page has no inline script, handler or style attribute; and
// --playground=false takes it away.
func TestPlaygroundIsServedUnderAStrictPolicy(t *testing.T) {
	h, _ := newTestAPI(t, succeed)
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	w := get(h, "/")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	csp := w.Header().Get("Content-Security-Policy")
	page := w.Body.String()
	nonce := regexp.MustCompile(`name="codeexec-style-nonce" content="([^"]+)"`).FindStringSubmatch(page)
	if nonce == nil || len(nonce[1]) < 16 || !strings.Contains(csp, "'nonce-"+nonce[1]+"'") {
		t.Fatalf("the page's nonce %v is not the policy's: %s", nonce, csp)
	}
	if w2 := get(h, "/"); strings.Contains(w2.Body.String(), nonce[1]) {
		t.Error("two pages got the same nonce")
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("policy %q allows something unsafe", csp)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || regexp.MustCompile(`\son[a-z]+=|\sstyle=|javascript:`).MatchString(page) {
		t.Errorf("the page has inline script or style:\n%s", page)
	}
	for path, typ := range map[string]string{"/playground/app.js": "text/javascript", "/playground/editor.js": "text/javascript",
		"/playground/style.css": "text/css", "/playground/LICENSES.txt": "text/plain"} {
		w := get(h, path)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), typ) || w.Header().Get("Content-Security-Policy") == "" || w.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", path, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
	}
	if !strings.Contains(get(h, "/playground/LICENSES.txt").Body.String(), "==== codemirror ") {
		t.Error("the editor's licences are not served")
	}
	for _, path := range []string{"/playground/index.html", "/playground/vendor/package.json", "/playground/../openapi.json", "/playground/nope.js", "/playground/noext"} {
		if w := get(h, path); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, w.Code)
		}
	}
	off, _ := newTestAPI(t, succeed, func(c *Config) { c.Playground = false })
	if w := get(off, "/"); w.Code != http.StatusNotFound {
		t.Errorf("with the playground off, GET /: %d", w.Code)
	}
}
