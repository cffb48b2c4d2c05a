package api

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// The playground (GET /): one page, its script and style, and the code
// editor (CodeMirror 6, bundled by scripts/playground.sh with its
// licences), all embedded in the binary. It calls the API as any client
// does, with the same limits, rate limits and keys (the page asks for a
// key when /runtimes answers 401).
//
//go:embed playground/index.html playground/app.js playground/style.css playground/editor.js playground/LICENSES.txt
var playgroundFiles embed.FS

// playgroundCSP is the pages' Content-Security-Policy: scripts and styles
// from this origin only, no inline script, and inline style elements only
// with the page's nonce (CodeMirror writes its styles into <style>
// elements, which it gives the nonce: EditorView.cspNonce).
const playgroundCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-%s'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var playgroundTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".txt": "text/plain; charset=utf-8",
}

func securePage(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Security-Policy", strings.Replace(playgroundCSP, "%s", nonce, 1))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// playgroundPage serves GET /: the page, with a fresh style nonce.
func (h *handler) playgroundPage(w http.ResponseWriter, _ *http.Request) {
	page, err := playgroundFiles.ReadFile("playground/index.html")
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
		return
	}
	b := make([]byte, 18)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	nonce := base64.StdEncoding.EncodeToString(b)
	securePage(w, nonce)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(bytes.Replace(page, []byte("{{NONCE}}"), []byte(nonce), 1))
}

// playgroundAsset serves GET /playground/{file}.
func (h *handler) playgroundAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/playground/")
	typ, ok := playgroundTypes[path.Ext(name)]
	b, err := fs.ReadFile(playgroundFiles, "playground/"+name)
	if !ok || err != nil || strings.Contains(name, "/") || name == "index.html" {
		h.writeError(w, r, errNotFound)
		return
	}
	securePage(w, "none")
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
