package compat

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-shellwords"
	"golang.org/x/sys/unix"

	"github.com/codeexec/codeexec/internal/runner"
)

// Judge0 CE's API (version 1.13, the fields and meanings of its
// documentation and of its submissions' table). The facts here (ids,
// statuses, defaults, messages, the rule that compares expected_output)
// come from Judge0's public documentation and sources; no code of it is
// copied.

// Judge0Language is one of Judge0 CE 1.13's languages that codeexec has:
// its id there, the codeexec language that runs it, and its name's
// pattern, the version being ours.
type Judge0Language struct {
	ID    int
	Ours  string
	Label string // fmt pattern: "Python (%s)"
}

// Judge0Languages are Judge0 CE 1.13's ids for the languages codeexec has
// (db/languages/active.rb of v1.13.1); each runs codeexec's own version.
var Judge0Languages = []Judge0Language{
	{46, "bash", "Bash (%s)"},
	{50, "c", "C (GCC %s)"},
	{51, "csharp", "C# (Mono %s)"},
	{54, "cpp", "C++ (GCC %s)"},
	{60, "go", "Go (%s)"},
	{62, "java", "Java (OpenJDK %s)"},
	{63, "javascript", "JavaScript (Node.js %s)"},
	{68, "php", "PHP (%s)"},
	{71, "python", "Python (%s)"},
	{72, "ruby", "Ruby (%s)"},
	{73, "rust", "Rust (%s)"},
	{74, "typescript", "TypeScript (%s)"},
}

// Judge0LanguageView is an entry of GET /languages.
type Judge0LanguageView struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Judge0LanguageDetail is GET /languages/{id}.
type Judge0LanguageDetail struct {
	ID         int     `json:"id"`
	Name       string  `json:"name"`
	IsArchived bool    `json:"is_archived"`
	SourceFile string  `json:"source_file"`
	CompileCmd *string `json:"compile_cmd" jsonschema:"nullable"`
	RunCmd     string  `json:"run_cmd"`
}

// judge0Runtime finds the runtime of a Judge0 language id among ours.
func judge0Runtime(rts []runner.Runtime, id int) (Judge0Language, runner.Runtime, bool) {
	for _, l := range Judge0Languages {
		if l.ID != id {
			continue
		}
		for _, rt := range rts {
			if rt.Language == l.Ours {
				return l, rt, true
			}
		}
	}
	return Judge0Language{}, runner.Runtime{}, false
}

func (l Judge0Language) name(rt runner.Runtime) string {
	return fmt.Sprintf(l.Label, PistonVersion(rt.Version))
}

// Judge0LanguageList is GET /languages: the Judge0 languages among ours,
// by id.
func Judge0LanguageList(rts []runner.Runtime) []Judge0LanguageView {
	out := []Judge0LanguageView{}
	for _, l := range Judge0Languages {
		if _, rt, ok := judge0Runtime(rts, l.ID); ok {
			out = append(out, Judge0LanguageView{ID: l.ID, Name: l.name(rt)})
		}
	}
	return out
}

// Judge0LanguageByID is GET /languages/{id}.
func Judge0LanguageByID(rts []runner.Runtime, id int) (Judge0LanguageDetail, bool) {
	l, rt, ok := judge0Runtime(rts, id)
	if !ok {
		return Judge0LanguageDetail{}, false
	}
	d := Judge0LanguageDetail{ID: id, Name: l.name(rt), SourceFile: rt.SourceFile, RunCmd: strings.Join(rt.Run, " ")}
	if len(rt.Compile) > 0 {
		c := strings.Join(rt.Compile, " ")
		d.CompileCmd = &c
	}
	return d, true
}

// Judge0Status is one of Judge0's statuses.
type Judge0Status struct {
	ID          int    `json:"id"`
	Description string `json:"description"`
}

// Judge0's statuses, by id.
const (
	J0InQueue = iota + 1
	J0Processing
	J0Accepted
	J0WrongAnswer
	J0TimeLimit
	J0CompilationError
	J0SIGSEGV
	J0SIGXFSZ
	J0SIGFPE
	J0SIGABRT
	J0NZEC
	J0RuntimeOther
	J0InternalError
	J0ExecFormatError
)

