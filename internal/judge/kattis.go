package judge

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// KattisDefault is the Kattis problem package format's default output
// validator, with its flags: the answer and the output are compared token
// by token, whitespace of any amount alike, letters without regard to
// case. Its rules and its messages follow the format's specification and
// problemtools' default_validator (support/default_validator), whose own
// test cases (testdata/kattis_default_validator, MIT licence) it passes.
type KattisDefault struct {
	CaseSensitive        bool
	SpaceChangeSensitive bool
	AbsTol, RelTol       float64 // < 0: not set
}

// ParseKattisFlags reads the default validator's flags (problem.yaml's
// validator_flags and a group's output_validator_flags).
func ParseKattisFlags(flags []string) (KattisDefault, error) {
	k := KattisDefault{AbsTol: -1, RelTol: -1}
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		switch f {
		case "case_sensitive":
			k.CaseSensitive = true
		case "space_change_sensitive":
			k.SpaceChangeSensitive = true
		case "float_absolute_tolerance", "float_relative_tolerance", "float_tolerance":
			if i+1 == len(flags) {
				return k, fmt.Errorf("validator flag %s needs a number after it", f)
			}
			v, ok := kattisFloat(flags[i+1])
			if !ok {
				return k, fmt.Errorf("validator flag %s: %q is not a number", f, flags[i+1])
			}
			i++
			switch f {
			case "float_absolute_tolerance":
				k.AbsTol = v
			case "float_relative_tolerance":
				k.RelTol = v
			default:
				k.AbsTol, k.RelTol = v, v
			}
		default:
			return k, fmt.Errorf("unknown validator flag %q (case_sensitive, space_change_sensitive, float_tolerance, float_absolute_tolerance, float_relative_tolerance are known)", f)
		}
	}
	return k, nil
}

// kattisFloat reads a token as C's sscanf("%lf") reads a whole token: a
// finite decimal or hexadecimal number, and nothing after it.
func kattisFloat(s string) (float64, bool) {
	if strings.ContainsRune(s, '_') {
		return 0, false
	}
	t := strings.TrimLeft(s, "+-")
	if (strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X")) && !strings.ContainsAny(t, "pP") {
		s += "p0" // C reads a hexadecimal number without an exponent; Go needs one
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// kattisSpace is C's isspace in the C locale.
func kattisSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// Diff compares the output got with the answer want and returns "" when
// the default validator accepts it, or its judge message.
func (k KattisDefault) Diff(want, got string) string {
	useFloats := k.AbsTol >= 0 || k.RelTol >= 0
	j, u := 0, 0 // read positions in want and got
	jLine, uLine, uPos := 1, 1, 0
	wa := func(format string, args ...any) string {
		return fmt.Sprintf("Wrong answer on line %d of output (corresponding to line %d in answer file)\n", uLine, jLine) +
			fmt.Sprintf(format, args...)
	}
	token := func(s string, i *int) string {
		start := *i
		for *i < len(s) && !kattisSpace(s[*i]) {
			*i++
		}
		return s[start:*i]
	}
	for n := 0; ; n++ {
		for j < len(want) && kattisSpace(want[j]) {
			c := want[j]
			j++
			if k.SpaceChangeSensitive {
				d := -1 // EOF
				if u < len(got) {
					d = int(got[u])
					u++
				}
				if d != int(c) {
					return wa("Space change error: got %d expected %d", d, c)
				}
				if d == '\n' {
					uLine++
				}
				uPos++
			}
			if c == '\n' {
				jLine++
			}
		}
		for u < len(got) && kattisSpace(got[u]) {
			d := got[u]
			u++
			if k.SpaceChangeSensitive {
				return wa("Space change error: judge out of space, got %d from user", d)
			}
			if d == '\n' {
				uLine++
			}
			uPos++
		}
		judge := token(want, &j)
		if judge == "" {
			break
		}
		team := token(got, &u)
		if team == "" {
			switch {
			case n == 0 && uPos == 0:
				return wa("User EOF while judge had more output; user output was empty.\n(Next judge token: %s)", kattisTruncate(judge, 30))
			case n == 0:
				return wa("User EOF while judge had more output; user output contained only whitespace.\n(Next judge token: %s)", kattisTruncate(judge, 30))
			default:
				return wa("User EOF while judge had more output\n(Next judge token: %s)", kattisTruncate(judge, 30))
			}
		}
		if jv, ok := kattisFloat(judge); useFloats && ok {
			tv, ok := kattisFloat(team)
			if !ok {
				return wa("Expected float, got: %s", kattisTruncate(team, 30))
			}
			diff := math.Abs(jv - tv)
			if !(diff <= k.AbsTol) && !(diff <= k.RelTol*math.Abs(jv)) {
				if jv == 0 {
					return wa("Too large difference.\n Judge: %s\n User:  %s\n Absolute error: %e (abs tolerance %e)\n Relative error: undefined, judge value is 0 (rel tolerance %e)",
						kattisTruncate(judge, 30), kattisTruncate(team, 30), diff, k.AbsTol, k.RelTol)
				}
				return wa("Too large difference.\n Judge: %s\n User:  %s\n Absolute error: %e (abs tolerance %e)\n Relative error: %e (rel tolerance %e)",
					kattisTruncate(judge, 30), kattisTruncate(team, 30), diff, k.AbsTol, diff/math.Abs(jv), k.RelTol)
			}
		} else if (k.CaseSensitive && judge != team) || (!k.CaseSensitive && !asciiEqualFold(judge, team)) {
			a, b := kattisTruncatePair(judge, team)
			return wa("String tokens mismatch\nJudge: \"%s\"\nUser: \"%s\"", a, b)
		}
		uPos += len(team)
	}
	for u < len(got) && kattisSpace(got[u]) {
		u++
	}
	if u < len(got) {
		return wa("Trailing output:\n%s", kattisTruncate(token(got, &u), 30))
	}
	return ""
}

// asciiEqualFold is C's strcasecmp in the C locale: ASCII letters only.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// kattisTruncate shortens s to about limit bytes as the default validator
// does: only when it is more than 5 bytes over, not inside a UTF-8
// character (at most 3 bytes more), marked with "...".
func kattisTruncate(s string, limit int) string {
	if len(s) <= limit+5 {
		return s
	}
	cut := limit
	for cut < len(s) && cut < limit+4 && s[cut]&0xC0 == 0x80 {
		cut++
	}
	return s[:cut] + "..."
}

// kattisTruncatePair shortens two tokens around where they first differ.
func kattisTruncatePair(a, b string) (string, string) {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	p := kattisTruncate(a[:i], 15)
	return p + kattisTruncate(a[i:], 15), p + kattisTruncate(b[i:], 15)
}
