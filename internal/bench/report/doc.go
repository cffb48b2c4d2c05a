// Package report holds what one benchmark run measured, every sample of
// it, and renders it: a Markdown table and summary, JSON, and a PNG chart
// of the latency percentiles. It measures nothing and starts nothing:
// package bench runs the methods and fills a Report.
package report