// Judge0Statuses is GET /statuses.
var Judge0Statuses = []Judge0Status{
	{J0InQueue, "In Queue"},
	{J0Processing, "Processing"},
	{J0Accepted, "Accepted"},
	{J0WrongAnswer, "Wrong Answer"},
	{J0TimeLimit, "Time Limit Exceeded"},
	{J0CompilationError, "Compilation Error"},
	{J0SIGSEGV, "Runtime Error (SIGSEGV)"},
	{J0SIGXFSZ, "Runtime Error (SIGXFSZ)"},
	{J0SIGFPE, "Runtime Error (SIGFPE)"},
	{J0SIGABRT, "Runtime Error (SIGABRT)"},
	{J0NZEC, "Runtime Error (NZEC)"},
	{J0RuntimeOther, "Runtime Error (Other)"},
	{J0InternalError, "Internal Error"},
	{J0ExecFormatError, "Exec Format Error"},
}

// Judge0StatusOf is the status of an id (1 to 14).
func Judge0StatusOf(id int) Judge0Status {
	if id < 1 || id > len(Judge0Statuses) {
		return Judge0Statuses[J0InternalError-1]
	}
	return Judge0Statuses[id-1]
}

// j0Number is a number as Judge0's clients send one: a JSON number or a
// string of one (Rails casts both); null or "" is absent.
type j0Number struct {
	Set bool
	V   float64
	Raw string
}

func (n *j0Number) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if strings.TrimSpace(s) == "" {
			return nil
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		*n = j0Number{Set: true, V: math.NaN(), Raw: s}
		return nil // "is not a number", said by Validate
	}
	*n = j0Number{Set: true, V: v, Raw: s}
	return nil
}

// j0Bool is a boolean as Rails casts one: true, false, "true", "false",
// "1", "0"; null is absent.
type j0Bool struct {
	Set, V, Bad bool
}

func (b *j0Bool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
	case bool:
		*b = j0Bool{Set: true, V: x}
	case string:
		switch strings.ToLower(x) {
		case "true", "1", "t":
			*b = j0Bool{Set: true, V: true}
		case "false", "0", "f", "":
			*b = j0Bool{Set: true}
		default:
			*b = j0Bool{Bad: true}
		}
	case float64:
		*b = j0Bool{Set: true, V: x != 0}
	default:
		*b = j0Bool{Bad: true}
	}
	return nil
}

// Judge0Request is the body of POST /submissions (one submission). Its
// fields are Judge0's; unknown ones are ignored, as Judge0 ignores them.
type Judge0Request struct {
	SourceCode                           *string  `json:"source_code,omitempty" jsonschema:"nullable"`
	LanguageID                           j0Number `json:"language_id,omitempty"`
	CompilerOptions                      *string  `json:"compiler_options,omitempty" jsonschema:"nullable"`
	CommandLineArguments                 *string  `json:"command_line_arguments,omitempty" jsonschema:"nullable"`
	NumberOfRuns                         j0Number `json:"number_of_runs,omitempty"`
	Stdin                                *string  `json:"stdin,omitempty" jsonschema:"nullable"`
	ExpectedOutput                       *string  `json:"expected_output,omitempty" jsonschema:"nullable"`
	CPUTimeLimit                         j0Number `json:"cpu_time_limit,omitempty"`
	CPUExtraTime                         j0Number `json:"cpu_extra_time,omitempty"`
	WallTimeLimit                        j0Number `json:"wall_time_limit,omitempty"`
	MemoryLimit                          j0Number `json:"memory_limit,omitempty"`
	StackLimit                           j0Number `json:"stack_limit,omitempty"`
	MaxProcessesAndOrThreads             j0Number `json:"max_processes_and_or_threads,omitempty"`
	EnablePerProcessAndThreadTimeLimit   j0Bool   `json:"enable_per_process_and_thread_time_limit,omitempty"`
	EnablePerProcessAndThreadMemoryLimit j0Bool   `json:"enable_per_process_and_thread_memory_limit,omitempty"`
	MaxFileSize                          j0Number `json:"max_file_size,omitempty"`
	RedirectStderrToStdout               j0Bool   `json:"redirect_stderr_to_stdout,omitempty"`
	CallbackURL                          *string  `json:"callback_url,omitempty" jsonschema:"nullable"`
	AdditionalFiles                      *string  `json:"additional_files,omitempty" jsonschema:"nullable"`
	EnableNetwork                        j0Bool   `json:"enable_network,omitempty"`
}

