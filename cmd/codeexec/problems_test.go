package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/judge"
)

// packDir is a tar.gz of a folder, its links kept as links, under one
// top-level folder as `tar czf p.tgz p` makes it.
func packDir(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	top := filepath.Base(dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := top + "/" + filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(body)), Mode: 0o644}); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type problemView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Validation  string `json:"validation"`
	Scoring     bool   `json:"scoring"`
	TimeLimitMS *int64 `json:"time_limit_ms"`
	Tests       int    `json:"tests"`
	Groups      []struct {
		Name  string `json:"name"`
		Tests int    `json:"tests"`
	} `json:"groups"`
	Error string `json:"error"`
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, contentType string, body []byte, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func postProblem(t *testing.T, url, dir string) problemView {
	t.Helper()
	var v problemView
	if code := do(t, http.MethodPost, url+"/problems", "application/gzip", packDir(t, dir), &v); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("POST /problems %s: %d %+v", dir, code, v)
	}
	return v
}

type problemJudgement struct {
	Verdict string   `json:"verdict"`
	Problem string   `json:"problem"`
	Score   *float64 `json:"score"`
	Passed  int      `json:"passed"`
	Total   int      `json:"total"`
	Groups  []struct {
		Name    string  `json:"name"`
		Verdict string  `json:"verdict"`
		Score   float64 `json:"score"`
	} `json:"groups"`
	Tests []struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"tests"`
	Error string `json:"error"`
}

func judgeProblemOverHTTP(t *testing.T, url, id, lang, file string) (int, problemJudgement) {
	t.Helper()
	code, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"problem": id, "language": lang, "code": string(code)})
	var out problemJudgement
	status := do(t, http.MethodPost, url+"/judge", "application/json", body, &out)
	return status, out
}

// TestServeJudgesProblemPackages stores real packages over HTTP and judges
// jury submissions against them: a custom validator, an interactive one,
// scored groups; and then the package's lifecycle and its refusals.
func TestServeJudgesProblemPackages(t *testing.T) {
	s := startService(t)
	sub := func(problem, path string) string { return filepath.Join(kattisExamples, problem, "submissions", path) }

	different := postProblem(t, s.url, filepath.Join(kattisExamples, "different"))
	if different.Name != "A Different Problem" || different.Validation != "custom" || different.Tests != 3 || len(different.ID) != 64 {
		t.Fatalf("different: %+v", different)
	}
	if again := postProblem(t, s.url, filepath.Join(kattisExamples, "different")); again.ID != different.ID {
		t.Fatalf("the same package again has another id: %s, %s", again.ID, different.ID)
	}
	guess := postProblem(t, s.url, filepath.Join(kattisExamples, "guess"))
	oddecho := postProblem(t, s.url, filepath.Join(kattisExamples, "oddecho"))
	if guess.Validation != "custom interactive" || !oddecho.Scoring || len(oddecho.Groups) != 4 {
		t.Fatalf("guess %+v, oddecho %+v", guess, oddecho)
	}

	for _, tc := range []struct {
		problem, id, lang, file, verdict string
		score                            float64
		message                          string
	}{
		{"different", different.ID, "cpp", "accepted/different.cc", "accepted", -1, ""},
		{"different", different.ID, "cpp", "wrong_answer/different_no_abs.cc", "wrong_answer", -1, "judge answer = 2 but submission output = -2"},
		{"guess", guess.ID, "cpp", "accepted/guess.cc", "accepted", -1, ""},
		{"guess", guess.ID, "cpp", "wrong_answer/guess_random.cc", "wrong_answer", -1, "Didn't get to correct answer"},
		{"guess", guess.ID, "cpp", "time_limit_exceeded/guess_no_flush.cc", "timeout", -1, ""},
		{"oddecho", oddecho.ID, "python", "accepted/js.py", "accepted", 100, ""},
		{"oddecho", oddecho.ID, "python", "partially_accepted/sol.py", "accepted", 50, ""},
	} {
		t.Run(tc.problem+"/"+tc.file, func(t *testing.T) {
			code, res := judgeProblemOverHTTP(t, s.url, tc.id, tc.lang, sub(tc.problem, tc.file))
			if code != http.StatusOK || res.Verdict != tc.verdict || res.Problem != tc.id {
				t.Fatalf("%d %+v", code, res)
			}
			if tc.score >= 0 && (res.Score == nil || *res.Score != tc.score) {
				t.Fatalf("score %v, want %v: %+v", res.Score, tc.score, res)
			}
			if tc.message != "" {
				found := false
				for _, tr := range res.Tests {
					found = found || strings.Contains(tr.Message, tc.message)
				}
				if !found {
					t.Errorf("no test's message has %q: %+v", tc.message, res.Tests)
				}
			}
			if res.Tests[0].Name == "" {
				t.Error("tests have no names")
			}
		})
	}

	t.Run("an interactive test's conversation, when asked for", func(t *testing.T) {
		for _, tc := range []struct{ file, verdict, said string }{
			{"accepted/guess.cc", "accepted", "<correct\n"},
			// The validator ends at a guess out of range (its first test
			// that fails: 1000, the sixth guess); the submission's next
			// write meets a closed pipe, through the service too.
			{"wrong_answer/guess_0.cc", "wrong_answer", ">1007\n"},
		} {
			code, _ := os.ReadFile(sub("guess", tc.file))
			body, _ := json.Marshal(map[string]any{"problem": guess.ID, "language": "cpp", "code": string(code), "interaction": true})
			var res struct {
				Verdict string `json:"verdict"`
				Tests   []struct {
					Status      string  `json:"status"`
					Interaction *string `json:"interaction"`
				} `json:"tests"`
			}
			if status := do(t, http.MethodPost, s.url+"/judge", "application/json", body, &res); status != http.StatusOK || res.Verdict != tc.verdict {
				t.Fatalf("%s: %d %+v", tc.file, status, res)
			}
			var said *string
			for _, tr := range res.Tests {
				if tr.Status == tc.verdict {
					said = tr.Interaction
					break
				}
			}
			if said == nil || !strings.HasPrefix(*said, ">") || !strings.Contains(*said, tc.said) {
				t.Fatalf("%s: interaction %q", tc.file, deref(said))
			}
		}
		body, _ := json.Marshal(map[string]any{"problem": oddecho.ID, "language": "cpp", "code": "int main(){}", "interaction": true})
		var e problemView
		if status := do(t, http.MethodPost, s.url+"/judge", "application/json", body, &e); status != http.StatusBadRequest || !strings.Contains(e.Error, "not interactive") {
			t.Fatalf("interaction of a problem that is not interactive: %d %+v", status, e)
		}
	})

	t.Run("refusals name the file and the problem", func(t *testing.T) {
		dir := t.TempDir()
		write := func(name, body string) {
			p := filepath.Join(dir, "p", name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("problem.yaml", "name: Broken\nvalidation: custom\n")
		write("data/secret/1.in", "1\n")
		write("data/secret/1.ans", "1\n")
		write("output_validators/v/v.cc", "int main( { return 42; }\n")
		var v problemView
		if code := do(t, http.MethodPost, s.url+"/problems", "application/gzip", packDir(t, filepath.Join(dir, "p")), &v); code != http.StatusBadRequest ||
			!strings.Contains(v.Error, `"Broken"`) || !strings.Contains(v.Error, "output_validators/v does not build") {
			t.Fatalf("a validator that does not build: %d %+v", code, v)
		}
		os.Remove(filepath.Join(dir, "p/data/secret/1.ans"))
		if code := do(t, http.MethodPost, s.url+"/problems", "application/gzip", packDir(t, filepath.Join(dir, "p")), &v); code != http.StatusBadRequest ||
			!strings.Contains(v.Error, "data/secret/1.in has no answer file 1.ans") {
			t.Fatalf("a missing .ans: %d %+v", code, v)
		}
		if code := do(t, http.MethodPost, s.url+"/problems", "application/zip", []byte("not an archive"), &v); code != http.StatusBadRequest {
			t.Fatalf("not an archive: %d %+v", code, v)
		}
	})

	t.Run("get, delete, and a judgement of a deleted problem", func(t *testing.T) {
		var v problemView
		if code := do(t, http.MethodGet, s.url+"/problems/"+different.ID, "", nil, &v); code != http.StatusOK || v.ID != different.ID {
			t.Fatalf("GET: %d %+v", code, v)
		}
		if code := do(t, http.MethodDelete, s.url+"/problems/"+different.ID, "", nil, nil); code != http.StatusNoContent {
			t.Fatalf("DELETE: %d", code)
		}
		if code := do(t, http.MethodGet, s.url+"/problems/"+different.ID, "", nil, &v); code != http.StatusNotFound {
			t.Fatalf("GET after DELETE: %d", code)
		}
		code, res := judgeProblemOverHTTP(t, s.url, different.ID, "cpp", sub("different", "accepted/different.cc"))
		if code != http.StatusBadRequest || !strings.Contains(res.Error, "no problem") {
			t.Fatalf("judging a deleted problem: %d %+v", code, res)
		}
	})

	t.Run("a queued submission judges against a problem", func(t *testing.T) {
		prog, _ := os.ReadFile(sub("oddecho", "partially_accepted/sol.py"))
		body, _ := json.Marshal(map[string]any{"kind": "judge", "problem": oddecho.ID, "language": "python", "code": string(prog)})
		var acc struct{ ID string }
		postJSON(t, s.url+"/submissions", string(body), &acc)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, err := http.Get(fmt.Sprintf("%s/submissions/%s", s.url, acc.ID))
			if err != nil {
				t.Fatal(err)
			}
			var rec struct {
				Status string           `json:"status"`
				Result problemJudgement `json:"result"`
			}
			json.NewDecoder(resp.Body).Decode(&rec)
			resp.Body.Close()
			if rec.Status == "done" {
				if rec.Result.Verdict != "accepted" || rec.Result.Score == nil || *rec.Result.Score != 50 {
					t.Fatalf("%+v", rec.Result)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not done after 2 min: %+v", rec)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestServeJudgesEveryJurySubmission is verify-problem over HTTP: every
// package of the tests is stored with POST /problems and every jury
// program in a language the service runs is judged with POST /judge; each
// must get its folder's verdict.
func TestServeJudgesEveryJurySubmission(t *testing.T) {
	s := startService(t)
	for _, dir := range []string{
		filepath.Join(kattisExamples, "different"), filepath.Join(kattisExamples, "guess"),
		filepath.Join(kattisExamples, "hello"), filepath.Join(kattisExamples, "oddecho"),
		filepath.Join(domjudgeExamples, "boolfind"), filepath.Join(domjudgeExamples, "fltcmp"),
	} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			p, err := readProblem(dir)
			if err != nil {
				t.Fatal(err)
			}
			id := postProblem(t, s.url, dir).ID
			full := p.FullScore()
			judged := 0
			for _, sub := range p.Submissions {
				if sub.Skip != "" {
					continue
				}
				req := map[string]any{"problem": id, "language": sub.Language, "code": sub.Code}
				if p.TimeLimit == 0 {
					// hello's memory hog needs time to reach 512 MiB on a slow machine.
					req["limits"] = map[string]any{"timeout_ms": 10000}
				}
				body, _ := json.Marshal(req)
				var res problemJudgement
				if status := do(t, http.MethodPost, s.url+"/judge", "application/json", body, &res); status != http.StatusOK {
					t.Fatalf("%s: %d %+v", sub.Path, status, res)
				}
				score := 0.0
				if res.Score != nil {
					score = *res.Score
				}
				if v := judge.KattisVerdict(judge.Status(res.Verdict)); !sub.Meets(v, score, full, p.Validation.Scoring) {
					t.Errorf("%s: %s (score %g), expected %s", sub.Path, res.Verdict, score, sub.Expect)
				}
				judged++
			}
			if judged == 0 {
				t.Fatal("no submission judged")
			}
		})
	}
}
