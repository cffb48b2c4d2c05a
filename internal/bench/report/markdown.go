package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Table renders the results as one Markdown table: latency percentiles,
// throughput at concurrency 1 and N, errors, and each p50 over the warm (and,
// when measured, docker) p50 of the same program. A figure that was not
// measured is "-".
func (r *Report) Table() string {
	c := r.Settings.Concurrency
	withDocker := slices.Contains(r.Methods, MethodDocker)
	head := []string{"program", "method", "runs", "p50 ms", "p95 ms", "p99 ms", "runs/s c=1"}
	if c > 1 {
		head = append(head, fmt.Sprintf("runs/s c=%d", c))
	}
	head = append(head, "errors", "p50 ÷ warm")
	if withDocker {
		head = append(head, "p50 ÷ docker")
	}
	var b strings.Builder
	row := func(cells []string) { fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | ")) }
	row(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
		if i >= 2 {
			sep[i] = "---:"
		}
	}
	row(sep)
	for _, p := range r.Programs {
		for _, m := range r.Methods {
			res := r.Result(p.Name, m)
			if res == nil {
				continue
			}
			l := res.Latency
			cells := []string{p.Name, m, fmt.Sprint(l.N), ms(l.N, l.P50), ms(l.N, l.P95), ms(l.N, l.P99), perSecond(res.throughputAt(1))}
			if c > 1 {
				cells = append(cells, perSecond(res.throughputAt(c)))
			}
			cells = append(cells, fmt.Sprint(res.totalErrors()), times(res.RatioToWarm))
			if withDocker {
				cells = append(cells, times(res.RatioToDocker))
			}
			row(cells)
		}
	}
	return b.String()
}

// CPUTable renders, for every throughput measurement, where the machine's
// CPU time went per correct run, and the throughput the machine could reach
// if the CPU were the only limit (cores × 1000 ÷ CPU ms per run). Empty
// when no measurement has a profile.
func (r *Report) CPUTable() string {
	var b strings.Builder
	row := func(cells ...string) { fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | ")) }
	for res, t := range r.throughputs() {
		c := t.CPU
		if c == nil {
			continue
		}
		if b.Len() == 0 {
			row("program", "method", "c", "runs/s", "busy cores", "CPU ms/run", "sandboxes", "service", "containerd", "benchmark", "other: shims, runc, kernel", "CPU-bound ceiling runs/s")
			row("---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:")
		}
		ceiling := "-"
		if c.TotalMS > 0 && r.Machine.Cores > 0 {
			ceiling = fmt.Sprintf("%.1f", float64(r.Machine.Cores)*1000/c.TotalMS)
		}
		f := func(v float64) string { return fmt.Sprintf("%.1f", v) }
		row(res.Program, res.Method, fmt.Sprint(t.Concurrency), perSecond(t), fmt.Sprintf("%.2f", c.BusyCores), f(c.TotalMS),
			f(c.SandboxesMS), f(c.ServiceMS), f(c.ContainerdMS), f(c.ClientMS), f(c.OtherMS), ceiling)
	}
	return b.String()
}

// ProcessTable renders, for every throughput measurement made with process
// accounting, the commands whose exited processes cost the most CPU per
// correct run. Empty when there is none.
func (r *Report) ProcessTable() string {
	const top = 6
	var b strings.Builder
	for res, t := range r.throughputs() {
		if len(t.Processes) == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("| program | method | c | CPU ms per run of exited processes, by command (processes per run) |\n| --- | --- | ---: | --- |\n")
		}
		var cells []string
		for _, c := range t.Processes[:min(top, len(t.Processes))] {
			cells = append(cells, fmt.Sprintf("%s %.1f (%.1f)", c.Command, c.CPUMS, c.Processes))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", res.Program, res.Method, t.Concurrency, strings.Join(cells, ", "))
	}
	return b.String()
}

// Summary is the table followed by the notes, as the command prints it.
func (r *Report) Summary() string {
	var b strings.Builder
	b.WriteString(r.Table())
	for _, m := range AllMethods() {
		if why, ok := r.Skipped[m]; ok {
			fmt.Fprintf(&b, "\n%s: skipped, %s", m, why)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nNote: %s", n)
	}
	if len(r.Skipped)+len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// Markdown renders the whole results.md: the table, notes, what the errors
// column counts, the machine and the settings.
func (r *Report) Markdown() string {
	var b strings.Builder
	s := r.Settings
	fmt.Fprintf(&b, "# codeexec start-up latency benchmark\n\n")
	fmt.Fprintf(&b, "Run on %s, %s. %d measured runs per program and method after %d warm-up runs, interleaved round-robin; throughput at concurrency 1 and %d %s. Latency is the client's wall time of one run, compile included for C++. Every answer is checked: a wrong stdout counts as an error, not a sample.\n\n",
		r.Date.UTC().Format(time.RFC3339), r.Machine.short(), s.Runs, s.Warmup, s.Concurrency, throughputSpan(s))
	b.WriteString(r.Table())
	b.WriteString("\n`errors` counts failed or wrong runs among the measured and throughput runs (warm-up runs excluded; `results.json` has them).\n")
	if len(r.Skipped)+len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, m := range AllMethods() {
		if why, ok := r.Skipped[m]; ok {
			fmt.Fprintf(&b, "- %s: skipped, %s\n", m, why)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n![latency per method: p50, p95, p99](latency.png)\n")
	if cpu := r.CPUTable(); cpu != "" {
		b.WriteString("\n## Where the CPU goes during the throughput runs\n\n")
		b.WriteString("CPU time of the whole machine per correct run, split by who spent it: the sandboxes' cgroups (the programs, their interpreters, tini), the service instance, the containerd daemon, the benchmark itself (with `bare` programs and the `ctr`/`docker` clients it runs), and the rest (containerd shims, runc, the kernel's own threads, anything else running). When the busy cores reach the machine's cores, throughput is CPU-bound and cannot pass the ceiling.\n\n")
		b.WriteString(cpu)
	}
	if procs := r.ProcessTable(); procs != "" {
		b.WriteString("\nThe processes that exited during those runs, from the kernel's process accounting (`--process-accounting`): the short-lived ones (runc, shim start-ups, the programs) that no other counter sees. A process is named by its last command: `tini` includes the `runc init` that became it (runc's copy of itself, the namespace set-up), and `containerd-shim` covers both the shim start-up commands and the shims that served a sandbox to its end.\n\n")
		b.WriteString(procs)
	}
	if len(r.Judge) > 0 {
		b.WriteString("\n## Judging: one POST /judge against one POST /run per test\n\n")
		b.WriteString("On the warm instance (and base-warm when it is another build), per language: one `/judge` request of a+b tests, then as many `/run` requests of the same program and inputs sent one after the other by one client, alternating round by round. Wall times are medians of the rounds; machine CPU is every process's, per test.\n\n")
		b.WriteString("| instance | language | tests | /judge wall ms | of it compile ms | /run × tests wall ms | speed-up | machine CPU ms per test, /judge | per /run |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, j := range r.Judge {
			fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %.0f | %.1f× | %.1f | %.1f |\n", orDash(j.Method), j.Language, j.Tests, Median(j.JudgeMS), j.CompileMS, Median(j.RunsMS), j.Speedup, j.JudgeCPUMSPerTest, j.RunCPUMSPerTest)
		}
	}
	if p := r.Problems; p != nil {
		b.WriteString("\n## Problem packages\n\n")
		fmt.Fprintf(&b, "A package of %d a+b tests judged by a C++ submission ([problems](../../problems.md)), medians of the rounds. A test's marginal CPU is the difference between this package and one of %d tests, over the %d tests between them: what one more test costs, without what a judgement costs once (the builds, the lanes' sandboxes).\n\n", p.Tests, p.SmallTests, p.Tests-p.SmallTests)
		b.WriteString("| validation | judgement ms | machine CPU ms per test | marginal machine CPU ms per test | submission's own CPU ms per test | validator's own | marginal beyond the programs |\n|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| default (in the service) | %.0f | %.1f | %.1f | | | |\n", Median(p.DefaultMS), p.DefaultCPUMSPerTest, p.DefaultMarginalCPUMS)
		fmt.Fprintf(&b, "| C++ output validator | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", Median(p.ValidatorMS), p.ValidatorCPUMSPerTest, p.ValidatorMarginalCPUMS,
			p.SubmissionCPUMSPerTest, p.ValidatorOwnCPUMSPerTest, p.BeyondPrograms())
		fmt.Fprintf(&b, "\nInteractive: %d round trips of one line each way between a C++ validator and a C++ echo, timed by the validator: p50 %.0f µs, p90 %.0f µs.\n",
			p.RoundTrips, p.RoundTripP50US, p.RoundTripP90US)
	}

	b.WriteString("\n## Machine\n\n| | |\n|---|---|\n")
	m := r.Machine
	for _, kv := range [][2]string{
		{"CPU", m.CPU}, {"cores", fmt.Sprint(m.Cores)}, {"memory", fmt.Sprintf("%.1f GiB", float64(m.MemoryBytes)/(1<<30))},
		{"OS", m.OS}, {"kernel", m.Kernel}, {"containerd", m.Containerd}, {"baseline containerd", m.BaselineContainerd}, {"runc", m.Runc}, {"crun", m.Crun}, {"docker", m.Docker}, {"Go", m.Go},
		{"date", r.Date.UTC().Format(time.RFC3339)},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], orDash(kv[1]))
	}
	fmt.Fprintf(&b, "\n## Settings\n\n| | |\n|---|---|\n")
	for _, kv := range [][2]string{
		{"runs", fmt.Sprint(s.Runs)}, {"warm-up runs", fmt.Sprint(s.Warmup)}, {"concurrency", fmt.Sprint(s.Concurrency)},
		{"throughput", throughputSpan(s)}, {"namespace", s.Namespace},
		{"cold instance flags", code(s.ColdArgs)}, {"warm instance flags", code(s.WarmArgs)},
		{"flags of both", code(s.ServeArgs)}, {"bare C++ uses a precompiled bits/stdc++.h", fmt.Sprint(s.BarePCH)},
		{"process accounting", fmt.Sprint(s.ProcessAccounting)},
		{"pause before each latency run", orDash(s.Gap)},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	return b.String()
}

// totalErrors counts the errors of the measured and the throughput runs.
func (res *Result) totalErrors() int {
	n := res.Errors
	for _, t := range res.Throughput {
		n += t.Errors
	}
	return n
}

func throughputSpan(s Settings) string {
	if s.ThroughputRuns > 0 {
		return fmt.Sprintf("over %d runs each", s.ThroughputRuns)
	}
	return "for " + s.ThroughputDuration + " each"
}

func ms(n int, v float64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func perSecond(t *Throughput) string {
	if t == nil || t.Seconds <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", t.PerSecond)
}

func times(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f×", *v)
}

// code renders command-line arguments as inline code, or "-" for none.
func code(args []string) string {
	if len(args) == 0 {
		return "-"
	}
	return "`" + strings.Join(args, " ") + "`"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