// Judge0Invalid is a refused submission, in Judge0's shape: a 422 with
// each field's messages.
type Judge0Invalid map[string][]string

func (e Judge0Invalid) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+strings.Join(e[k], ", "))
	}
	return strings.Join(parts, "; ")
}

func (e Judge0Invalid) add(field, msg string) { e[field] = append(e[field], msg) }

// Judge0's own bounds that codeexec keeps as they are (its defaults of
// MAX_NUMBER_OF_RUNS, MAX_CPU_EXTRA_TIME, MAX_STACK_LIMIT, the 512
// characters of compiler options and arguments); the limits codeexec
// applies are bounded by the service's own maxima instead.
const (
	j0MaxNumberOfRuns  = 20
	j0MaxCPUExtraTime  = 5
	j0MinMemoryKB      = 2048
	j0MaxStackKB       = 128000
	j0DefaultStackKB   = 64000
	j0MaxArgumentChars = 512
)

// Judge0Job is a validated submission as codeexec keeps it: the texts
// decoded (bytes, so that any is kept as sent), every limit with its
// value in effect. It is what a queued Judge0 submission carries.
type Judge0Job struct {
	LanguageID   int       `json:"language_id"`
	SourceCode   []byte    `json:"source_code,omitempty"`
	Stdin        []byte    `json:"stdin,omitempty"`
	Expected     []byte    `json:"expected_output,omitempty"`
	HasExpected  bool      `json:"has_expected_output,omitempty"`
	Arguments    string    `json:"command_line_arguments,omitempty"`
	Args         []string  `json:"args,omitempty"`
	NumberOfRuns int       `json:"number_of_runs"`
	CPUTimeLimit float64   `json:"cpu_time_limit"`
	CPUExtraTime float64   `json:"cpu_extra_time"`
	WallTime     float64   `json:"wall_time_limit"`
	MemoryKB     int64     `json:"memory_limit"`
	StackKB      int64     `json:"stack_limit"`
	MaxProcesses int64     `json:"max_processes_and_or_threads"`
	MaxFileKB    int64     `json:"max_file_size"`
	Redirect     bool      `json:"redirect_stderr_to_stdout"`
	CallbackURL  string    `json:"callback_url,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// What the request set itself: the limits codeexec passes on (the
	// others are the service's defaults, applied by the runner).
	SetTimeout bool `json:"set_timeout,omitempty"`
	SetMemory  bool `json:"set_memory,omitempty"`
	SetPids    bool `json:"set_pids,omitempty"`
	SetOutput  bool `json:"set_output,omitempty"`
}

// Texts strips the job of its texts, for the record of a queued
// submission (they are in its body, and in its result once it ran).
func (j Judge0Job) Texts() (summary Judge0Job) {
	summary = j
	summary.SourceCode, summary.Stdin, summary.Expected = nil, nil, nil
	return summary
}

// Judge0Job validates a request against Judge0's rules and codeexec's
// maxima, with its texts base64 when b64. rts are the service's
// runtimes, with their defaults and maxima.
func (r Judge0Request) Job(rts []runner.Runtime, b64 bool, now time.Time) (Judge0Job, error) {
	bad := Judge0Invalid{}
	var j Judge0Job
	j.CreatedAt = now.UTC()
	text := func(field string, v *string) []byte {
		if v == nil {
			return nil
		}
		if !b64 {
			return []byte(*v)
		}
		b, err := DecodeRubyBase64(*v)
		if err != nil {
			bad.add(field, "is not Base64: "+err.Error())
		}
		return b
	}
	j.SourceCode = text("source_code", r.SourceCode)
	j.Stdin = text("stdin", r.Stdin)
	j.Expected = text("expected_output", r.ExpectedOutput)
	j.HasExpected = r.ExpectedOutput != nil
	if len(strings.TrimSpace(string(j.SourceCode))) == 0 && bad["source_code"] == nil {
		bad.add("source_code", "can't be blank")
	}
	var rt runner.Runtime
	switch n := r.LanguageID; {
	case !n.Set:
		bad.add("language_id", "can't be blank")
	case math.IsNaN(n.V) || n.V != math.Trunc(n.V):
		bad.add("language_id", "is not a number")
	default:
		var ok bool
		if _, rt, ok = judge0Runtime(rts, int(n.V)); !ok {
			bad.add("language_id", fmt.Sprintf("language with id %s doesn't exist", n.Raw))
		}
		j.LanguageID = int(n.V)
	}
	defaultSec := float64(rt.Limits.TimeoutMS) / 1000
	maxSec := float64(rt.MaxLimits.TimeoutMS) / 1000
	num := func(field string, n j0Number, def, lo, hi float64, loStrict bool) float64 {
		if !n.Set {
			return def
		}
		switch {
		case math.IsNaN(n.V):
			bad.add(field, "is not a number")
		case loStrict && n.V <= lo:
			bad.add(field, "must be greater than "+j0Format(lo))
		case !loStrict && n.V < lo:
			bad.add(field, "must be greater than or equal to "+j0Format(lo))
		case hi > 0 && n.V > hi:
			bad.add(field, "must be less than or equal to "+j0Format(hi))
		}
		return n.V
	}
	whole := func(field string, n j0Number, v float64) int64 {
		if n.Set && !math.IsNaN(n.V) && v != math.Trunc(v) {
			bad.add(field, "must be an integer")
		}
		return int64(v)
	}
	j.NumberOfRuns = int(whole("number_of_runs", r.NumberOfRuns, num("number_of_runs", r.NumberOfRuns, 1, 0, j0MaxNumberOfRuns, true)))
	j.CPUTimeLimit = num("cpu_time_limit", r.CPUTimeLimit, defaultSec, 0, maxSec, true)
	j.CPUExtraTime = num("cpu_extra_time", r.CPUExtraTime, 0, 0, j0MaxCPUExtraTime, false)
	j.WallTime = num("wall_time_limit", r.WallTimeLimit, defaultSec, 0, maxSec, true)
	j.SetTimeout = r.CPUTimeLimit.Set || r.WallTimeLimit.Set || r.CPUExtraTime.Set
	j.MemoryKB = whole("memory_limit", r.MemoryLimit, num("memory_limit", r.MemoryLimit, float64(rt.Limits.MemoryBytes/1024), j0MinMemoryKB, float64(rt.MaxLimits.MemoryBytes/1024), false))
	j.SetMemory = r.MemoryLimit.Set
	j.StackKB = whole("stack_limit", r.StackLimit, num("stack_limit", r.StackLimit, j0DefaultStackKB, 0, j0MaxStackKB, false))
	j.MaxProcesses = whole("max_processes_and_or_threads", r.MaxProcessesAndOrThreads,
		num("max_processes_and_or_threads", r.MaxProcessesAndOrThreads, float64(rt.Limits.Pids), 0, float64(rt.MaxLimits.Pids), true))
	j.SetPids = r.MaxProcessesAndOrThreads.Set
	j.MaxFileKB = whole("max_file_size", r.MaxFileSize, num("max_file_size", r.MaxFileSize, float64(rt.Limits.OutputBytes/1024), 1, float64(rt.MaxLimits.OutputBytes/1024), false))
	j.SetOutput = r.MaxFileSize.Set
	for _, b := range []struct {
		field string
		v     j0Bool
		no    string // the message when true is refused
	}{
		{"enable_per_process_and_thread_time_limit", r.EnablePerProcessAndThreadTimeLimit, "this option cannot be enabled"},
		{"enable_per_process_and_thread_memory_limit", r.EnablePerProcessAndThreadMemoryLimit, "this option cannot be enabled"},
		{"enable_network", r.EnableNetwork, "enabling network is not allowed"},
		{"redirect_stderr_to_stdout", r.RedirectStderrToStdout, ""},
	} {
		switch {
		case b.v.Bad:
			bad.add(b.field, "is not a boolean")
		case b.v.V && b.no != "":
			bad.add(b.field, b.no)
		}
	}
	j.Redirect = r.RedirectStderrToStdout.V
	if r.CompilerOptions != nil && strings.TrimSpace(*r.CompilerOptions) != "" {
		bad.add("compiler_options", "setting compiler options is not allowed")
	}
	if r.AdditionalFiles != nil && strings.TrimSpace(*r.AdditionalFiles) != "" {
		bad.add("additional_files", "setting additional files is not allowed")
	}
	if r.CommandLineArguments != nil {
		j.Arguments = *r.CommandLineArguments
		args, err := Judge0Arguments(j.Arguments)
		if err != nil {
			bad.add("command_line_arguments", err.Error())
		}
		j.Args = args
	}
	if r.CallbackURL != nil {
		j.CallbackURL = strings.TrimSpace(*r.CallbackURL)
	}
	if len(bad) > 0 {
		return Judge0Job{}, bad
	}
	return j, nil
}

// Judge0Arguments splits command_line_arguments as Judge0's run script
// does: the shell's metacharacters $ & ; < > | ` removed, then the
// shell's words (quotes group, backslashes escape), never expanded.
func Judge0Arguments(s string) ([]string, error) {
	if utf8.RuneCountInString(s) > j0MaxArgumentChars {
		return nil, fmt.Errorf("is too long (maximum is %d characters)", j0MaxArgumentChars)
	}
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune("$&;<>|`", r) {
			return -1
		}
		return r
	}, s)
	p := shellwords.NewParser() // no environment, no backticks: words only
	args, err := p.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("cannot be split into words: %v", err)
	}
	return args, nil
}

