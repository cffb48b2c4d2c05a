package api

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/codeexec/codeexec/internal/callback"
	"github.com/codeexec/codeexec/internal/runner"
)

// Defaults for Config. The byte limits are on decoded strings, except
// DefaultMaxBodyBytes, which is on the JSON body as sent; JSON escaping can
// make a body up to six times longer than the strings it carries.
const (
	DefaultMaxBodyBytes   int64 = 1 << 20   // 1 MiB
	DefaultMaxCodeBytes         = 64 << 10  // 64 KiB: far more than any single-file program needs
	DefaultMaxInputBytes        = 256 << 10 // 256 KiB: room for test-case style stdin, well under the body limit
	DefaultRateLimit            = 100       // requests per RateWindow per client address
	DefaultRateWindow           = 15 * time.Minute
	DefaultBusyRetryAfter       = 5 * time.Second

	// POST /judge: a body carries the code and every test, so its limits
	// are its own.
	DefaultMaxJudgeBodyBytes int64 = 48 << 20 // room for the test data, JSON-escaped
	DefaultMaxTests                = 256
	DefaultMaxTestDataBytes        = 16 << 20 // inputs plus expected outputs
	DefaultJudgeLanes              = 3        // tests of one request at once (docs/judge.md: 3 beat 2 on 2 cores)
	DefaultCheckerTimeout          = 5 * time.Second
	// The most a POST /judge may last in the worst case its request
	// allows (docs/judge.md, "How long a judgement may take").
	DefaultMaxJudgeDuration = 10 * time.Minute
	// What an answer may take beyond the request's own worst case:
	// preparing its sandboxes and writing the body.
	DefaultAnswerMargin = 30 * time.Second

	// Asynchronous submissions (docs/submissions.md).
	DefaultMaxSubmissionWait = time.Minute // the longest ?wait=
	DefaultMaxBatch          = 20          // submissions per batch request, and ids per GET, as Judge0's default
	MaxMetadataBytes         = 4 << 10     // a submission's "metadata", as sent

	// Problem packages (docs/problems.md).
	DefaultMaxProblemBytes      int64 = 64 << 20  // one package's archive, as sent
	DefaultMaxProblemStoreBytes int64 = 4 << 30   // every stored archive together
	DefaultMaxProblems                = 1000      // packages stored at once
	DefaultMaxProblemTests            = 1000      // test cases of one package
	DefaultMaxProblemUnpacked   int64 = 256 << 20 // what one package unpacks to
	DefaultMaxProblemFiles            = 20000     // files in one package
)

