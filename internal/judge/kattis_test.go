package judge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKattisDefaultPassesProblemtoolsCases runs problemtools' own test
// cases of its default validator (testdata/kattis_default_validator, MIT
// licence): the same verdict, and the same message, byte for byte.
func TestKattisDefaultPassesProblemtoolsCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/kattis_default_validator/test_*")
	if err != nil || len(dirs) < 20 {
		t.Fatalf("found %d cases (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				return string(b)
			}
			k, err := ParseKattisFlags(strings.Fields(read("args.txt")))
			if err != nil {
				t.Fatal(err)
			}
			got := k.Diff(read("judge.ans"), read("user.out"))
			wantAC := strings.TrimSpace(read("expected_exit_code.txt")) == "42"
			if (got == "") != wantAC {
				t.Fatalf("accepted = %v, want %v; message %q", got == "", wantAC, got)
			}
			if want := read("expected_message.txt"); !wantAC && want != "" && strings.TrimRight(got, "\n") != strings.TrimRight(want, "\n") {
				t.Errorf("message\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestKattisDefaultRules(t *testing.T) {
	tests := []struct {
		name      string
		flags     string
		want, got string
		accept    bool
	}{
		{"tokens ignore the amount of whitespace", "", "1 2\n3\n", "1\n\n2   3", true},
		{"letters ignore case by default", "", "Yes\n", "yES\n", true},
		{"case_sensitive compares case", "case_sensitive", "Yes\n", "yes\n", false},
		{"space_change_sensitive wants the same whitespace", "space_change_sensitive", "1 2\n", "1  2\n", false},
		{"space_change_sensitive accepts the same bytes", "space_change_sensitive", "1 2\n", "1 2\n", true},
		{"without a tolerance floats compare as text", "", "0.5\n", "0.50\n", false},
		{"float_tolerance accepts either error", "float_tolerance 1e-6", "1000000\n", "1000000.5\n", true},
		{"float_absolute_tolerance alone", "float_absolute_tolerance 0.1", "1.0\n", "1.2\n", false},
		{"float_relative_tolerance alone", "float_relative_tolerance 0.1", "10\n", "10.9\n", true},
		{"any float formatting with a tolerance", "float_tolerance 1e-9", "0.0314\n", "3.14000000e-2\n", true},
		{"a word where a float is due", "float_tolerance 1e-6", "1.5\n", "abc\n", false},
		{"non-float tokens still compare as text with a tolerance", "float_tolerance 1e-6", "IMPOSSIBLE\n", "impossible\n", true},
		{"missing output", "", "1 2\n", "1\n", false},
		{"trailing output", "", "1\n", "1 2\n", false},
		{"inf is not a float", "float_tolerance 1", "inf\n", "inf\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKattisFlags(strings.Fields(tt.flags))
			if err != nil {
				t.Fatal(err)
			}
			if msg := k.Diff(tt.want, tt.got); (msg == "") != tt.accept {
				t.Errorf("accepted = %v, want %v (%q)", msg == "", tt.accept, msg)
			}
		})
	}
}

func TestParseKattisFlagsRefusesUnknownFlags(t *testing.T) {
	for _, flags := range []string{"case_insensitive", "float_tolerance", "float_tolerance x", "ignore_case"} {
		if _, err := ParseKattisFlags(strings.Fields(flags)); err == nil {
			t.Errorf("%q: no error", flags)
		}
	}
}
