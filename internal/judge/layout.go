package judge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// NamedTest is a test case read from a folder, with the name of its input
// file relative to the folder.
type NamedTest struct {
	Name string
	Test
}

// LoadTests reads the test cases of a folder in the layouts people have:
//
//   - pairs in the folder itself: NAME.in with NAME.out or NAME.ans;
//   - Kattis problem packages: data/sample and data/secret (or sample and
//     secret in the folder given), each holding NAME.in and NAME.ans, in
//     subfolders too (test groups); samples come first.
//
// Tests are ordered by name, numbers in names compared as numbers (2.in
// before 10.in). An input without an answer is an error.
func LoadTests(dir string) ([]NamedTest, error) {
	for _, data := range []string{filepath.Join(dir, "data"), dir} {
		var found []NamedTest
		kattis := false
		for _, group := range []string{"sample", "secret"} {
			sub := filepath.Join(data, group)
			if st, err := os.Stat(sub); err != nil || !st.IsDir() {
				continue
			}
			kattis = true
			tests, err := loadPairs(dir, sub, true)
			if err != nil {
				return nil, err
			}
			found = append(found, tests...)
		}
		if kattis {
			if len(found) == 0 {
				return nil, fmt.Errorf("no *.in files under %s/sample or %s/secret", data, data)
			}
			return found, nil
		}
	}
	tests, err := loadPairs(dir, dir, false)
	if err != nil {
		return nil, err
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("no tests in %s: expected NAME.in with NAME.out or NAME.ans, or a Kattis data/sample and data/secret", dir)
	}
	return tests, nil
}

// loadPairs reads the NAME.in files of dir (and of its subfolders when
// deep) with their answers, named relative to root.
func loadPairs(root, dir string, deep bool) ([]NamedTest, error) {
	var inputs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && !deep {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".in") && d.Type().IsRegular() {
			inputs = append(inputs, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(inputs, naturalCompare)
	var out []NamedTest
	for _, in := range inputs {
		base := strings.TrimSuffix(in, ".in")
		input, err := os.ReadFile(in)
		if err != nil {
			return nil, err
		}
		var answer []byte
		for _, ext := range []string{".ans", ".out"} {
			answer, err = os.ReadFile(base + ext)
			if err == nil || !errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("test %s: no %s.ans or %s.out: %w", in, filepath.Base(base), filepath.Base(base), err)
		}
		name, _ := filepath.Rel(root, in)
		out = append(out, NamedTest{Name: name, Test: Test{Input: string(input), ExpectedOutput: string(answer)}})
	}
	return out, nil
}

// naturalCompare orders strings with runs of digits compared by value.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
