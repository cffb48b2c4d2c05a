// Package bench measures how long a program takes to run through codeexec,
// next to the same program run other ways on the same machine, in one run.
//
// A Method runs a Program once and reports the client-side wall time and what
// the program printed: bare on the host (the floor), this service's cold path
// and warm pool over HTTP, `ctr run` of the same image, and `docker run` when
// an engine is reachable. Run interleaves the methods round by round, so that
// noise from other work on the machine hits every method alike, checks every
// answer (a wrong stdout is an error, never a sample), and measures
// throughput at concurrency 1 and N. A Report holds every sample and renders
// itself as Markdown, JSON and a PNG chart.
//
// The service instances are real processes of the codeexec binary, started
// and stopped (gracefully) by Run; nothing here imports the service's HTTP
// code, so the figures are those a client sees.
package bench