// Config sets the limits of the HTTP API.
type Config struct {
	// MaxBodyBytes caps the request body as sent. A body with a larger
	// Content-Length is refused before a byte of it is read.
	MaxBodyBytes int64
	// MaxCodeBytes caps the decoded "code" field.
	MaxCodeBytes int
	// MaxInputBytes caps the decoded "input" field.
	MaxInputBytes int
	// RateLimit is how many POST /run requests one client address may make per
	// RateWindow. Zero disables the limiter.
	RateLimit int
	// RateWindow is the length of the sliding rate-limit window.
	RateWindow time.Duration
	// Languages are the language names POST /run accepts, e.g. "cpp" and
	// "python". They must match the runner's configured languages.
	Languages []string
	// BusyRetryAfter is what the Retry-After header of a 503 says: every
	// sandbox is busy, or the container runtime is unavailable. It is
	// rounded up to whole seconds.
	BusyRetryAfter time.Duration
	// APIKeys, when not empty, are the Bearer tokens POST /run and GET
	// /runtimes require; without one the answer is 401. Empty turns
	// authentication off (the default).
	APIKeys []string
	// RateLimitByKey keys the rate limiter by API key instead of by client
	// address, when APIKeys are set.
	RateLimitByKey bool
	// Playground serves the playground page at / (playground.go).
	Playground bool
	// TrustedProxies are CIDR ranges whose X-Forwarded-For is believed when
	// they are the TCP peer. Empty means forwarded headers are ignored.
	TrustedProxies []string

	// MaxJudgeBodyBytes caps a POST /judge body as sent.
	MaxJudgeBodyBytes int64
	// MaxTests caps the tests of one POST /judge request.
	MaxTests int
	// MaxTestDataBytes caps the decoded inputs and expected outputs of one
	// POST /judge request, together.
	MaxTestDataBytes int
	// JudgeLanes is how many tests of one request run at once, at most
	// (each lane holds sandbox slots).
	JudgeLanes int
	// CheckerTimeout is the wall-clock limit of each checker run.
	CheckerTimeout time.Duration
	// OutputBytes is the output cap of a run (runner.Config.OutputBytes):
	// what a judged test's returned stdout and stderr are cut to.
	OutputBytes int
	// MaxJudgeDuration caps the worst case of a POST /judge: a request
	// whose tests, limits and lanes allow a longer judgement is refused
	// with 400 before anything runs.
	MaxJudgeDuration time.Duration

	// The runner's timeouts (runner.Config's QueueTimeout, CompileTimeout
	// and RunTimeout): with the request's own limits they give its worst
	// case, and so the deadline of its answer.
	QueueTimeout, CompileTimeout, RunTimeout time.Duration
	// AnswerMargin is what an answer may take beyond the request's worst
	// case (its sandboxes' preparation, writing the body), and the write
	// deadline of every route that runs nothing.
	AnswerMargin time.Duration

	// MaxSubmissionWait bounds POST /submissions?wait=SECONDS.
	MaxSubmissionWait time.Duration
	// MaxBatch caps the submissions of POST /submissions/batch and the
	// ids of GET /submissions?ids=.
	MaxBatch int
	// Callbacks says whether a submission may have a callback_url: the
	// service has a secret to sign them with.
	Callbacks bool
	// CallbackAllow admits CIDR ranges that callbacks may reach although
	// internal, and, if it names any host, limits callbacks to those
	// hosts (callback.ParseAllow).
	CallbackAllow []string

	// MaxProblemBytes caps a POST /problems archive as sent;
	// MaxProblemUnpacked and MaxProblemFiles what it unpacks to.
	MaxProblemBytes, MaxProblemUnpacked int64
	MaxProblemFiles                     int
	// MaxProblems and MaxProblemStoreBytes bound the store: packages, and
	// their archives' bytes together.
	MaxProblems          int
	MaxProblemStoreBytes int64
	// MaxProblemTests caps the test cases of one package.
	MaxProblemTests int
}

// DefaultConfig returns a Config built from the Default constants, accepting
// the languages "cpp" and "python".
func DefaultConfig() Config {
	return Config{
		Playground:     true,
		MaxBodyBytes:   DefaultMaxBodyBytes,
		MaxCodeBytes:   DefaultMaxCodeBytes,
		MaxInputBytes:  DefaultMaxInputBytes,
		RateLimit:      DefaultRateLimit,
		RateWindow:     DefaultRateWindow,
		Languages:      []string{"cpp", "python"},
		BusyRetryAfter: DefaultBusyRetryAfter,

		MaxJudgeBodyBytes: DefaultMaxJudgeBodyBytes,
		MaxTests:          DefaultMaxTests,
		MaxTestDataBytes:  DefaultMaxTestDataBytes,
		JudgeLanes:        DefaultJudgeLanes,
		CheckerTimeout:    DefaultCheckerTimeout,
		OutputBytes:       runner.DefaultOutputBytes,
		MaxJudgeDuration:  DefaultMaxJudgeDuration,

		QueueTimeout:   runner.DefaultQueueTimeout,
		CompileTimeout: runner.DefaultCompileTimeout,
		RunTimeout:     runner.DefaultRunTimeout,
		AnswerMargin:   DefaultAnswerMargin,

		MaxSubmissionWait: DefaultMaxSubmissionWait,
		MaxBatch:          DefaultMaxBatch,

		MaxProblemBytes:      DefaultMaxProblemBytes,
		MaxProblemUnpacked:   DefaultMaxProblemUnpacked,
		MaxProblemFiles:      DefaultMaxProblemFiles,
		MaxProblems:          DefaultMaxProblems,
		MaxProblemStoreBytes: DefaultMaxProblemStoreBytes,
		MaxProblemTests:      DefaultMaxProblemTests,
	}
}