// RunRequest is the run of codeexec's that carries out j with the
// language's runtime: the wall-clock limit is the least of the CPU
// limit with its extra time and the wall limit, since a process that
// waits uses no CPU and one that computes is bounded by either.
func (j Judge0Job) RunRequest(lang string) runner.Request {
	req := runner.Request{Language: lang, Code: string(j.SourceCode), Input: string(j.Stdin), Args: j.Args}
	if j.SetTimeout {
		sec := min(j.CPUTimeLimit+j.CPUExtraTime, j.WallTime)
		req.Limits.Timeout = time.Duration(sec * float64(time.Second))
	}
	if j.SetMemory {
		req.Limits.MemoryBytes = j.MemoryKB * 1024
	}
	if j.SetPids {
		req.Limits.Pids = j.MaxProcesses
	}
	if j.SetOutput {
		req.Limits.OutputBytes = int(j.MaxFileKB * 1024)
	}
	return req
}

// Language is the codeexec language of j's language id.
func (j Judge0Job) Language(rts []runner.Runtime) (string, bool) {
	l, _, ok := judge0Runtime(rts, j.LanguageID)
	return l.Ours, ok
}

// Judge0Result is what a submission's run gave, in Judge0's terms.
type Judge0Result struct {
	StatusID      int       `json:"status_id"`
	Stdout        []byte    `json:"stdout,omitempty"`
	Stderr        []byte    `json:"stderr,omitempty"`
	CompileOutput []byte    `json:"compile_output,omitempty"`
	Message       string    `json:"message,omitempty"`
	Time          *float64  `json:"time,omitempty"`      // CPU seconds
	WallTime      *float64  `json:"wall_time,omitempty"` // seconds
	Memory        *int64    `json:"memory,omitempty"`    // KB
	ExitCode      *int      `json:"exit_code,omitempty"`
	ExitSignal    *int      `json:"exit_signal,omitempty"`
	FinishedAt    time.Time `json:"finished_at"`
	// The texts of the job, kept with its result so that a finished
	// submission shows them.
	SourceCode []byte `json:"source_code,omitempty"`
	Stdin      []byte `json:"stdin,omitempty"`
	Expected   []byte `json:"expected_output,omitempty"`
}

