package bench

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/codeexec/codeexec/internal/bench/report"
)

// ProblemResult is report.ProblemResult.
type ProblemResult = report.ProblemResult

// The programs of the problem measurement: a C++ a+b, its validator (it
// reads the answer and the output as numbers and compares them), and the
// two sides of an interactive round trip: the validator sends a line and
// times, on CLOCK_MONOTONIC, how long the echo takes to come back, and
// writes the median and the 90th percentile to judgemessage.txt.
const (
	problemValidator = `#include <bits/stdc++.h>
int main(int argc, char **argv) {
	std::ifstream ans(argv[2]);
	long long want, got;
	ans >> want;
	if (!(std::cin >> got) || got != want) {
		std::ofstream(std::string(argv[3]) + "judgemessage.txt") << "wrong sum";
		return 43;
	}
	std::string extra;
	return std::cin >> extra ? 43 : 42;
}
`
	echoSubmission = `#include <bits/stdc++.h>
int main() {
	char line[64];
	while (fgets(line, sizeof line, stdin)) { fputs(line, stdout); fflush(stdout); }
}
`
	roundTripValidator = `#include <bits/stdc++.h>
#include <time.h>
static long long now() { timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(int argc, char **argv) {
	int n = 0;
	std::ifstream(argv[1]) >> n;
	std::vector<long long> rt;
	char line[64];
	for (int i = 0; i < n; i++) {
		long long t0 = now();
		printf("%d\n", i);
		fflush(stdout);
		if (!fgets(line, sizeof line, stdin) || atoi(line) != i) return 43;
		rt.push_back(now() - t0);
	}
	std::sort(rt.begin(), rt.end());
	std::ofstream(std::string(argv[3]) + "judgemessage.txt") << "p50_ns=" << rt[rt.size() / 2] << " p90_ns=" << rt[rt.size() * 9 / 10];
	return 42;
}
`
)

