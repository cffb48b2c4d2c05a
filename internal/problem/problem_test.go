package problem

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"
)

// The packages under testdata/kattis are problemtools' examples (MIT
// licence, testdata/kattis/LICENSE; each problem.yaml names its own
// licence and source).
func mustRead(t *testing.T, dir string) *Problem {
	t.Helper()
	files, err := ReadDir("testdata/kattis/"+dir, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseReadsTheExamples(t *testing.T) {
	t.Run("different has a custom validator in C++ with its header", func(t *testing.T) {
		p := mustRead(t, "different")
		if p.Name != "A Different Problem" || p.Validation.String() != "custom" {
			t.Fatalf("name %q, validation %q", p.Name, p.Validation)
		}
		if p.Validator == nil || p.Validator.Language != "cpp" || p.Validator.Source != "validate.cc" || p.Validator.Files["validate.h"] == "" {
			t.Fatalf("validator %+v", p.Validator)
		}
		tests := p.Tests()
		if len(tests) != 3 || tests[0].Name != "sample/1" || tests[1].Name != "secret/01" {
			t.Fatalf("tests %v", names(tests))
		}
		if len(p.Submissions) < 10 {
			t.Fatalf("%d submissions", len(p.Submissions))
		}
	})
	t.Run("guess is interactive, and its .interaction samples are not tests", func(t *testing.T) {
		p := mustRead(t, "guess")
		if !p.Validation.Interactive || p.Validator == nil {
			t.Fatalf("validation %+v", p.Validation)
		}
		if n := len(p.Tests()); n != 10 {
			t.Fatalf("%d tests", n)
		}
	})
	t.Run("hello has a memory limit and default validation", func(t *testing.T) {
		p := mustRead(t, "hello")
		if p.Validation.Custom || p.MemoryBytes != 512<<20 || p.Validator != nil {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("oddecho is scored in groups whose links share test cases", func(t *testing.T) {
		p := mustRead(t, "oddecho")
		if !p.Validation.Scoring {
			t.Fatal("not scoring")
		}
		got := p.Groups()
		want := []GroupCount{{"sample", 2}, {"secret", 16}, {"secret/subtask1", 3}, {"secret/subtask2", 13}}
		if len(got) != len(want) {
			t.Fatalf("groups %v", got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("groups %v, want %v", got, want)
			}
		}
		byName := map[string]*Test{}
		for _, tc := range p.Tests() {
			byName[tc.Name] = tc
		}
		a, b := byName["secret/subtask1/1"], byName["secret/subtask2/1"]
		if a == nil || b == nil || len(a.Input) == 0 || !bytes.Equal(a.Input, b.Input) || b.Group.Config.AcceptScore != 50 {
			t.Fatalf("subtask2/1 should be subtask1/1 through a link: %v", names(p.Tests()))
		}
	})
}

func names(tests []*Test) []string {
	var out []string
	for _, t := range tests {
		out = append(out, t.Name)
	}
	return out
}

func TestParseRefusesMalformedPackages(t *testing.T) {
	base := func() Files {
		return Files{
			"problem.yaml":        []byte("name: x\n"),
			"data/secret/1.in":    []byte("1\n"),
			"data/secret/1.ans":   []byte("1\n"),
			"data/sample/s.in":    []byte("1\n"),
			"data/sample/s.ans":   []byte("1\n"),
			"submissions/x/ok.py": []byte("print(1)"),
		}
	}
	tests := []struct {
		name   string
		change func(Files)
		want   string
	}{
		{"no problem.yaml", func(f Files) { delete(f, "problem.yaml") }, "no problem.yaml"},
		{"unknown validation", func(f Files) { f["problem.yaml"] = []byte("validation: strict\n") }, `unknown validation "strict"`},
		{"unknown validation option", func(f Files) { f["problem.yaml"] = []byte("validation: custom fancy\n") }, `unknown validation option "fancy"`},
		// DOMjudge's hangman and jumble are multi-pass: not supported.
		{"multi-pass", func(f Files) { f["problem.yaml"] = []byte("validation: custom multi-pass\n") }, `unknown validation option "multi-pass"`},
		{"custom without a validator", func(f Files) { f["problem.yaml"] = []byte("validation: custom\n") }, "no output_validators/"},
		{"a missing .ans", func(f Files) { delete(f, "data/secret/1.ans") }, "data/secret/1.in has no answer file 1.ans"},
		{"no tests", func(f Files) {
			for k := range f {
				if strings.HasPrefix(k, "data/") {
					delete(f, k)
				}
			}
		}, "no test cases"},
		{"a bad time limit", func(f Files) { f[".timelimit"] = []byte("soon") }, ".timelimit"},
		{"a bad on_reject", func(f Files) { f["data/secret/testdata.yaml"] = []byte("on_reject: retry\n") }, "on_reject"},
		{"scores in a pass-fail problem", func(f Files) { f["data/secret/testdata.yaml"] = []byte("accept_score: 5\n") }, "scoring problems only"},
		{"an unknown grader flag", func(f Files) { f["data/secret/testdata.yaml"] = []byte("grader_flags: median\n") }, "unknown grader flag"},
		{"two validators", func(f Files) {
			f["problem.yaml"] = []byte("validation: custom\n")
			f["output_validators/a/v.cc"] = []byte("int main(){}")
			f["output_validators/b/v.cc"] = []byte("int main(){}")
		}, "more than one output validator"},
		{"a validator of two sources", func(f Files) {
			f["problem.yaml"] = []byte("validation: custom\n")
			f["output_validators/a/v.cc"] = []byte("int main(){}")
			f["output_validators/a/w.cc"] = []byte("int f(){}")
		}, "several source files"},
		{"an unsupported type", func(f Files) { f["problem.yaml"] = []byte("type: multi-pass\n") }, `type "multi-pass"`},
		{"bad YAML", func(f Files) { f["problem.yaml"] = []byte("name: [\n") }, "problem.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			tt.change(f)
			_, err := Parse(f)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one with %q", err, tt.want)
			}
		})
	}
	if _, err := Parse(base()); err != nil {
		t.Fatalf("the base package: %v", err)
	}
}

func TestParseReadsLimitsAndFlags(t *testing.T) {
	f := Files{
		"problem.yaml":              []byte("name: {en: Sum, sv: Summa}\nvalidator_flags: float_tolerance 1e-6\nlimits:\n  time_limit: 1.5\n  memory: 256\n"),
		"data/secret/1.in":          []byte("1\n"),
		"data/secret/1.ans":         []byte("1\n"),
		"data/secret/testdata.yaml": []byte("output_validator_flags: case_sensitive\n"),
	}
	p, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Sum" || p.TimeLimit != 1500*time.Millisecond || p.MemoryBytes != 256<<20 {
		t.Fatalf("%+v", p)
	}
	if got := strings.Join(p.Tests()[0].ValidatorFlags, " "); got != "float_tolerance 1e-6 case_sensitive" {
		t.Fatalf("flags %q", got)
	}
	f[".timelimit"] = []byte("3\n")
	if p, _ = Parse(f); p.TimeLimit != 3*time.Second {
		t.Fatalf(".timelimit: %v", p.TimeLimit)
	}
}

func TestUnpackReadsEveryArchiveKind(t *testing.T) {
	members := map[string]string{"p/problem.yaml": "name: z\n", "p/data/secret/1.in": "1\n", "p/data/secret/1.ans": "2\n"}
	for kind, archive := range map[string][]byte{"zip": makeZip(t, members, nil), "tar": makeTar(t, members, nil, false), "tar.gz": makeTar(t, members, nil, true)} {
		t.Run(kind, func(t *testing.T) {
			files, err := Unpack(archive, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if string(files["data/secret/1.ans"]) != "2\n" {
				t.Fatalf("files %v: the top folder should be the root", keys(files))
			}
			if _, err := Parse(files); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func keys(f Files) []string {
	var out []string
	for k := range f {
		out = append(out, k)
	}
	return out
}

func TestUnpackRefusesDangerousArchives(t *testing.T) {
	small := Limits{MaxBytes: 1 << 20, MaxFiles: 10}
	bomb := map[string]string{"problem.yaml": strings.Repeat("a", 2<<20)}
	many := map[string]string{}
	for i := range 11 {
		many[strings.Repeat("f", i+1)] = "x"
	}
	tests := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"a path out of the archive (tar)", makeTar(t, map[string]string{"../evil": "x"}, nil, false), "leaves the archive"},
		{"a path out of the archive (zip)", makeZip(t, map[string]string{"a/../../evil": "x"}, nil), "leaves the archive"},
		{"an absolute path", makeTar(t, map[string]string{"/etc/passwd": "x"}, nil, false), "absolute"},
		{"a link out of the archive", makeTar(t, map[string]string{"a": "x"}, map[string]string{"b": "../../etc/passwd"}, false), "leaves the archive"},
		{"an absolute link", makeZip(t, map[string]string{"a": "x"}, map[string]string{"b": "/etc/passwd"}), "absolute"},
		{"a link to nothing", makeTar(t, map[string]string{"a": "x"}, map[string]string{"b": "c"}, true), "not a file of the package"},
		{"a zip bomb", makeZip(t, bomb, nil), "more than 1048576 bytes"},
		{"a gzip bomb", makeTar(t, bomb, nil, true), "more than 1048576 bytes"},
		{"too many files", makeZip(t, many, nil), "more than 10 files"},
		{"not an archive", []byte("name: x\n"), "not a zip, tar or tar.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unpack(tt.archive, small)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one with %q", err, tt.want)
			}
		})
	}
}

func makeZip(t *testing.T, files, links map[string]string) []byte {
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
	for name, target := range links {
		h := &zip.FileHeader{Name: name}
		h.SetMode(0o777 | 1<<27) // fs.ModeSymlink
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(target))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func makeTar(t *testing.T, files, links map[string]string, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	var out = &b
	var zw *gzip.Writer
	tw := tar.NewWriter(out)
	if gz {
		zw = gzip.NewWriter(out)
		tw = tar.NewWriter(zw)
	}
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
		tw.Write([]byte(body))
	}
	for name, target := range links {
		tw.WriteHeader(&tar.Header{Name: name, Linkname: target, Typeflag: tar.TypeSymlink, Format: tar.FormatUSTAR})
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return b.Bytes()
}

func TestGradeFollowsTheDefaultGrader(t *testing.T) {
	p := mustRead(t, "oddecho")
	tests := p.Tests()
	all := func(v Verdict) []Outcome {
		o := make([]Outcome, len(tests))
		for i := range o {
			o[i] = Outcome{Verdict: v}
		}
		return o
	}
	if g := p.Grade(all(AC)); g.Verdict != AC || g.Score != 100 {
		t.Fatalf("all accepted: %+v", g)
	}
	// Failing subtask2's second test: subtask2 breaks at it, scores its
	// minimum (0), and secret still accepts (accept_if_any_accepted) at 50.
	o := all(AC)
	var failed int
	for _, tc := range tests {
		if strings.HasPrefix(tc.Name, "secret/subtask2/") {
			failed = tc.Index + 1
			break
		}
	}
	o[failed].Verdict = WA
	g := p.Grade(o)
	if g.Verdict != AC || g.Score != 50 {
		t.Fatalf("subtask2 failed: %+v", g)
	}
	if g.Counted[failed+1] {
		t.Error("a test after a break was counted")
	}
	// A sample failing changes nothing: samples score 0 and ignore_sample.
	o = all(AC)
	o[0].Verdict = WA
	if g := p.Grade(o); g.Verdict != AC || g.Score != 100 {
		t.Fatalf("a sample failed: %+v", g)
	}
	if g := p.Grade(all(TLE)); g.Verdict != TLE || g.Score != 0 {
		t.Fatalf("all failed: %+v", g)
	}
	o = all(AC)
	o[3].Verdict = JE
	if g := p.Grade(o); g.Verdict != JE {
		t.Fatalf("a judge error: %+v", g)
	}
}

func TestGradePassFailIsTheFirstRejection(t *testing.T) {
	p := mustRead(t, "different")
	if !p.StopAtFirstRejection() {
		t.Fatal("a default pass-fail problem can stop at the first rejection")
	}
	o := []Outcome{{Verdict: AC}, {Verdict: TLE}, {Verdict: WA}}
	if g := p.Grade(o); g.Verdict != TLE || g.Counted[2] {
		t.Fatalf("%+v", g)
	}
	if mustRead(t, "oddecho").StopAtFirstRejection() {
		t.Fatal("a scoring problem cannot stop early")
	}
}