// Judge0Outcome maps what a run did onto Judge0's result: its status by
// Judge0's rules (a run over its CPU limit is out of time, as isolate
// says; a signal names its runtime error; the output is compared with
// expected_output line by line, trailing spaces ignored).
func Judge0Outcome(j Judge0Job, res runner.Result, now time.Time) Judge0Result {
	out := Judge0Result{FinishedAt: now.UTC(), SourceCode: j.SourceCode, Stdin: j.Stdin, Expected: j.Expected}
	nonEmpty := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	if res.Status == runner.StatusCompileError {
		out.StatusID, out.CompileOutput = J0CompilationError, nonEmpty(res.CompileOutput)
		return out
	}
	out.CompileOutput = nonEmpty(res.CompileOutput)
	out.Stdout, out.Stderr = nonEmpty(res.Stdout), nonEmpty(res.Stderr)
	if j.Redirect {
		out.Stdout, out.Stderr = nonEmpty(res.Stdout+res.Stderr), nil
	}
	cpu, wall := seconds(res.CPUTime), seconds(res.Time)
	kb := res.MemoryPeakBytes / 1024
	out.Time, out.WallTime, out.Memory = &cpu, &wall, &kb
	zero := 0
	out.ExitCode = &zero // Judge0 reports 0 for a program a signal ended
	if res.ExitCode != nil {
		out.ExitCode = res.ExitCode
	}
	sig := 0
	if res.Signal != "" {
		if n := unix.SignalNum(res.Signal); n != 0 {
			sig = int(n)
			out.ExitSignal = &sig
		}
	}
	switch {
	case res.Status == runner.StatusTimeout || res.CPUTime.Seconds() > j.CPUTimeLimit || res.Time.Seconds() > j.WallTime:
		out.StatusID, out.Message = J0TimeLimit, "Time limit exceeded"
	case res.Status == runner.StatusMemoryLimitExceeded:
		out.StatusID, out.Message = J0RuntimeOther, "Memory limit exceeded"
	case res.Status == runner.StatusOutputLimitExceeded:
		out.StatusID, out.Message = J0SIGXFSZ, "Output limit exceeded"
	case res.Status == runner.StatusRuntimeError && sig != 0:
		out.StatusID, out.Message = judge0Signal(sig), fmt.Sprintf("Caught fatal signal %d", sig)
	case res.Status == runner.StatusRuntimeError:
		code := -1
		if res.ExitCode != nil {
			code = *res.ExitCode
		}
		out.StatusID, out.Message = J0NZEC, fmt.Sprintf("Exited with error status %d", code)
	case res.Status != runner.StatusSuccess:
		out.StatusID, out.Message = J0InternalError, string(res.Status)
	case !j.HasExpected || judge0Strip(j.Expected) == judge0Strip(out.Stdout):
		out.StatusID = J0Accepted
	default:
		out.StatusID = J0WrongAnswer
	}
	return out
}

