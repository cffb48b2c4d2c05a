package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testReport is a finished report of two methods, or three with docker.
func testReport(t *testing.T, withDocker bool) *Report {
	t.Helper()
	methods := []string{MethodBare, MethodWarm}
	if withDocker {
		methods = append(methods, MethodDocker)
	}
	r := &Report{
		Date:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine:  Machine{CPU: "Test CPU", Cores: 2, MemoryBytes: 4 << 30, Kernel: "6.1.0", Containerd: "1.6.20", Runc: "1.1.5"},
		Settings: Settings{Runs: 3, Warmup: 1, Concurrency: 4, ThroughputDuration: "10s", Namespace: "codeexec"},
		Programs: []Program{{Name: "python-hello"}, {Name: "cpp-hello"}},
		Methods:  methods,
		Skipped:  map[string]string{},
	}
	samples := func(ms ...float64) []Sample {
		var s []Sample
		for _, v := range ms {
			s = append(s, Sample{MS: v})
		}
		return s
	}
	r.Results = []*Result{
		{Program: "python-hello", Method: MethodBare, Samples: samples(10, 12, 20),
			Throughput: []Throughput{{Concurrency: 1, Runs: 80, Seconds: 1, PerSecond: 80}, {Concurrency: 4, Runs: 150, Seconds: 1, PerSecond: 150}}},
		{Program: "python-hello", Method: MethodWarm, Samples: samples(20, 24, 40), Errors: 1,
			Throughput: []Throughput{{Concurrency: 1, Runs: 40, Seconds: 1, PerSecond: 40}, {Concurrency: 4, Runs: 60, Errors: 2, Seconds: 1, PerSecond: 60}}},
		{Program: "cpp-hello", Method: MethodBare, Samples: samples(300)},
		{Program: "cpp-hello", Method: MethodWarm, Errors: 3},
	}
	if withDocker {
		r.Results = append(r.Results,
			&Result{Program: "python-hello", Method: MethodDocker, Samples: samples(400, 480, 500)},
			&Result{Program: "cpp-hello", Method: MethodDocker, Samples: samples(900)})
	}
	r.Finish()
	return r
}

func TestTable(t *testing.T) {
	t.Run("a report without docker renders every figure, with - for what was not measured", func(t *testing.T) {
		want := `| program | method | runs | p50 ms | p95 ms | p99 ms | runs/s c=1 | runs/s c=4 | errors | p50 ÷ warm |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| python-hello | bare | 3 | 12.0 | 19.2 | 19.8 | 80.0 | 150.0 | 0 | 0.50× |
| python-hello | warm | 3 | 24.0 | 38.4 | 39.7 | 40.0 | 60.0 | 3 | 1.00× |
| cpp-hello | bare | 1 | 300.0 | 300.0 | 300.0 | - | - | 0 | - |
| cpp-hello | warm | 0 | - | - | - | - | - | 3 | - |
`
		if got := testReport(t, false).Table(); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("with docker measured, a column gives each p50 over docker's", func(t *testing.T) {
		got := testReport(t, true).Table()
		if !strings.HasPrefix(got, "| program | method | runs | p50 ms | p95 ms | p99 ms | runs/s c=1 | runs/s c=4 | errors | p50 ÷ warm | p50 ÷ docker |\n") {
			t.Fatalf("header: %s", got)
		}
		for _, row := range []string{
			"| python-hello | warm | 3 | 24.0 | 38.4 | 39.7 | 40.0 | 60.0 | 3 | 1.00× | 0.05× |",
			"| python-hello | docker | 3 | 480.0 | 498.0 | 499.6 | - | - | 0 | 20.00× | 1.00× |",
			"| cpp-hello | bare | 1 | 300.0 | 300.0 | 300.0 | - | - | 0 | - | 0.33× |",
		} {
			if !strings.Contains(got, row+"\n") {
				t.Errorf("missing row %s in\n%s", row, got)
			}
		}
	})
	t.Run("at concurrency 1 there is one throughput column", func(t *testing.T) {
		r := testReport(t, false)
		r.Settings.Concurrency = 1
		if got := r.Table(); strings.Contains(got, "c=4") || !strings.Contains(got, "runs/s c=1") {
			t.Errorf("got\n%s", got)
		}
	})
}

func TestSummaryAndMarkdown(t *testing.T) {
	r := testReport(t, false)
	r.Skipped[MethodDocker] = "no engine reachable"
	r.Notes = []string{"a note"}
	t.Run("the summary says docker was skipped and why", func(t *testing.T) {
		got := r.Summary()
		if !strings.HasPrefix(got, r.Table()) || !strings.Contains(got, "docker: skipped, no engine reachable") || !strings.Contains(got, "Note: a note") {
			t.Errorf("got\n%s", got)
		}
	})
	t.Run("results.md describes the machine and links the chart", func(t *testing.T) {
		got := r.Markdown()
		for _, want := range []string{r.Table(), "| CPU | Test CPU |", "| cores | 2 |", "| memory | 4.0 GiB |", "| kernel | 6.1.0 |",
			"| containerd | 1.6.20 |", "| runc | 1.1.5 |", "| date | 2026-01-02T03:04:05Z |", "- docker: skipped, no engine reachable", "(latency.png)"} {
			if !strings.Contains(got, want) {
				t.Errorf("results.md lacks %q:\n%s", want, got)
			}
		}
	})
}

func TestReportJSONKeepsEverySample(t *testing.T) {
	r := testReport(t, false)
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := len(back.Result("python-hello", MethodWarm).Samples); got != 3 {
		t.Errorf("warm samples after a round trip: %d, want 3", got)
	}
	if back.Result("cpp-hello", MethodWarm).RatioToWarm != nil {
		t.Error("a result without samples has a ratio")
	}
}

func TestWriteChart(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Report
	}{
		{"a report with samples", testReport(t, true)},
		{"a report without any sample", &Report{Programs: []Program{{Name: "p"}}, Methods: []string{MethodBare}, Results: []*Result{{Program: "p", Method: MethodBare}}}},
	} {
		t.Run(tc.name+" gives a PNG", func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.r.WriteChart(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(buf.Bytes(), []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("not a PNG: %q", buf.Bytes()[:min(8, buf.Len())])
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir() + "/out"
	if err := testReport(t, false).WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{MarkdownFile, JSONFile, ChartFile} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || len(b) == 0 {
			t.Errorf("%s: %v, %d bytes", name, err, len(b))
		}
	}
}