// Validate reports every setting that NewHandler cannot work with, joined into
// one error, or nil.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.MaxBodyBytes <= 0 {
		bad("MaxBodyBytes must be positive, got %d", c.MaxBodyBytes)
	}
	if c.MaxCodeBytes <= 0 {
		bad("MaxCodeBytes must be positive, got %d", c.MaxCodeBytes)
	} else if int64(c.MaxCodeBytes) >= c.MaxBodyBytes {
		bad("MaxCodeBytes (%d) must be less than MaxBodyBytes (%d), or code at the limit could never be sent", c.MaxCodeBytes, c.MaxBodyBytes)
	}
	if c.MaxInputBytes < 0 {
		bad("MaxInputBytes must not be negative, got %d", c.MaxInputBytes)
	} else if int64(c.MaxInputBytes) >= c.MaxBodyBytes {
		bad("MaxInputBytes (%d) must be less than MaxBodyBytes (%d), or input at the limit could never be sent", c.MaxInputBytes, c.MaxBodyBytes)
	}
	if c.RateLimit < 0 {
		bad("RateLimit must not be negative (0 disables it), got %d", c.RateLimit)
	}
	if c.RateLimit > 0 && c.RateWindow < time.Second {
		bad("RateWindow must be at least 1s when RateLimit is set, got %s", c.RateWindow)
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad("TrustedProxies: %q is not a CIDR range such as 10.0.0.0/8", p)
		}
	}
	for i, k := range c.APIKeys {
		if len(k) < 16 {
			bad("APIKeys[%d] is %d characters; use keys of at least 16", i, len(k))
		}
	}
	if c.RateLimitByKey && len(c.APIKeys) == 0 {
		bad("RateLimitByKey needs APIKeys")
	}
	if len(c.Languages) == 0 {
		bad("Languages must name at least one language")
	}
	for i, l := range c.Languages {
		if l == "" {
			bad("Languages[%d] is empty", i)
		} else if slices.Index(c.Languages, l) != i {
			bad("Languages lists %q twice", l)
		}
	}
	if c.BusyRetryAfter <= 0 {
		bad("BusyRetryAfter must be positive, got %s", c.BusyRetryAfter)
	}
	if c.MaxTests < 1 {
		bad("MaxTests must be at least 1, got %d", c.MaxTests)
	}
	if c.MaxTestDataBytes < 0 || int64(c.MaxTestDataBytes) >= c.MaxJudgeBodyBytes {
		bad("MaxTestDataBytes (%d) must be less than MaxJudgeBodyBytes (%d)", c.MaxTestDataBytes, c.MaxJudgeBodyBytes)
	}
	if int64(c.MaxCodeBytes) >= c.MaxJudgeBodyBytes {
		bad("MaxCodeBytes (%d) must be less than MaxJudgeBodyBytes (%d)", c.MaxCodeBytes, c.MaxJudgeBodyBytes)
	}
	if c.JudgeLanes < 1 {
		bad("JudgeLanes must be at least 1, got %d", c.JudgeLanes)
	}
	if c.MaxJudgeDuration <= 0 {
		bad("MaxJudgeDuration must be positive, got %s", c.MaxJudgeDuration)
	}
	if c.QueueTimeout < 0 || c.CompileTimeout <= 0 || c.RunTimeout <= 0 || c.AnswerMargin <= 0 {
		bad("QueueTimeout must not be negative, and CompileTimeout, RunTimeout and AnswerMargin must be positive, got %s, %s, %s and %s",
			c.QueueTimeout, c.CompileTimeout, c.RunTimeout, c.AnswerMargin)
	}
	if c.MaxSubmissionWait < 0 || c.MaxBatch < 1 {
		bad("MaxSubmissionWait must not be negative and MaxBatch must be at least 1, got %s and %d", c.MaxSubmissionWait, c.MaxBatch)
	}
	if _, err := callback.ParseAllow(c.CallbackAllow); err != nil {
		bad("%v", err)
	}
	if c.CheckerTimeout <= 0 {
		bad("CheckerTimeout must be positive, got %s", c.CheckerTimeout)
	}
	if c.OutputBytes < 1 {
		bad("OutputBytes must be positive, got %d", c.OutputBytes)
	}
	if c.MaxProblemBytes < 1 || c.MaxProblemUnpacked < 1 || c.MaxProblemFiles < 1 || c.MaxProblems < 1 ||
		c.MaxProblemStoreBytes < c.MaxProblemBytes || c.MaxProblemTests < 1 {
		bad("MaxProblemBytes, MaxProblemUnpacked, MaxProblemFiles, MaxProblems and MaxProblemTests must be positive and MaxProblemStoreBytes at least MaxProblemBytes, got %d, %d, %d, %d, %d and %d",
			c.MaxProblemBytes, c.MaxProblemUnpacked, c.MaxProblemFiles, c.MaxProblems, c.MaxProblemTests, c.MaxProblemStoreBytes)
	}
	return errors.Join(errs...)
}