// judge0Signal is the runtime error a signal names.
func judge0Signal(sig int) int {
	switch unix.Signal(sig) {
	case unix.SIGSEGV:
		return J0SIGSEGV
	case unix.SIGXFSZ:
		return J0SIGXFSZ
	case unix.SIGFPE:
		return J0SIGFPE
	case unix.SIGABRT:
		return J0SIGABRT
	}
	return J0RuntimeOther
}

// judge0Strip is a text as Judge0 compares it: each line without its
// trailing white space, and no trailing white space at the end.
func judge0Strip(b []byte) string {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r\v\f\x00")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), " \t\r\n\v\f\x00")
}

// seconds is d in seconds to the millisecond, as isolate reports times.
func seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

// j0Format writes a number as Ruby's BigDecimal#to_s does for Judge0's
// decimals: "0.001", "5.0".
func j0Format(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// EncodeRubyBase64 encodes b as Ruby's Base64.encode64, which Judge0
// uses: lines of 60 characters, each ending in a newline.
func EncodeRubyBase64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(s) > 60 {
		sb.WriteString(s[:60])
		sb.WriteByte('\n')
		s = s[60:]
	}
	if s != "" {
		sb.WriteString(s)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// DecodeRubyBase64 decodes Base64 with or without line breaks and
// padding, as Judge0's clients send it.
func DecodeRubyBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// Judge0Fields are the fields of a submission (v1.13.1's table, with
// status and language) and its default ones.
var (
	Judge0Fields = []string{"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id",
		"created_at", "finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
		"cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
		"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit", "max_file_size",
		"compile_output", "exit_code", "exit_signal", "message", "wall_time", "compiler_options",
		"command_line_arguments", "redirect_stderr_to_stdout", "callback_url", "additional_files",
		"enable_network", "status", "language"}
	Judge0DefaultFields = []string{"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}
)

// ParseJudge0Fields reads ?fields=: a comma-separated list of fields, or
// *; none is the default ones. An unknown field is Judge0's 400.
func ParseJudge0Fields(s string) ([]string, error) {
	var out, invalid []string
	all := false
	for _, f := range strings.Split(s, ",") {
		switch {
		case f == "":
		case f == "*":
			all = true
		case slices.Contains(Judge0Fields, f):
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		default:
			invalid = append(invalid, f)
		}
	}
	switch {
	case len(invalid) > 0:
		return nil, fmt.Errorf("invalid fields: [%s]", strings.Join(invalid, ", "))
	case all:
		return Judge0Fields, nil
	case len(out) == 0:
		return Judge0DefaultFields, nil
	}
	return out, nil
}

// ErrJudge0NotUTF8 is an answer with a text that is not UTF-8, asked for
// without base64: Judge0's own error says what to do.
var ErrJudge0NotUTF8 = fmt.Errorf("some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter")

// Judge0View is a submission as Judge0 shows it, with only fields:
// status is the submission's (1 and 2 before it ran), res its result
// once it ran. Texts are Base64 when b64; without, a text that is not
// UTF-8 is ErrJudge0NotUTF8.
func Judge0View(token string, j Judge0Job, status int, res *Judge0Result, rts []runner.Runtime, fields []string, b64 bool) (map[string]any, error) {
	var r Judge0Result
	if res != nil {
		r = *res
		status = res.StatusID
	}
	var bad bool
	text := func(b []byte) any {
		switch {
		case b == nil:
			return nil
		case b64:
			return EncodeRubyBase64(b)
		case !utf8.Valid(b):
			bad = true
		}
		return string(b)
	}
	decimal := func(v *float64) any {
		if v == nil {
			return nil
		}
		return j0Format(*v)
	}
	orNil := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	st := Judge0StatusOf(status)
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		var v any
		switch f {
		case "source_code":
			v = text(r.SourceCode)
		case "language_id":
			v = j.LanguageID
		case "stdin":
			v = text(r.Stdin)
		case "expected_output":
			v = text(r.Expected)
		case "stdout":
			v = text(r.Stdout)
		case "stderr":
			v = text(r.Stderr)
		case "compile_output":
			v = text(r.CompileOutput)
		case "message":
			if r.Message != "" {
				v = r.Message
				if b64 {
					v = EncodeRubyBase64([]byte(r.Message))
				}
			}
		case "status_id":
			v = status
		case "status":
			v = st
		case "language":
			name := ""
			if l, rt, ok := judge0Runtime(rts, j.LanguageID); ok {
				name = l.name(rt)
			}
			v = Judge0LanguageView{ID: j.LanguageID, Name: name}
		case "created_at":
			v = j0Time(j.CreatedAt)
		case "finished_at":
			if res != nil {
				v = j0Time(r.FinishedAt)
			}
		case "time":
			v = decimal(r.Time)
		case "wall_time":
			v = decimal(r.WallTime)
		case "memory":
			if r.Memory != nil {
				v = *r.Memory
			}
		case "token":
			v = token
		case "number_of_runs":
			v = j.NumberOfRuns
		case "cpu_time_limit":
			v = j0Format(j.CPUTimeLimit)
		case "cpu_extra_time":
			v = j0Format(j.CPUExtraTime)
		case "wall_time_limit":
			v = j0Format(j.WallTime)
		case "memory_limit":
			v = j.MemoryKB
		case "stack_limit":
			v = j.StackKB
		case "max_processes_and_or_threads":
			v = j.MaxProcesses
		case "max_file_size":
			v = j.MaxFileKB
		case "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit", "enable_network":
			v = false
		case "redirect_stderr_to_stdout":
			v = j.Redirect
		case "exit_code":
			if r.ExitCode != nil {
				v = *r.ExitCode
			}
		case "exit_signal":
			if r.ExitSignal != nil {
				v = *r.ExitSignal
			}
		case "compiler_options", "additional_files":
			v = nil
		case "command_line_arguments":
			v = orNil(j.Arguments)
		case "callback_url":
			v = orNil(j.CallbackURL)
		}
		out[f] = v
	}
	if bad {
		return nil, ErrJudge0NotUTF8
	}
	return out, nil
}

// j0Time writes a time as Rails writes one in JSON.
func j0Time(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
