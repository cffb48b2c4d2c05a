package judge

import (
	"strings"
	"testing"
)

func TestCompareDiff(t *testing.T) {
	tests := []struct {
		name      string
		c         Compare
		want, got string
		msg       string // "" means equal; otherwise a part of the message
	}{
		{"exact: the same bytes are equal", Compare{Mode: ModeExact}, "3\n", "3\n", ""},
		{"exact: a missing newline differs", Compare{Mode: ModeExact}, "3\n", "3", `line 1: expected "3\n", got "3"`},
		{"exact: trailing space differs", Compare{Mode: ModeExact}, "3\n", "3 \n", `line 1`},
		{"exact: case-insensitive", Compare{Mode: ModeExact, CaseInsensitive: true}, "YES\n", "yes\n", ""},
		{"lines is the default", Compare{}, "1 2\n3\n", "1 2  \r\n3\n\n\n", ""},
		{"lines: trailing whitespace and blank lines are ignored", Compare{Mode: ModeLines}, "a\n\nb", "a \n\t\nb\n", ""},
		{"lines: the first differing line is named", Compare{Mode: ModeLines}, "3\n12\n", "3\n13\n", `line 2: expected "12", got "13"`},
		{"lines: leading whitespace counts", Compare{Mode: ModeLines}, "x\n", " x\n", `line 1: expected "x", got " x"`},
		{"lines: a blank line inside counts", Compare{Mode: ModeLines}, "a\nb\n", "a\n\nb\n", `line 2: expected "b", got ""`},
		{"lines: missing output", Compare{Mode: ModeLines}, "1\n2\n", "1\n", `line 2: expected "2", got end of output`},
		{"lines: extra output", Compare{Mode: ModeLines}, "1\n", "1\n2\n", `line 2: expected end of output, got "2"`},
		{"lines: case-insensitive", Compare{CaseInsensitive: true}, "Yes\n", "YES\n", ""},
		{"lines: case matters by default", Compare{}, "Yes\n", "YES\n", `expected "Yes", got "YES"`},
		{"tokens: any whitespace separates", Compare{Mode: ModeTokens}, "1 2\n3\n", "1\n2 3", ""},
		{"tokens: a different token is named with its line", Compare{Mode: ModeTokens}, "1 2 3", "1\n2\n4", `token 3 (line 3): expected "3", got "4"`},
		{"tokens: no output", Compare{Mode: ModeTokens}, "1", "  \n", `token 1: expected "1" (line 1), got end of output`},
		{"tokens: numbers compare as text", Compare{Mode: ModeTokens}, "1.0", "1", `expected "1.0", got "1"`},
		{"float: within the default tolerance", Compare{Mode: ModeFloat}, "0.333333", "0.3333334", ""},
		{"float: relative tolerance for large numbers", Compare{Mode: ModeFloat}, "1000000000", "1000000500", ""},
		{"float: outside the tolerance", Compare{Mode: ModeFloat}, "0.5", "0.51", `expected "0.5", got "0.51"`},
		{"float: a given absolute tolerance", Compare{Mode: ModeFloat, AbsTol: 0.1, RelTol: 1e-12}, "0.5", "0.59", ""},
		{"float: words still match as text", Compare{Mode: ModeFloat}, "YES 1.5", "YES 1.5000001", ""},
		{"float: a word against a number", Compare{Mode: ModeFloat}, "1.5", "nan", `expected "1.5", got "nan"`},
		{"float: case-insensitive words", Compare{Mode: ModeFloat, CaseInsensitive: true}, "Yes 2", "yes 2.0", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.c.Diff(tc.want, tc.got)
			if tc.msg == "" && got != "" {
				t.Fatalf("Diff(%q, %q) = %q, want equal", tc.want, tc.got, got)
			}
			if tc.msg != "" && !strings.Contains(got, tc.msg) {
				t.Fatalf("Diff(%q, %q) = %q, want a message with %q", tc.want, tc.got, got, tc.msg)
			}
		})
	}
}

func TestCompareMessagesAreCut(t *testing.T) {
	long := strings.Repeat("é", 500)
	msg := Compare{}.Diff(long, "x")
	if len(msg) > 250 || !strings.Contains(msg, "(1000 bytes)") {
		t.Fatalf("message of %d bytes: %s", len(msg), msg)
	}
}

func TestCompareValidate(t *testing.T) {
	for _, tc := range []struct {
		c  Compare
		ok bool
	}{
		{Compare{}, true},
		{Compare{Mode: ModeFloat, AbsTol: 1e-3}, true},
		{Compare{Mode: "fuzzy"}, false},
		{Compare{Mode: ModeFloat, RelTol: -1}, false},
		{Compare{Mode: ModeLines, AbsTol: 1}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.c, err, tc.ok)
		}
	}
}
