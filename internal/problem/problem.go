// Package problem reads problem packages in the Kattis problem package
// format (https://www.kattis.com/problem-package-format/, the legacy
// version and the 2023-07 draft's problem.yaml), as ICPC contests,
// DOMjudge and Kattis keep them: problem.yaml, data/sample and data/secret
// in nested test groups with testdata.yaml, an output validator, and the
// jury's submissions. It also grades a judged package as the format's
// default grader does. It knows nothing of sandboxes or HTTP: the judge
// runs what it describes.
package problem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Problem is a parsed package.
type Problem struct {
	Name           string
	Validation     Validation
	ValidatorFlags []string      // problem.yaml's validator_flags, for every test
	TimeLimit      time.Duration // .timelimit or limits.time_limit; 0 when the package gives none
	MemoryBytes    int64         // limits.memory; 0 when the package gives none
	License        string
	Authors        string // author or credits
	Source         string
	Root           *Group   // data/: its groups are sample then secret
	Validator      *Program // the output validator; nil with default validation
	Submissions    []Submission
}

// Validation is problem.yaml's validation (or the 2023-07 type).
type Validation struct {
	Custom      bool // an output validator of the package's judges
	Interactive bool // the validator talks with the submission
	Score       bool // the validator may write score.txt
	Scoring     bool // a scoring problem: groups have scores
}

// String is the validation as problem.yaml writes it.
func (v Validation) String() string {
	if !v.Custom {
		return "default"
	}
	s := "custom"
	if v.Interactive {
		s += " interactive"
	}
	if v.Score {
		s += " score"
	}
	return s
}

// Group is a test data group: a folder of data/, with the settings of its
// testdata.yaml and those it inherits.
type Group struct {
	Name   string // "sample", "secret", "secret/group1"; "" for data/ itself
	Config GroupConfig
	Items  []Item // test cases and subgroups, by base name
}

// Item is a test case or a subgroup.
type Item struct {
	Test  *Test
	Group *Group
}

// Test is one test case.
type Test struct {
	Index          int    // its place in Problem.Tests
	Name           string // "secret/group1/03", without .in
	Input, Answer  []byte
	ValidatorFlags []string // the group's output_validator_flags, after the problem's
	Group          *Group
}

// GroupConfig is testdata.yaml's settings, inherited down the tree.
type GroupConfig struct {
	OnReject       string // "break" (the default) or "continue"
	GraderFlags    []string
	ValidatorFlags []string
	AcceptScore    float64 // 1 unless set
	RejectScore    float64
}

// Program is a program of the package (an output validator, a jury
// submission): one source file of a language, with the headers and other
// files of its folder beside it.
type Program struct {
	Path     string // in the package: the folder, or the file of a one-file program
	Language string // codeexec's language name
	Source   string // the source file's name
	Code     string
	Files    map[string]string // the folder's other files, by name
}

// Submission is a jury program with the verdict its folder says it gets.
type Submission struct {
	Program
	Expect string // the folder: accepted, wrong_answer, time_limit_exceeded, run_time_error, ...
	Skip   string // why it cannot be judged here ("" when it can)
}

// Tests returns the package's test cases in judging order: samples, then
// secret, each group's items by base name, depth first.
func (p *Problem) Tests() []*Test {
	var out []*Test
	var walk func(g *Group)
	walk = func(g *Group) {
		for _, it := range g.Items {
			if it.Test != nil {
				out = append(out, it.Test)
			} else {
				walk(it.Group)
			}
		}
	}
	walk(p.Root)
	return out
}

// Groups returns every group with test cases in it, in judging order,
// and how many test cases each holds (its subgroups' included).
func (p *Problem) Groups() []GroupCount {
	var out []GroupCount
	var walk func(g *Group) int
	walk = func(g *Group) int {
		i := len(out)
		out = append(out, GroupCount{Name: g.Name})
		n := 0
		for _, it := range g.Items {
			if it.Test != nil {
				n++
			} else {
				n += walk(it.Group)
			}
		}
		out[i].Tests = n
		return n
	}
	walk(p.Root)
	return slices.DeleteFunc(out, func(g GroupCount) bool { return g.Name == "" || g.Tests == 0 })
}

