package api

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/problem"
)

// zipOf is a zip of files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, body := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(body))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// echoPackage is a package whose tests an echoing program passes but for
// the last, under default validation with a tolerance.
func echoPackage(t *testing.T) []byte {
	return zipOf(t, map[string]string{
		"echo/problem.yaml":              "name: Echo\nvalidator_flags: float_tolerance 0.01\nlimits:\n  time_limit: 1.5\n",
		"echo/data/sample/1.in":          "1.000\n",
		"echo/data/sample/1.ans":         "1.001\n",
		"echo/data/secret/a/1.in":        "hello WORLD\n",
		"echo/data/secret/a/1.ans":       "HELLO world\n",
		"echo/data/secret/b/1.in":        "5\n",
		"echo/data/secret/b/1.ans":       "6\n",
		"echo/submissions/accepted/x.py": "print(input())\n",
	})
}

func newProblemAPI(t *testing.T, configure ...func(*Config)) (http.Handler, problem.Store) {
	t.Helper()
	cfg := DefaultConfig()
	for _, c := range configure {
		c(&cfg)
	}
	store := problem.DirStore{Dir: t.TempDir()}
	return New(&fakeJudgeRunner{fakeRunner: fakeRunner{run: mustNotRun(t)}}, cfg, slog.New(slog.DiscardHandler), nil, WithProblems(store)).Handler, store
}

func postArchive(h http.Handler, archive []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/problems", bytes.NewReader(archive))
	r.Header.Set("Content-Type", "application/zip")
	return serve(h, r)
}

func TestProblemsStoreJudgeAndDelete(t *testing.T) {
	h, _ := newProblemAPI(t)
	pkg := echoPackage(t)
	w := postArchive(h, pkg)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	var v problemView
	json.Unmarshal(w.Body.Bytes(), &v)
	if v.Name != "Echo" || v.Validation != "default" || v.Tests != 3 || v.TimeLimitMS == nil || *v.TimeLimitMS != 1500 ||
		len(v.Groups) != 4 || v.Groups[1].Name != "secret" || v.Groups[1].Tests != 2 || w.Header().Get("Location") != "/problems/"+v.ID {
		t.Fatalf("view %+v", v)
	}
	if again := postArchive(h, pkg); again.Code != http.StatusOK || !strings.Contains(again.Body.String(), v.ID) {
		t.Fatalf("the same bytes again: %d %s", again.Code, again.Body)
	}

	w = serve(h, newJudgeRequest(`{"language":"python","code":"x","problem":"`+v.ID+`"}`))
	var res judgeResponse
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != http.StatusOK {
		t.Fatalf("judge: %d %s", w.Code, w.Body)
	}
	if res.Verdict != "wrong_answer" || res.Problem != v.ID || len(res.Tests) != 3 || res.Tests[1].Name != "secret/a/1" ||
		res.Tests[0].Status != "accepted" || res.Tests[1].Status != "accepted" || res.Tests[2].Status != "wrong_answer" ||
		!strings.Contains(res.Tests[2].Message, "Too large difference") {
		t.Fatalf("judgement %s", w.Body)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"tests beside a problem", `{"language":"python","code":"x","problem":"` + v.ID + `","tests":[]}`, `"problem" and "tests" exclude each other`},
		{"a checker beside a problem", `{"language":"python","code":"x","problem":"` + v.ID + `","checker":{"language":"cpp","code":"y"}}`, `excludes "compare" and "checker"`},
		{"an unknown problem", `{"language":"python","code":"x","problem":"nope"}`, `no problem "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, newJudgeRequest(tc.body))
			var e struct{ Error string }
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}

	if w := serve(h, httptest.NewRequest(http.MethodGet, "/problems/"+v.ID, nil)); w.Code != http.StatusOK {
		t.Fatalf("GET: %d", w.Code)
	}
	if w := serve(h, httptest.NewRequest(http.MethodDelete, "/problems/"+v.ID, nil)); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if w := serve(h, httptest.NewRequest(m, "/problems/"+v.ID, nil)); w.Code != http.StatusNotFound {
			t.Fatalf("%s after DELETE: %d", m, w.Code)
		}
	}
}

func TestProblemsRefuseBadPackagesAndFullStores(t *testing.T) {
	h, _ := newProblemAPI(t, func(c *Config) { c.MaxProblemBytes, c.MaxProblems, c.MaxProblemTests = 4<<10, 1, 2 })
	noise := make([]byte, 8<<10) // incompressible: the archive is as large
	rand.NewChaCha8([32]byte{1}).Read(noise)
	big := zipOf(t, map[string]string{"problem.yaml": string(noise)})
	if w := postArchive(h, big); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large: %d %s", w.Code, w.Body)
	}
	if w := postArchive(h, []byte("name: x")); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not a zip, tar or tar.gz") {
		t.Fatalf("not an archive: %d %s", w.Code, w.Body)
	}
	if w := postArchive(h, echoPackage(t)); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `Echo\": 3 test cases; the limit is 2`) {
		t.Fatalf("too many tests: %d %s", w.Code, w.Body)
	}
	slow := zipOf(t, map[string]string{"problem.yaml": "name: Slow\nlimits:\n  time_limit: 60\n", "data/secret/1.in": "", "data/secret/1.ans": ""})
	if w := postArchive(h, slow); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "beyond the service's") {
		t.Fatalf("a time limit over the maximum: %d %s", w.Code, w.Body)
	}
	one := zipOf(t, map[string]string{"problem.yaml": "name: One\n", "data/secret/1.in": "", "data/secret/1.ans": ""})
	if w := postArchive(h, one); w.Code != http.StatusCreated {
		t.Fatalf("one: %d %s", w.Code, w.Body)
	}
	two := zipOf(t, map[string]string{"problem.yaml": "name: Two\n", "data/secret/1.in": "", "data/secret/1.ans": ""})
	if w := postArchive(h, two); w.Code != http.StatusInsufficientStorage || !strings.Contains(w.Body.String(), "holds 1 problems") {
		t.Fatalf("a full store: %d %s", w.Code, w.Body)
	}
}

func TestProblemsBelongToTheKeyThatStoredThem(t *testing.T) {
	keys := []string{"aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb"}
	h, _ := newProblemAPI(t, func(c *Config) { c.APIKeys = keys })
	with := func(r *http.Request, key string) *http.Request {
		r.Header.Set("Authorization", "Bearer "+key)
		return r
	}
	r := httptest.NewRequest(http.MethodPost, "/problems", bytes.NewReader(echoPackage(t)))
	w := serve(h, with(r, keys[0]))
	var v problemView
	json.Unmarshal(w.Body.Bytes(), &v)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d", w.Code)
	}
	if w := serve(h, httptest.NewRequest(http.MethodGet, "/problems/"+v.ID, nil)); w.Code != http.StatusUnauthorized {
		t.Fatalf("GET without a key: %d", w.Code)
	}
	if w := serve(h, with(httptest.NewRequest(http.MethodDelete, "/problems/"+v.ID, nil), keys[1])); w.Code != http.StatusNotFound {
		t.Fatalf("DELETE by another key: %d", w.Code)
	}
	if w := serve(h, with(httptest.NewRequest(http.MethodDelete, "/problems/"+v.ID, nil), keys[0])); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE by its key: %d", w.Code)
	}
}
