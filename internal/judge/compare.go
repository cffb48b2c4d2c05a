package judge

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Mode is how a program's output is compared with the expected output.
type Mode string

// The comparison modes.
const (
	// ModeExact compares the bytes.
	ModeExact Mode = "exact"
	// ModeLines ignores whitespace at the end of each line and blank lines
	// at the end of the output. It is the default.
	ModeLines Mode = "lines"
	// ModeTokens compares the whitespace-separated tokens: any run of
	// whitespace, newlines included, separates them alike.
	ModeTokens Mode = "tokens"
	// ModeFloat compares tokens, numbers equal within AbsTol or RelTol.
	ModeFloat Mode = "float"
)

// Modes lists the comparison modes, for messages and GET /runtimes.
var Modes = []Mode{ModeExact, ModeLines, ModeTokens, ModeFloat}

// DefaultTolerance is the default absolute and relative tolerance of
// ModeFloat, as DMOJ's and Kattis's float checkers use by default.
const DefaultTolerance = 1e-6

// Compare says how outputs are compared.
type Compare struct {
	Mode            Mode    // "" is ModeLines
	CaseInsensitive bool    // letters compare without regard to case, in every mode
	AbsTol, RelTol  float64 // ModeFloat only; 0 is DefaultTolerance
}

// Validate reports a comparison that cannot be made.
func (c Compare) Validate() error {
	switch c.Mode {
	case "", ModeExact, ModeLines, ModeTokens, ModeFloat:
	default:
		return fmt.Errorf("compare.mode %q is not one of exact, lines, tokens, float", c.Mode)
	}
	if c.AbsTol < 0 || c.RelTol < 0 || math.IsNaN(c.AbsTol) || math.IsNaN(c.RelTol) {
		return fmt.Errorf("compare.abs_tol and compare.rel_tol must not be negative")
	}
	if c.Mode != ModeFloat && (c.AbsTol != 0 || c.RelTol != 0) {
		return fmt.Errorf("compare.abs_tol and compare.rel_tol apply to mode float only")
	}
	return nil
}

// maxShown is how much of an expected or actual line or token a message shows.
const maxShown = 80

// Diff compares got with want and returns "" when they are equal under c,
// or a message that says where they first differ, such as
// `line 2: expected "12", got "13"`.
func (c Compare) Diff(want, got string) string {
	switch c.Mode {
	case ModeExact:
		return c.diffExact(want, got)
	case ModeTokens:
		return c.diffTokens(want, got, false)
	case ModeFloat:
		return c.diffTokens(want, got, true)
	default:
		return c.diffLines(want, got)
	}
}

func (c Compare) equal(a, b string) bool {
	if c.CaseInsensitive {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func (c Compare) diffExact(want, got string) string {
	if c.equal(want, got) {
		return ""
	}
	// Lines with their newlines: a missing last newline shows.
	return c.firstLineDiff(strings.SplitAfter(want, "\n"), strings.SplitAfter(got, "\n"))
}

// firstLineDiff names the first line that differs, or the one where one
// output ends; "" when none does.
func (c Compare) firstLineDiff(wl, gl []string) string {
	for i := 0; i < max(len(wl), len(gl)); i++ {
		switch {
		case i >= len(wl):
			return fmt.Sprintf("line %d: expected end of output, got %s", i+1, show(gl[i]))
		case i >= len(gl):
			return fmt.Sprintf("line %d: expected %s, got end of output", i+1, show(wl[i]))
		case !c.equal(wl[i], gl[i]):
			return fmt.Sprintf("line %d: expected %s, got %s", i+1, show(wl[i]), show(gl[i]))
		}
	}
	return ""
}

// lines splits s into lines without their trailing whitespace, and drops
// the blank lines at its end.
func lines(s string) []string {
	out := strings.Split(s, "\n")
	for i := range out {
		out[i] = strings.TrimRight(out[i], " \t\r\v\f")
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func (c Compare) diffLines(want, got string) string {
	return c.firstLineDiff(lines(want), lines(got))
}

// token is a whitespace-separated word and the line it is on.
type token struct {
	text string
	line int
}

func tokens(s string) []token {
	var out []token
	line := 1
	for len(s) > 0 {
		i := strings.IndexFunc(s, func(r rune) bool { return !isSpace(r) })
		if i < 0 {
			break
		}
		line += strings.Count(s[:i], "\n")
		s = s[i:]
		j := strings.IndexFunc(s, isSpace)
		if j < 0 {
			j = len(s)
		}
		out = append(out, token{s[:j], line})
		s = s[j:]
	}
	return out
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

func (c Compare) diffTokens(want, got string, numbers bool) string {
	wt, gt := tokens(want), tokens(got)
	for i := 0; i < max(len(wt), len(gt)); i++ {
		switch {
		case i >= len(wt):
			return fmt.Sprintf("token %d (line %d): expected end of output, got %s", i+1, gt[i].line, show(gt[i].text))
		case i >= len(gt):
			return fmt.Sprintf("token %d: expected %s (line %d), got end of output", i+1, show(wt[i].text), wt[i].line)
		case numbers && c.closeEnough(wt[i].text, gt[i].text):
		case !c.equal(wt[i].text, gt[i].text):
			return fmt.Sprintf("token %d (line %d): expected %s, got %s", i+1, gt[i].line, show(wt[i].text), show(gt[i].text))
		}
	}
	return ""
}

// closeEnough reports whether two tokens are both numbers and equal within
// the absolute or the relative tolerance (relative to the expected value).
// A token that is not a finite number must match as text.
func (c Compare) closeEnough(want, got string) bool {
	w, err1 := strconv.ParseFloat(want, 64)
	g, err2 := strconv.ParseFloat(got, 64)
	if err1 != nil || err2 != nil || math.IsInf(w, 0) || math.IsNaN(w) || math.IsInf(g, 0) || math.IsNaN(g) {
		return false
	}
	abs, rel := c.AbsTol, c.RelTol
	if abs == 0 {
		abs = DefaultTolerance
	}
	if rel == 0 {
		rel = DefaultTolerance
	}
	d := math.Abs(w - g)
	return d <= abs || d <= rel*math.Abs(w)
}

// show quotes s for a message, cut to maxShown bytes (at a rune boundary).
func show(s string) string {
	if len(s) <= maxShown {
		return strconv.Quote(s)
	}
	cut := maxShown
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