// GroupCount is a group's name and number of test cases.
type GroupCount struct {
	Name  string `json:"name"`
	Tests int    `json:"tests"`
}

// problemYAML is what problem.yaml may say, legacy and 2023-07 draft.
type problemYAML struct {
	ProblemFormatVersion string          `json:"problem_format_version"`
	Type                 json.RawMessage `json:"type"` // 2023-07: a string or a list
	Name                 json.RawMessage `json:"name"` // a string, or a map by language (2023-07)
	Author               string          `json:"author"`
	Credits              json.RawMessage `json:"credits"`
	Source               json.RawMessage `json:"source"`
	License              string          `json:"license"`
	Validation           string          `json:"validation"`
	ValidatorFlags       json.RawMessage `json:"validator_flags"`
	Limits               struct {
		TimeLimit json.Number `json:"time_limit"`
		Memory    json.Number `json:"memory"`
	} `json:"limits"`
}

// Parse reads a package's files.
func Parse(files Files) (*Problem, error) {
	raw, ok := files["problem.yaml"]
	if !ok {
		return nil, invalid("no problem.yaml at the package's root")
	}
	var y problemYAML
	if err := yaml.Unmarshal(raw, &y); err != nil {
		return nil, invalid("problem.yaml: %v", err)
	}
	p := &Problem{License: y.License, Authors: y.Author}
	p.Name = stringOrFirst(y.Name)
	if c := stringOrFirst(y.Credits); c != "" && p.Authors == "" {
		p.Authors = c
	}
	p.Source = stringOrFirst(y.Source)
	if p.Name == "" {
		p.Name = "unnamed"
	}
	var err error
	if p.Validation, err = validation(y); err != nil {
		return nil, err
	}
	if p.ValidatorFlags, err = flags(y.ValidatorFlags); err != nil {
		return nil, invalid("problem.yaml: validator_flags: %v", err)
	}
	if p.TimeLimit, err = timeLimit(files, y); err != nil {
		return nil, err
	}
	if m := y.Limits.Memory.String(); m != "" {
		mib, err := strconv.ParseFloat(m, 64)
		if err != nil || mib <= 0 || mib > 1<<20 {
			return nil, invalid("problem.yaml: limits.memory %q is not a size in MiB", m)
		}
		p.MemoryBytes = int64(mib * (1 << 20))
	}
	root := GroupConfig{OnReject: "break", AcceptScore: 1}
	if p.Root, err = readGroup(files, "data", "", root, p.Validation.Scoring); err != nil {
		return nil, err
	}
	for i, t := range p.Tests() {
		t.Index = i
		t.ValidatorFlags = append(slices.Clone(p.ValidatorFlags), t.Group.Config.ValidatorFlags...)
	}
	if len(p.Tests()) == 0 {
		return nil, invalid("no test cases: expected data/sample or data/secret with NAME.in and NAME.ans")
	}
	if p.Validator, err = outputValidator(files, p.Validation); err != nil {
		return nil, err
	}
	p.Submissions = submissions(files)
	return p, nil
}

// stringOrFirst reads a YAML string, or a map's value for "en" or its
// first key's (name by language), or a list's first string.
func stringOrFirst(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range append([]string{"en", "name", "authors"}, keys...) {
			if v, ok := m[k]; ok {
				if s := stringOrFirst(v); s != "" {
					return s
				}
			}
		}
	}
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) == nil && len(l) > 0 {
		return stringOrFirst(l[0])
	}
	return ""
}

// flags reads validator or grader flags: a string split at spaces, or a
// list of strings.
func flags(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.Fields(s), nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("not a string or a list of strings")
	}
	return l, nil
}

