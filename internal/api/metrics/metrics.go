// Package metrics holds the service's Prometheus metrics, on a registry of
// their own (no package globals): runs and their phases, judged
// submissions and their tests, refused requests by reason, and, read at
// scrape time, the runner's load and where it learnt its programs' exits.
// It knows nothing of HTTP routing or of how a request is validated.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// Gauges is implemented by a Runner that reports its current load. Its
// figures are read at scrape time.
type Gauges interface {
	QueueDepth() int            // requests waiting for a sandbox slot
	Running() int               // sandbox slots taken
	PoolLevels() map[string]int // prepared jobs waiting, per language
}

// ExitSourcer is implemented by a Runner that can say where the exits of
// its programs were learnt from first, by source.
type ExitSourcer interface {
	ExitSources() map[string]int64
}

// Metrics are the service's Prometheus metrics, served at GET /metrics
// (Handler).
type Metrics struct {
	reg         *prometheus.Registry
	runs        *prometheus.CounterVec
	phase       *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	rateLimited prometheus.Counter
	verdicts    *prometheus.CounterVec
	tests       *prometheus.CounterVec
}

// New registers the metrics. A runner that implements Gauges or
// ExitSourcer has those figures read at every scrape; languages are the
// pool gauges' labels.
func New(r any, languages []string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "codeexec_runs_total", Help: "Runs that reached a sandbox, by language and status.",
		}, []string{"language", "status"}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "codeexec_phase_duration_seconds",
			Help:    "Time spent per phase of a run: queue, prepare (cold path only), compile, run.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"language", "phase"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "codeexec_errors_total", Help: "Requests the service could not run, by reason: containerd_unavailable, busy, internal.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "codeexec_rate_limited_total", Help: "Requests refused by the rate limiter.",
		}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "codeexec_judge_verdicts_total", Help: "Judged submissions (POST /judge), by language and verdict.",
		}, []string{"language", "verdict"}),
		tests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "codeexec_judge_tests_total", Help: "Tests of judged submissions, by language and status.",
		}, []string{"language", "status"}),
	}
	m.reg.MustRegister(m.runs, m.phase, m.errors, m.rateLimited, m.verdicts, m.tests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, reason := range []string{ReasonUnavailable, ReasonBusy, ReasonInternal} {
		m.errors.WithLabelValues(reason)
	}
	if g, ok := r.(Gauges); ok {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "codeexec_queue_depth", Help: "Requests waiting for a sandbox slot."},
				func() float64 { return float64(g.QueueDepth()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "codeexec_sandboxes_running", Help: "Sandbox slots taken (running or being torn down)."},
				func() float64 { return float64(g.Running()) }),
		)
		for _, lang := range languages {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "codeexec_pool_ready", Help: "Prepared sandboxes waiting in the warm pool.",
				ConstLabels: prometheus.Labels{"language": lang},
			}, func() float64 { return float64(g.PoolLevels()[lang]) }))
		}
	}
	if e, ok := r.(ExitSourcer); ok {
		for source := range e.ExitSources() {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "codeexec_exit_source_total", Help: "Programs whose exit the service learnt first from the kernel (a pidfd) or from containerd's event.",
				ConstLabels: prometheus.Labels{"source": source},
			}, func() float64 { return float64(e.ExitSources()[source]) }))
		}
	}
	return m
}

// SubmissionStats is implemented by a queue of submissions that reports
// its figures (submissions.Queue).
type SubmissionStats interface {
	Stats(ctx context.Context) (submissions.Stats, error)
}

// WatchSubmissions reads q's figures at every scrape.
func (m *Metrics) WatchSubmissions(q SubmissionStats) {
	m.reg.MustRegister(&submissionCollector{q: q})
}

var (
	descQueued = prometheus.NewDesc("codeexec_submissions_waiting",
		"Submissions in the stream, queued or running (the whole fleet's).", nil, nil)
	descOldest = prometheus.NewDesc("codeexec_submissions_oldest_age_seconds",
		"Age of the oldest submission in the stream; 0 when it is empty.", nil, nil)
	descDeliveries = prometheus.NewDesc("codeexec_submission_deliveries_total",
		"Submissions this node received from the stream, redeliveries included.", nil, nil)
	descRedeliveries = prometheus.NewDesc("codeexec_submission_redeliveries_total",
		"Submissions this node received again (their node died or was slow, or the service was busy).", nil, nil)
	descCallbacks = prometheus.NewDesc("codeexec_callback_attempts_total",
		"Callback attempts this node made, by result: delivered (2xx) or failed.", []string{"result"}, nil)
	descQueueUp = prometheus.NewDesc("codeexec_submissions_queue_up",
		"1 when the queue's figures could be read at this scrape, else 0.", nil, nil)
)

// submissionCollector reads the queue once per scrape.
type submissionCollector struct{ q SubmissionStats }

func (c *submissionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descOldest, descDeliveries, descRedeliveries, descCallbacks, descQueueUp} {
		ch <- d
	}
}

func (c *submissionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.q.Stats(ctx)
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descQueueUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.CounterValue, float64(s.Deliveries))
	ch <- prometheus.MustNewConstMetric(descRedeliveries, prometheus.CounterValue, float64(s.Redeliveries))
	ch <- prometheus.MustNewConstMetric(descCallbacks, prometheus.CounterValue, float64(s.CallbacksDelivered), "delivered")
	ch <- prometheus.MustNewConstMetric(descCallbacks, prometheus.CounterValue, float64(s.CallbacksFailed), "failed")
	if err == nil {
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.Depth))
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, s.OldestAge.Seconds())
	}
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRun records a run that reached a sandbox.
func (m *Metrics) ObserveRun(lang string, res runner.Result) {
	m.runs.WithLabelValues(lang, string(res.Status)).Inc()
	m.phase.WithLabelValues(lang, "queue").Observe(res.QueueTime.Seconds())
	if res.PrepareTime > 0 {
		m.phase.WithLabelValues(lang, "prepare").Observe(res.PrepareTime.Seconds())
	}
	if res.CompileTime > 0 {
		m.phase.WithLabelValues(lang, "compile").Observe(res.CompileTime.Seconds())
	}
	if res.Status != runner.StatusCompileError {
		m.phase.WithLabelValues(lang, "run").Observe(res.Time.Seconds())
	}
}

// ObserveJudge records a judged submission.
func (m *Metrics) ObserveJudge(lang string, res judge.Result) {
	m.verdicts.WithLabelValues(lang, string(res.Verdict)).Inc()
	for _, t := range res.Tests {
		m.tests.WithLabelValues(lang, string(t.Status)).Inc()
	}
	if res.CompileTime > 0 {
		m.phase.WithLabelValues(lang, "compile").Observe(res.CompileTime.Seconds())
	}
}

// Reasons a request could not be run, the labels of
// codeexec_errors_total.
const (
	ReasonUnavailable = "containerd_unavailable"
	ReasonBusy        = "busy"
	ReasonInternal    = "internal"
)

// ObserveError records a request the runner refused or failed for reason
// (a Reason* constant).
func (m *Metrics) ObserveError(reason string) {
	m.errors.WithLabelValues(reason).Inc()
}

// RateLimited records a request refused by the rate limiter.
func (m *Metrics) RateLimited() { m.rateLimited.Inc() }
