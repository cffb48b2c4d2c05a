package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/codeexec/codeexec/internal/api/jsonbody"
	"github.com/codeexec/codeexec/internal/runner"
)

// runRequest is the JSON body of POST /run. Language and Code are pointers so
// that a missing field and an empty one get different messages.
type runRequest struct {
	Language *string      `json:"language"`
	Code     *string      `json:"code"`
	Input    string       `json:"input,omitempty"`
	Limits   *limitFields `json:"limits,omitempty" jsonschema:"nullable"`
}

// limitFields are the optional per-request limits. Pointers tell a missing
// field (the default) from an explicit zero (an error).
type limitFields struct {
	TimeoutMS        *int64 `json:"timeout_ms,omitempty" jsonschema:"nullable"`
	MemoryMB         *int64 `json:"memory_mb,omitempty" jsonschema:"nullable"`
	Pids             *int64 `json:"pids,omitempty" jsonschema:"nullable"`
	OutputBytes      *int64 `json:"output_bytes,omitempty" jsonschema:"nullable"`
	CompileTimeoutMS *int64 `json:"compile_timeout_ms,omitempty" jsonschema:"nullable"`
	CompileMemoryMB  *int64 `json:"compile_memory_mb,omitempty" jsonschema:"nullable"`
}

// toRunner checks that every given limit is positive and converts them;
// the runner checks them against its maxima and names the allowed range.
func (l *limitFields) toRunner() (runner.Limits, error) {
	var out runner.Limits
	if l == nil {
		return out, nil
	}
	for _, f := range []struct {
		name string
		v    *int64
		set  func(int64)
	}{
		{"timeout_ms", l.TimeoutMS, func(v int64) { out.Timeout = time.Duration(v) * time.Millisecond }},
		{"memory_mb", l.MemoryMB, func(v int64) { out.MemoryBytes = v << 20 }},
		{"pids", l.Pids, func(v int64) { out.Pids = v }},
		{"output_bytes", l.OutputBytes, func(v int64) { out.OutputBytes = int(v) }},
		{"compile_timeout_ms", l.CompileTimeoutMS, func(v int64) { out.CompileTimeout = time.Duration(v) * time.Millisecond }},
		{"compile_memory_mb", l.CompileMemoryMB, func(v int64) { out.CompileMemoryBytes = v << 20 }},
	} {
		if f.v == nil {
			continue
		}
		if *f.v <= 0 || *f.v > 1<<40 {
			return out, invalidError(fmt.Sprintf("limits.%s must be a positive integer, got %d", f.name, *f.v))
		}
		f.set(*f.v)
	}
	return out, nil
}

// runFields names the fields of POST /run, for the unknown-field message.
const runFields = `"language", "code", "input" and "limits"`

// readRunRequest reads and validates a POST /run body.
func (h *handler) readRunRequest(w http.ResponseWriter, r *http.Request) (runner.Request, error) {
	var in *runRequest
	if err := jsonbody.Decode(w, r, h.cfg.MaxBodyBytes, &in, runFields); err != nil {
		return runner.Request{}, err
	}
	if in == nil {
		return runner.Request{}, invalidError("request body must be a JSON object, got null")
	}
	return h.validate(in)
}

// validate checks the decoded fields and builds the runner's request. Code
// and input are passed on verbatim: no trimming, no newline fixing.
func (h *handler) validate(in *runRequest) (runner.Request, error) {
	if err := h.checkProgram("", in.Language, in.Code); err != nil {
		return runner.Request{}, err
	}
	if len(in.Input) > h.cfg.MaxInputBytes {
		return runner.Request{}, tooLargeError(fmt.Sprintf("input is %d bytes; the limit is %d", len(in.Input), h.cfg.MaxInputBytes))
	}
	limits, err := in.Limits.toRunner()
	if err != nil {
		return runner.Request{}, err
	}
	return runner.Request{Language: *in.Language, Code: *in.Code, Input: in.Input, Limits: limits}, nil
}