// validation reads the legacy validation field, or the 2023-07 type.
func validation(y problemYAML) (Validation, error) {
	var v Validation
	if len(y.Type) > 0 {
		types, err := flags(y.Type)
		if err != nil {
			return v, invalid("problem.yaml: type: %v", err)
		}
		for _, t := range types {
			switch t {
			case "pass-fail":
			case "scoring":
				v.Scoring = true
			case "interactive":
				v.Custom, v.Interactive = true, true
			default:
				return v, invalid("problem.yaml: type %q is not supported (pass-fail, scoring, interactive are)", t)
			}
		}
		if v.Scoring && v.Custom {
			v.Score = true
		}
	}
	if y.Validation == "" {
		return v, nil
	}
	words := strings.Fields(y.Validation)
	switch words[0] {
	case "default":
		if len(words) > 1 {
			return v, invalid("problem.yaml: validation %q: default takes no options", y.Validation)
		}
		return v, nil
	case "custom":
		v.Custom = true
	default:
		return v, invalid("problem.yaml: unknown validation %q: it must begin with default or custom", y.Validation)
	}
	for _, w := range words[1:] {
		switch w {
		case "interactive":
			v.Interactive = true
		case "score":
			v.Score, v.Scoring = true, true
		default:
			return v, invalid("problem.yaml: unknown validation option %q in %q (interactive and score are)", w, y.Validation)
		}
	}
	return v, nil
}

