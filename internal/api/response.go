package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/codeexec/codeexec/internal/runner"
)

// runResponse is the JSON body of a 200 from POST /run. A program that failed
// is still a 200: Status says how it ended.
type runResponse struct {
	ID              string        `json:"id"`
	Status          runner.Status `json:"status"`
	Stdout          string        `json:"stdout"`
	Stderr          string        `json:"stderr"`
	StdoutTruncated bool          `json:"stdout_truncated"`
	StderrTruncated bool          `json:"stderr_truncated"`
	ExitCode        *int          `json:"exit_code" jsonschema:"nullable"` // null when killed by a signal
	Signal          string        `json:"signal,omitempty"`
	CompileOutput   string        `json:"compile_output,omitempty"`
	TimeMS          int64         `json:"time_ms"`
	RunMS           int64         `json:"run_ms"` // the same as time_ms, under the name of the other phases' pattern
	CompileMS       int64         `json:"compile_ms,omitempty"`
	QueueMS         int64         `json:"queue_ms"`
	PrepareMS       int64         `json:"prepare_ms,omitempty"`
	CPUTimeMS       int64         `json:"cpu_time_ms"`
	MemoryPeakBytes int64         `json:"memory_peak_bytes"`
	OOMKilled       bool          `json:"oom_killed"`
}

// newRunResponse copies a Result into its JSON shape. It gives the run a fresh
// id if the runner returned none, so every answer can be quoted back to us.
func newRunResponse(res runner.Result) runResponse {
	id := res.ID
	if id == "" {
		id = uuid.NewString()
	}
	return runResponse{
		ID:              id,
		Status:          res.Status,
		Stdout:          res.Stdout,
		Stderr:          res.Stderr,
		StdoutTruncated: res.StdoutTruncated,
		StderrTruncated: res.StderrTruncated,
		ExitCode:        res.ExitCode,
		Signal:          res.Signal,
		CompileOutput:   res.CompileOutput,
		TimeMS:          res.Time.Milliseconds(),
		RunMS:           res.Time.Milliseconds(),
		CompileMS:       res.CompileTime.Milliseconds(),
		QueueMS:         res.QueueTime.Milliseconds(),
		PrepareMS:       res.PrepareTime.Milliseconds(),
		CPUTimeMS:       res.CPUTime.Milliseconds(),
		MemoryPeakBytes: res.MemoryPeakBytes,
		OOMKilled:       res.OOMKilled,
	}
}

// writeJSON writes v as the whole response. Strings that are not valid UTF-8,
// such as raw program output, have each bad byte replaced with U+FFFD by
// encoding/json, so the body is always valid JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Program output is full of <, > and & (C++ diagnostics); escaping them
	// helps only JSON pasted into HTML, which nosniff below rules out.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Unreachable for this package's types (strings, bools, ints); if it
		// ever happens, answer something valid rather than half a body.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	// Browsers must not sniff program output as HTML, and caches must not
	// keep results that may hold a user's data.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a write error means the client left; nothing to do
}
