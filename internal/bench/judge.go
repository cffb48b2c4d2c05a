package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/codeexec/codeexec/internal/bench/report"
)

// judgePrograms are the a+b programs the judge measurement uses.
var judgePrograms = map[string]string{
	"python":     "a, b = map(int, input().split())\nprint(a + b)\n",
	"ruby":       "a, b = gets.split.map(&:to_i)\nputs a + b\n",
	"cpp":        "#include <bits/stdc++.h>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << \"\\n\"; }\n",
	"javascript": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n",
	"java":       "import java.util.Scanner;\npublic class Main {\n  public static void main(String[] args) {\n    Scanner in = new Scanner(System.in);\n    long a = in.nextLong(), b = in.nextLong();\n    System.out.println(a + b);\n  }\n}\n",
	"php":        "<?php\n[$a, $b] = array_map('intval', preg_split('/\\s+/', trim(fgets(STDIN))));\necho $a + $b, \"\\n\";\n",
	"bash":       "read -r a b\necho $((a + b))\n",
}

// measureJudge measures JudgeResults for each of langs against the service
// s: its /run requests are the warm method's own (service.Run).
func measureJudge(ctx context.Context, s *service, langs []string, tests, rounds int, log *slog.Logger) ([]JudgeResult, error) {
	type tc struct {
		Input          string `json:"input"`
		ExpectedOutput string `json:"expected_output"`
	}
	var cases []tc
	for i := range tests {
		a, b := i*7919%100003, i*104729%99991
		cases = append(cases, tc{fmt.Sprintf("%d %d\n", a, b), fmt.Sprintf("%d\n", a+b)})
	}
	var out []JudgeResult
	for _, lang := range langs {
		res := JudgeResult{Method: s.name, Language: lang, Tests: tests}
		var judgeCPU, runCPU, compile []float64
		for round := range rounds {
			log.Info("judge measurement", "language", lang, "round", round+1)
			// Each timed phase starts on a quiet machine: the warm pools
			// refill after the phase before (the latency runs, the /run
			// requests), and that CPU belongs to neither.
			settle(ctx)
			busy := machineBusy()
			start := time.Now()
			var jr struct {
				Verdict   string  `json:"verdict"`
				Passed    int     `json:"passed"`
				CompileMS float64 `json:"compile_ms"`
			}
			if err := postJSON(ctx, s.client, s.url+"/judge", map[string]any{"language": lang, "code": judgePrograms[lang], "tests": cases}, &jr); err != nil {
				return nil, fmt.Errorf("judge %s: %w", lang, err)
			}
			if jr.Verdict != "accepted" || jr.Passed != tests {
				return nil, fmt.Errorf("judge %s: verdict %s with %d of %d passed", lang, jr.Verdict, jr.Passed, tests)
			}
			res.JudgeMS = append(res.JudgeMS, millis(time.Since(start)))
			judgeCPU = append(judgeCPU, millis(machineBusy()-busy)/float64(tests))
			compile = append(compile, jr.CompileMS)

			settle(ctx)
			busy = machineBusy()
			start = time.Now()
			for _, c := range cases {
				out := s.Run(ctx, Program{Language: lang, Code: judgePrograms[lang], Input: c.Input})
				if out.Err != nil {
					return nil, fmt.Errorf("run %s: %w", lang, out.Err)
				}
				if out.Stdout != c.ExpectedOutput {
					return nil, fmt.Errorf("run %s: stdout %q, want %q", lang, out.Stdout, c.ExpectedOutput)
				}
			}
			res.RunsMS = append(res.RunsMS, millis(time.Since(start)))
			runCPU = append(runCPU, millis(machineBusy()-busy)/float64(tests))
		}
		res.JudgeCPUMSPerTest, res.RunCPUMSPerTest, res.CompileMS = report.Median(judgeCPU), report.Median(runCPU), report.Median(compile)
		if j := report.Median(res.JudgeMS); j > 0 {
			res.Speedup = report.Median(res.RunsMS) / j
		}
		out = append(out, res)
	}
	return out, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// postJSON posts body as JSON and decodes a 200 answer into out.
func postJSON(ctx context.Context, client *http.Client, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}