// timeLimit reads .timelimit (problemtools writes it) or limits.time_limit.
func timeLimit(files Files, y problemYAML) (time.Duration, error) {
	src, text := "problem.yaml: limits.time_limit", y.Limits.TimeLimit.String()
	if b, ok := files[".timelimit"]; ok {
		src, text = ".timelimit", strings.TrimSpace(string(b))
	}
	if text == "" {
		return 0, nil
	}
	s, err := strconv.ParseFloat(text, 64)
	if err != nil || s <= 0 || s > 3600 || math.IsNaN(s) {
		return 0, invalid("%s: %q is not a time limit in seconds", src, text)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// testdataYAML is a group's testdata.yaml.
type testdataYAML struct {
	OnReject             string          `json:"on_reject"`
	Grading              string          `json:"grading"`
	GraderFlags          json.RawMessage `json:"grader_flags"`
	OutputValidatorFlags json.RawMessage `json:"output_validator_flags"`
	AcceptScore          *float64        `json:"accept_score"`
	RejectScore          *float64        `json:"reject_score"`
}

// readGroup reads the group in folder dir, named name, under the
// settings cfg it inherits.
func readGroup(files Files, dir, name string, cfg GroupConfig, scoring bool) (*Group, error) {
	g := &Group{Name: name}
	for _, f := range []string{"testdata.yaml", "test_group.yaml"} {
		raw, ok := files[dir+"/"+f]
		if !ok {
			continue
		}
		var td testdataYAML
		if err := yaml.Unmarshal(raw, &td); err != nil {
			return nil, invalid("%s/%s: %v", dir, f, err)
		}
		switch td.OnReject {
		case "":
		case "break", "continue":
			cfg.OnReject = td.OnReject
		default:
			return nil, invalid("%s/%s: on_reject %q is not break or continue", dir, f, td.OnReject)
		}
		if td.Grading == "custom" {
			return nil, invalid("%s/%s: grading: custom (a grader program) is not supported; the default grader's flags are", dir, f)
		}
		if fl, err := flags(td.GraderFlags); err != nil {
			return nil, invalid("%s/%s: grader_flags: %v", dir, f, err)
		} else if fl != nil {
			cfg.GraderFlags = fl
			for _, x := range fl {
				if !graderFlag(x) {
					return nil, invalid("%s/%s: unknown grader flag %q", dir, f, x)
				}
			}
		}
		if fl, err := flags(td.OutputValidatorFlags); err != nil {
			return nil, invalid("%s/%s: output_validator_flags: %v", dir, f, err)
		} else if fl != nil {
			cfg.ValidatorFlags = fl
		}
		if (td.AcceptScore != nil || td.RejectScore != nil) && !scoring {
			return nil, invalid("%s/%s: accept_score and reject_score are for scoring problems only", dir, f)
		}
		if td.AcceptScore != nil {
			cfg.AcceptScore = *td.AcceptScore
		}
		if td.RejectScore != nil {
			cfg.RejectScore = *td.RejectScore
		}
	}
	g.Config = cfg

	// The folder's direct entries: NAME.in files and subfolders.
	prefix := dir + "/"
	inputs, subs := map[string]bool{}, map[string]bool{}
	for f := range files {
		rest, ok := strings.CutPrefix(f, prefix)
		if !ok {
			continue
		}
		if first, _, deeper := strings.Cut(rest, "/"); deeper {
			subs[first] = true
		} else if base, ok := strings.CutSuffix(rest, ".in"); ok {
			inputs[base] = true
		}
	}
	var names []string
	for n := range inputs {
		names = append(names, n)
	}
	for n := range subs {
		if name == "" && n != "sample" && n != "secret" {
			continue // data/ holds only sample and secret
		}
		if inputs[n] {
			return nil, invalid("%s: %s.in and a folder %s side by side", dir, n, n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if name == "" {
		// sample before secret whatever their names' order; nothing else.
		names = slices.DeleteFunc(names, func(n string) bool { return !subs[n] })
	}
	for _, n := range names {
		sub := path.Join(name, n)
		if subs[n] {
			sg, err := readGroup(files, prefix+n, sub, cfg, scoring)
			if err != nil {
				return nil, err
			}
			g.Items = append(g.Items, Item{Group: sg})
			continue
		}
		ans, ok := files[prefix+n+".ans"]
		if !ok {
			return nil, invalid("%s%s.in has no answer file %s.ans", prefix, n, n)
		}
		g.Items = append(g.Items, Item{Test: &Test{Name: sub, Input: files[prefix+n+".in"], Answer: ans, Group: g}})
	}
	return g, nil
}

// graderFlag reports a flag of the default grader.
func graderFlag(f string) bool {
	switch f {
	case "worst_error", "no_errors", "first_error", "always_accept", "sum", "avg", "min", "max", "ignore_sample", "accept_if_any_accepted":
		return true
	}
	return false
}

// outputValidator finds the package's output validator: one folder (or
// file) under output_validators/ (legacy) or output_validator/ (2023-07).
func outputValidator(files Files, v Validation) (*Program, error) {
	var found []string
	for _, dir := range []string{"output_validators", "output_validator"} {
		entries := map[string]bool{}
		for f := range files {
			if rest, ok := strings.CutPrefix(f, dir+"/"); ok {
				first, _, deeper := strings.Cut(rest, "/")
				if dir == "output_validator" && !deeper {
					entries[""] = true // 2023-07: the folder is the program
				} else {
					entries[first] = true
				}
			}
		}
		for e := range entries {
			found = append(found, path.Join(dir, e))
		}
	}
	if !v.Custom {
		return nil, nil
	}
	switch len(found) {
	case 0:
		return nil, invalid("problem.yaml says validation: %s, but there is no output_validators/ folder", v)
	case 1:
	default:
		sort.Strings(found)
		return nil, invalid("more than one output validator (%s): only one is supported", strings.Join(found, ", "))
	}
	prog, why := program(files, found[0])
	if why != "" {
		return nil, invalid("output validator %s: %s", found[0], why)
	}
	return prog, nil
}

// languages maps a source file's extension to codeexec's language.
var languages = map[string]string{
	".c": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".C": "cpp",
	".py": "python", ".java": "java", ".js": "javascript", ".ts": "typescript", ".go": "go",
	".rs": "rust", ".rb": "ruby", ".php": "php", ".sh": "bash", ".cs": "csharp",
}

// Language returns codeexec's language for a source file's name, or "".
func Language(file string) string { return languages[path.Ext(file)] }

// program reads the program at p: a file, or a folder with exactly one
// source file among headers and data. why says what is wrong.
func program(files Files, p string) (*Program, string) {
	if b, ok := files[p]; ok {
		lang := Language(p)
		if lang == "" {
			return nil, fmt.Sprintf("no language codeexec knows has the extension %q", path.Ext(p))
		}
		return &Program{Path: p, Language: lang, Source: path.Base(p), Code: string(b)}, ""
	}
	prog := &Program{Path: p, Files: map[string]string{}}
	var sources []string
	for f, b := range files {
		rest, ok := strings.CutPrefix(f, p+"/")
		if !ok {
			continue
		}
		if strings.Contains(rest, "/") {
			return nil, fmt.Sprintf("subfolders (%s) are not supported", f)
		}
		if rest == "build" || rest == "run" {
			return nil, "build and run scripts are not supported: give one source file"
		}
		if Language(rest) != "" {
			sources = append(sources, rest)
		}
		prog.Files[rest] = string(b)
	}
	sort.Strings(sources)
	switch len(sources) {
	case 0:
		return nil, "no source file of a language codeexec knows"
	case 1:
	default:
		return nil, fmt.Sprintf("several source files (%s): only one, with its headers, is supported", strings.Join(sources, ", "))
	}
	prog.Source, prog.Language = sources[0], Language(sources[0])
	prog.Code = prog.Files[prog.Source]
	delete(prog.Files, prog.Source)
	return prog, ""
}

// submissions lists the jury's programs under submissions/<verdict>/.
func submissions(files Files) []Submission {
	seen := map[string]bool{}
	var out []Submission
	for f := range files {
		rest, ok := strings.CutPrefix(f, "submissions/")
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) < 2 {
			continue
		}
		p := "submissions/" + parts[0] + "/" + parts[1]
		if seen[p] {
			continue
		}
		seen[p] = true
		s := Submission{Expect: parts[0]}
		prog, why := program(files, p)
		switch {
		case prog == nil:
			s.Program, s.Skip = Program{Path: p}, why
		case prog.Language == "python" && strings.Contains(firstLine(prog.Code), "python2"):
			s.Program, s.Skip = *prog, "Python 2 is not a language codeexec has"
		case prog.Language == "java" && !strings.Contains(prog.Code, "class Main"):
			s.Program, s.Skip = *prog, "codeexec's Java runs the class Main"
		case expectations[s.Expect] == nil:
			s.Program, s.Skip = *prog, fmt.Sprintf("no verdict is expected of the folder %s", parts[0])
		default:
			s.Program = *prog
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// expectations say, per folder of submissions/, which verdicts (and, for
// a scoring problem, which scores out of the full score) meet it.
var expectations = map[string]func(v Verdict, score, full float64, scoring bool) bool{
	"accepted": func(v Verdict, score, full float64, scoring bool) bool {
		return v == AC && (!scoring || score == full)
	},
	"partially_accepted": func(v Verdict, score, full float64, scoring bool) bool {
		return v == AC && scoring && score > 0 && score < full
	},
	"wrong_answer":        func(v Verdict, _, _ float64, _ bool) bool { return v == WA },
	"time_limit_exceeded": func(v Verdict, _, _ float64, _ bool) bool { return v == TLE },
	"run_time_error":      func(v Verdict, _, _ float64, _ bool) bool { return v == RTE || v == MLE },
	// slow_accepted (problemtools' examples): accepted, or over the limit.
	"slow_accepted": func(v Verdict, _, _ float64, _ bool) bool { return v == AC || v == TLE },
}

// Meets reports whether a grade meets what the submission's folder
// expects; full is the score of a submission that passes every test.
func (s Submission) Meets(v Verdict, score, full float64, scoring bool) bool {
	e := expectations[s.Expect]
	return e != nil && e(v, score, full, scoring)
}

// FullScore is the score of a submission that passes every test.
func (p *Problem) FullScore() float64 {
	o := make([]Outcome, len(p.Tests()))
	for i := range o {
		o[i] = Outcome{Verdict: AC}
	}
	return p.Grade(o).Score
}

// DetectArchive reports whether b starts like an archive Unpack reads.
func DetectArchive(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK")) || bytes.HasPrefix(b, []byte{0x1f, 0x8b}) ||
		len(b) >= 262 && string(b[257:262]) == "ustar"
}
