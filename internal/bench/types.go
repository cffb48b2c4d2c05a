package bench

import (
	"github.com/codeexec/codeexec/internal/bench/method"
	"github.com/codeexec/codeexec/internal/bench/report"
)

// What a run measures, as package report keeps and renders it.
type (
	Report      = report.Report
	Settings    = report.Settings
	Result      = report.Result
	Sample      = report.Sample
	Throughput  = report.Throughput
	Latency     = report.Latency
	Program     = report.Program
	Machine     = report.Machine
	CPUPerRun   = report.CPUPerRun
	CommandCPU  = report.CommandCPU
	JudgeResult = report.JudgeResult
)

// Names of the methods, in the order the report lists them (package
// report).
const (
	MethodBare     = report.MethodBare
	MethodCold     = report.MethodCold
	MethodWarm     = report.MethodWarm
	MethodCtr      = report.MethodCtr
	MethodDocker   = report.MethodDocker
	MethodBaseCold = report.MethodBaseCold
	MethodBaseWarm = report.MethodBaseWarm
	MethodAsync    = report.MethodAsync
	MethodPiston   = report.MethodPiston
	MethodJudge0   = report.MethodJudge0
	MethodWarmExec = report.MethodWarmExec
)

// Names of the files Report.WriteFiles writes.
const (
	MarkdownFile = report.MarkdownFile
	JSONFile     = report.JSONFile
	ChartFile    = report.ChartFile
)

// A way to run a program, and what one run gave (package method).
type (
	Method  = method.Method
	Outcome = method.Outcome
)