// zipFiles zips files by path.
func zipFiles(files map[string]string) ([]byte, error) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for path, body := range files {
		f, err := w.Create(path)
		if err == nil {
			_, err = io.WriteString(f, body)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// problemPackage zips a Kattis package of tests a+b tests, with the
// validator when given.
func problemPackage(name string, tests int, validator string) ([]byte, error) {
	files := map[string]string{"problem.yaml": "name: " + name + "\nlimits:\n  time_limit: 2\n"}
	if validator != "" {
		files["problem.yaml"] += "validation: custom\n"
		files["output_validators/v/validate.cc"] = validator
	}
	for i := range tests {
		a, c := i*7919%100003, i*104729%99991
		files[fmt.Sprintf("data/secret/%03d.in", i)] = fmt.Sprintf("%d %d\n", a, c)
		files[fmt.Sprintf("data/secret/%03d.ans", i)] = fmt.Sprintf("%d\n", a+c)
	}
	return zipFiles(files)
}

// interactivePackage is one test of n round trips.
func interactivePackage(n int) ([]byte, error) {
	return zipFiles(map[string]string{
		"problem.yaml":                    "name: Round trips\nvalidation: custom interactive\nlimits:\n  time_limit: 5\n",
		"data/secret/1.in":                fmt.Sprintf("%d\n", n),
		"data/secret/1.ans":               "\n",
		"output_validators/v/validate.cc": roundTripValidator,
	})
}

// storeProblem posts a package and returns its id.
func storeProblem(ctx context.Context, s *service, archive []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/problems", bytes.NewReader(archive))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/zip")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var v struct{ ID string }
	if (resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK) || json.Unmarshal(raw, &v) != nil {
		return "", fmt.Errorf("POST /problems: %d %.200s", resp.StatusCode, raw)
	}
	return v.ID, nil
}

type problemAnswer struct {
	Verdict string `json:"verdict"`
	Passed  int    `json:"passed"`
	Tests   []struct {
		CPUTimeMS      float64 `json:"cpu_time_ms"`
		ValidatorCPUMS float64 `json:"validator_cpu_ms"`
		Message        string  `json:"message"`
	} `json:"tests"`
}

var roundTripMessage = regexp.MustCompile(`p50_ns=(\d+) p90_ns=(\d+)`)

// measureProblems measures, on the warm instance s, packages of a+b
// tests judged by the default validator (in the service) and by a C++
// output validator (a sandbox of its own per lane, a process per test),
// each at two sizes, tests and a fifth of it, alternating round by round:
// the machine's CPU per test of the large one, and the marginal CPU of a
// test (the difference of the two sizes over the difference of their
// tests), which leaves out what a judgement costs once (the builds, the
// lanes' sandboxes); and the submission's own CPU per test. And an
// interactive test of roundTrips round trips, timed by its validator.
func measureProblems(ctx context.Context, s *service, tests, rounds, roundTrips int, log *slog.Logger) (*ProblemResult, error) {
	small := max(tests/5, 1)
	if small == tests {
		return nil, fmt.Errorf("problem measurement: %d tests are too few to tell a test's cost from a judgement's", tests)
	}
	res := &ProblemResult{Method: s.name, Tests: tests, SmallTests: small, RoundTrips: roundTrips}
	type pkgKey struct {
		validator bool
		tests     int
	}
	ids := map[pkgKey]string{}
	for _, k := range []pkgKey{{false, tests}, {false, small}, {true, tests}, {true, small}} {
		name, validator := "default", ""
		if k.validator {
			name, validator = "validator", problemValidator
		}
		pkg, err := problemPackage(fmt.Sprintf("Sum %s %d", name, k.tests), k.tests, validator)
		if err != nil {
			return nil, err
		}
		if ids[k], err = storeProblem(ctx, s, pkg); err != nil {
			return nil, err
		}
	}
	pkg, err := interactivePackage(roundTrips)
	if err != nil {
		return nil, err
	}
	interactive, err := storeProblem(ctx, s, pkg)
	if err != nil {
		return nil, err
	}
	judgeOne := func(id, code string) (problemAnswer, time.Duration, float64, error) {
		settle(ctx)
		busy := machineBusy()
		start := time.Now()
		var a problemAnswer
		err := postJSON(ctx, s.client, s.url+"/judge", map[string]any{"problem": id, "language": "cpp", "code": code}, &a)
		return a, time.Since(start), millis(machineBusy() - busy), err
	}
	cpu := map[pkgKey][]float64{}
	var ownCPU, valOwnCPU, p50, p90 []float64
	for round := range rounds {
		log.Info("problem measurement", "round", round+1)
		for _, k := range []pkgKey{{false, tests}, {true, tests}, {false, small}, {true, small}} {
			a, took, used, err := judgeOne(ids[k], judgePrograms["cpp"])
			if err != nil {
				return nil, fmt.Errorf("judge the package %+v: %w", k, err)
			}
			if a.Verdict != "accepted" || a.Passed != k.tests {
				return nil, fmt.Errorf("judge the package %+v: %s with %d of %d passed", k, a.Verdict, a.Passed, k.tests)
			}
			cpu[k] = append(cpu[k], used)
			if k.tests != tests {
				continue
			}
			if !k.validator {
				res.DefaultMS = append(res.DefaultMS, millis(took))
				continue
			}
			res.ValidatorMS = append(res.ValidatorMS, millis(took))
			own, val := 0.0, 0.0
			for _, t := range a.Tests {
				own, val = own+t.CPUTimeMS, val+t.ValidatorCPUMS
			}
			ownCPU, valOwnCPU = append(ownCPU, own/float64(tests)), append(valOwnCPU, val/float64(tests))
		}
		a, _, _, err := judgeOne(interactive, echoSubmission)
		if err != nil {
			return nil, fmt.Errorf("judge the interactive package: %w", err)
		}
		m := []string(nil)
		if len(a.Tests) == 1 {
			m = roundTripMessage.FindStringSubmatch(a.Tests[0].Message)
		}
		if a.Verdict != "accepted" || m == nil {
			return nil, fmt.Errorf("judge the interactive package: %s, %+v", a.Verdict, a.Tests)
		}
		ns50, _ := strconv.ParseFloat(m[1], 64)
		ns90, _ := strconv.ParseFloat(m[2], 64)
		p50, p90 = append(p50, ns50/1e3), append(p90, ns90/1e3)
	}
	med := func(k pkgKey) float64 { return report.Median(cpu[k]) }
	res.DefaultCPUMSPerTest = med(pkgKey{false, tests}) / float64(tests)
	res.ValidatorCPUMSPerTest = med(pkgKey{true, tests}) / float64(tests)
	res.DefaultMarginalCPUMS = (med(pkgKey{false, tests}) - med(pkgKey{false, small})) / float64(tests-small)
	res.ValidatorMarginalCPUMS = (med(pkgKey{true, tests}) - med(pkgKey{true, small})) / float64(tests-small)
	res.SubmissionCPUMSPerTest, res.ValidatorOwnCPUMSPerTest = report.Median(ownCPU), report.Median(valOwnCPU)
	res.RoundTripP50US, res.RoundTripP90US = report.Median(p50), report.Median(p90)
	return res, nil
}
