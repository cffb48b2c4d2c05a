package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

func TestRunReturnsTheResult(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   runner.Request // what the runner must receive
		result runner.Result
		resp   string // the whole JSON body expected
	}{
		{
			name: "a program that succeeds returns its output and exit code 0",
			body: `{"language":"python","code":"print(input())","input":"hi\n"}`,
			want: runner.Request{Language: "python", Code: "print(input())", Input: "hi\n"},
			result: runner.Result{ID: "0b6e3a55-6f3f-4c2e-9d55-3c1f1f1f1f1f", Status: runner.StatusSuccess, Stdout: "hi\n",
				ExitCode: intPtr(0), Time: 12 * time.Millisecond, QueueTime: 3 * time.Millisecond},
			resp: `{"id":"0b6e3a55-6f3f-4c2e-9d55-3c1f1f1f1f1f","status":"success","stdout":"hi\n","stderr":"",
				"stdout_truncated":false,"stderr_truncated":false,"exit_code":0,"time_ms":12,"run_ms":12,"queue_ms":3,"cpu_time_ms":0,"memory_peak_bytes":0,"oom_killed":false}`,
		},
		{
			name: "a program that exits 1 is a runtime_error with exit_code 1 and still a 200",
			body: `{"language":"python","code":"raise SystemExit(1)"}`,
			want: runner.Request{Language: "python", Code: "raise SystemExit(1)"},
			result: runner.Result{ID: "r2", Status: runner.StatusRuntimeError, Stderr: "Traceback\n",
				ExitCode: intPtr(1), Time: 40 * time.Millisecond},
			resp: `{"id":"r2","status":"runtime_error","stdout":"","stderr":"Traceback\n",
				"stdout_truncated":false,"stderr_truncated":false,"exit_code":1,"time_ms":40,"run_ms":40,"queue_ms":0,"cpu_time_ms":0,"memory_peak_bytes":0,"oom_killed":false}`,
		},
		{
			name: "a program killed by a signal has a null exit_code and names the signal",
			body: `{"language":"cpp","code":"int main(){for(;;);}"}`,
			want: runner.Request{Language: "cpp", Code: "int main(){for(;;);}"},
			result: runner.Result{ID: "r3", Status: runner.StatusTimeout, Signal: "SIGKILL",
				Time: 2 * time.Second, CompileTime: 800 * time.Millisecond},
			resp: `{"id":"r3","status":"timeout","stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false,
				"exit_code":null,"signal":"SIGKILL","time_ms":2000,"run_ms":2000,"compile_ms":800,"queue_ms":0,"cpu_time_ms":0,"memory_peak_bytes":0,"oom_killed":false}`,
		},
		{
			name: "a program that fails to compile returns the compiler's output",
			body: `{"language":"cpp","code":"int main( {"}`,
			want: runner.Request{Language: "cpp", Code: "int main( {"},
			result: runner.Result{ID: "r4", Status: runner.StatusCompileError, ExitCode: intPtr(1),
				CompileOutput: "main.cpp:1:10: error: expected ')' <here> & there", CompileTime: 300 * time.Millisecond},
			resp: `{"id":"r4","status":"compile_error","stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false,
				"exit_code":1,"compile_output":"main.cpp:1:10: error: expected ')' <here> & there","time_ms":0,"run_ms":0,"compile_ms":300,"queue_ms":0,"cpu_time_ms":0,"memory_peak_bytes":0,"oom_killed":false}`,
		},
		{
			name: "a program that prints too much says which stream was truncated",
			body: `{"language":"python","code":"while True: print('y')"}`,
			want: runner.Request{Language: "python", Code: "while True: print('y')"},
			result: runner.Result{ID: "r5", Status: runner.StatusOutputLimitExceeded, Stdout: "y\ny\n", StdoutTruncated: true,
				Signal: "SIGKILL", Time: 90 * time.Millisecond},
			resp: `{"id":"r5","status":"output_limit_exceeded","stdout":"y\ny\n","stderr":"","stdout_truncated":true,"stderr_truncated":false,
				"exit_code":null,"signal":"SIGKILL","time_ms":90,"run_ms":90,"queue_ms":0,"cpu_time_ms":0,"memory_peak_bytes":0,"oom_killed":false}`,
		},
		{
			name: "a program over its memory limit is memory_limit_exceeded",
			body: `{"language":"python","code":"x = ' ' * 10**10"}`,
			want: runner.Request{Language: "python", Code: "x = ' ' * 10**10"},
			result: runner.Result{ID: "r6", Status: runner.StatusMemoryLimitExceeded, Signal: "SIGKILL",
				Time: 5 * time.Millisecond, StderrTruncated: true, OOMKilled: true, MemoryPeakBytes: 268435456, CPUTime: 4 * time.Millisecond},
			resp: `{"id":"r6","status":"memory_limit_exceeded","stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":true,
				"exit_code":null,"signal":"SIGKILL","time_ms":5,"run_ms":5,"queue_ms":0,"cpu_time_ms":4,"memory_peak_bytes":268435456,"oom_killed":true}`,
		},
		{
			name:   "code and input reach the runner verbatim, whitespace, CRLF, NUL in input and all",
			body:   `{"language":"python","code":"  print('é')\r\n\t# ✓  \n","input":"a\u0000b\r\n  "}`,
			want:   runner.Request{Language: "python", Code: "  print('é')\r\n\t# ✓  \n", Input: "a\x00b\r\n  "},
			result: runner.Result{ID: "r7", Status: runner.StatusSuccess, Stdout: "é\n", ExitCode: intPtr(0)},
			resp: `{"id":"r7","status":"success","stdout":"é\n","stderr":"","stdout_truncated":false,"stderr_truncated":false,
				"exit_code":0,"time_ms":0,"run_ms":0,"queue_ms":0,"cpu_time_ms":0,"memory_peak_bytes":0,"oom_killed":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, logs := newTestAPI(t, func(_ context.Context, req runner.Request) (runner.Result, error) {
				if !reflect.DeepEqual(req, tt.want) {
					t.Errorf("runner got %+v, want %+v", req, tt.want)
				}
				return tt.result, nil
			})
			w := serve(h, newRunRequest(tt.body))

			if got, want := w.Code, http.StatusOK; got != want {
				t.Fatalf("got status %d, want %d; body %s", got, want, w.Body)
			}
			assertJSONContentType(t, w)
			assertJSONEqual(t, w.Body.Bytes(), tt.resp)

			rec := logs.record(t, "run")
			if got, want := rec["id"], tt.result.ID; got != want {
				t.Errorf("got logged id %v, want %v", got, want)
			}
			if got, want := rec["status"], string(tt.result.Status); got != want {
				t.Errorf("got logged status %v, want %v", got, want)
			}
			if got, want := rec["language"], tt.want.Language; got != want {
				t.Errorf("got logged language %v, want %v", got, want)
			}
			if got, want := rec["request_id"], w.Header().Get("X-Request-Id"); got != want || got == "" {
				t.Errorf("got logged request_id %v, want the X-Request-Id header %q", got, want)
			}
			for _, key := range []string{"time_ms", "run_ms", "compile_ms", "queue_ms"} {
				if _, ok := rec[key]; !ok {
					t.Errorf("run record has no %s: %v", key, rec)
				}
			}
			if _, ok := rec["exit_code"]; ok != (tt.result.ExitCode != nil) {
				t.Errorf("run record %v: exit_code present is %v, want %v", rec, ok, tt.result.ExitCode != nil)
			}
		})
	}
}

func TestRunEncodesInvalidUTF8AsReplacementCharacters(t *testing.T) {
	h, _ := newTestAPI(t, func(context.Context, runner.Request) (runner.Result, error) {
		return runner.Result{ID: "r", Status: runner.StatusSuccess, ExitCode: intPtr(0),
			Stdout: "ok\xffend", Stderr: "\xc3(\n"}, nil
	})
	w := serve(h, newRunRequest(`{"language":"python","code":"x"}`))

	if got, want := w.Code, http.StatusOK; got != want {
		t.Fatalf("got status %d, want %d", got, want)
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("body is not valid JSON: %q", w.Body)
	}
	var resp runResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Stdout, "ok\uFFFDend"; got != want {
		t.Errorf("got stdout %q, want %q", got, want)
	}
	if got, want := resp.Stderr, "\uFFFD(\n"; got != want {
		t.Errorf("got stderr %q, want %q", got, want)
	}
}

func TestRunGivesAnIDWhenTheRunnerReturnsNone(t *testing.T) {
	h, _ := newTestAPI(t, func(context.Context, runner.Request) (runner.Result, error) {
		return runner.Result{Status: runner.StatusSuccess, ExitCode: intPtr(0)}, nil
	})
	w := serve(h, newRunRequest(`{"language":"python","code":"x"}`))
	var resp runResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.ID) != 36 {
		t.Errorf("got id %q, want a UUID", resp.ID)
	}
}

func TestRunRefusesInvalidRequests(t *testing.T) {
	nested := `{"language":"python","code":"x","input":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`
	tests := []struct {
		name        string
		contentType string // "-" for none
		body        string
		wantStatus  int
		wantError   string // the whole message
		wantPrefix  string // or its start, where it quotes encoding/json
	}{
		{name: "a request without Content-Type is 415", contentType: "-", body: `{"language":"python","code":"x"}`,
			wantStatus: 415, wantError: "Content-Type must be application/json; the request has none"},
		{name: "a text/plain body is 415", contentType: "text/plain", body: `{"language":"python","code":"x"}`,
			wantStatus: 415, wantError: "Content-Type must be application/json, got text/plain"},
		{name: "a form body is 415", contentType: "application/x-www-form-urlencoded", body: `language=python`,
			wantStatus: 415, wantError: "Content-Type must be application/json, got application/x-www-form-urlencoded"},
		{name: "an unparseable Content-Type is 415", contentType: "application/json; charset", body: `{}`,
			wantStatus: 415, wantError: "Content-Type cannot be parsed; it must be application/json"},
		{name: "JSON in a charset other than UTF-8 is 415", contentType: "application/json; charset=iso-8859-1", body: `{}`,
			wantStatus: 415, wantError: "JSON must be UTF-8, got charset=iso-8859-1"},

		{name: "an empty body is 400", body: ``,
			wantStatus: 400, wantError: `request body is empty; send a JSON object such as {"language":"python","code":"print(1)"}`},
		{name: "malformed JSON is 400 and names the byte offset", body: `{"language":"python","code":}`,
			wantStatus: 400, wantError: "malformed JSON at byte offset 29: invalid character '}' looking for beginning of value"},
		{name: "a truncated object is 400", body: `{"language":"python"`,
			wantStatus: 400, wantError: "malformed JSON: the body ends before the JSON object is complete"},
		{name: "a second object after the first is 400", body: `{"language":"python","code":"x"} {"code":"y"}`,
			wantStatus: 400, wantError: "unexpected data after the JSON object at byte offset 33; send exactly one object"},
		{name: "stray bytes after the object are 400", body: "{\"language\":\"python\",\"code\":\"x\"}\n\nx",
			wantStatus: 400, wantError: "unexpected data after the JSON object at byte offset 34; send exactly one object"},
		{name: "a zero limit is 400 and named", body: `{"language":"python","code":"x","limits":{"timeout_ms":0}}`,
			wantStatus: 400, wantError: "limits.timeout_ms must be a positive integer, got 0"},
		{name: "a negative limit is 400 and named", body: `{"language":"python","code":"x","limits":{"memory_mb":-5}}`,
			wantStatus: 400, wantError: "limits.memory_mb must be a positive integer, got -5"},
		{name: "a limit of the wrong type is 400 and named", body: `{"language":"python","code":"x","limits":{"pids":"many"}}`,
			wantStatus: 400, wantError: `"limits.pids" must be an integer, got string`},
		{name: "an unknown field is 400 and named", body: `{"language":"python","code":"x","timeout":5}`,
			wantStatus: 400, wantError: `unknown field "timeout"; the fields are "language", "code", "input" and "limits"`},
		{name: "code that is a number is 400", body: `{"language":"python","code":42}`,
			wantStatus: 400, wantError: `"code" must be a string, got number`},
		{name: "language that is an array is 400", body: `{"language":["python"],"code":"x"}`,
			wantStatus: 400, wantError: `"language" must be a string, got array`},
		{name: "input that is an object is 400", body: `{"language":"python","code":"x","input":{}}`,
			wantStatus: 400, wantError: `"input" must be a string, got object`},
		{name: "a null body is 400", body: `null`,
			wantStatus: 400, wantError: "request body must be a JSON object, got null"},
		{name: "an array body is 400", body: `[{"language":"python","code":"x"}]`,
			wantStatus: 400, wantError: "request body must be a JSON object, got array"},
		{name: "a string body is 400", body: `"print(1)"`,
			wantStatus: 400, wantError: "request body must be a JSON object, got string"},
		{name: "missing code is 400", body: `{"language":"python"}`,
			wantStatus: 400, wantError: `"code" is required`},
		{name: "null code is 400", body: `{"language":"python","code":null}`,
			wantStatus: 400, wantError: `"code" is required`},
		{name: "empty code is 400", body: `{"language":"python","code":""}`,
			wantStatus: 400, wantError: `"code" must not be empty or only whitespace`},
		{name: "whitespace-only code is 400", body: `{"language":"python","code":" \n\t\r\n "}`,
			wantStatus: 400, wantError: `"code" must not be empty or only whitespace`},
		{name: "code with a NUL byte is 400", body: `{"language":"python","code":"print(1)\u0000"}`,
			wantStatus: 400, wantError: `"code" contains a NUL byte at byte 8; source code cannot contain NUL`},
		{name: "missing language is 400 and lists the supported ones", body: `{"code":"x"}`,
			wantStatus: 400, wantError: `"language" is required; supported languages are cpp, python`},
		{name: "an unknown language is 400 and lists the supported ones sorted", body: `{"language":"ruby","code":"puts 1"}`,
			wantStatus: 400, wantError: `unknown language "ruby": supported languages are cpp, python`},
		{name: "language names are case-sensitive", body: `{"language":"Python","code":"x"}`,
			wantStatus: 400, wantError: `unknown language "Python": supported languages are cpp, python`},
		{name: "code over the limit is 413 and gives both sizes", body: `{"language":"python","code":"` + strings.Repeat("a", 70000) + `"}`,
			wantStatus: 413, wantError: "code is 70000 bytes; the limit is 65536"},
		{name: "input over the limit is 413 and gives both sizes", body: `{"language":"python","code":"x","input":"` + strings.Repeat("a", 256<<10+1) + `"}`,
			wantStatus: 413, wantError: "input is 262145 bytes; the limit is 262144"},
		{name: "100k nested arrays in the input field are 400, not a crash", body: nested,
			wantStatus: 400, wantPrefix: "malformed JSON at byte offset 10040: invalid character '[' exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestAPI(t, mustNotRun(t))
			r := newRunRequest(tt.body)
			switch tt.contentType {
			case "":
			case "-":
				r.Header.Del("Content-Type")
			default:
				r.Header.Set("Content-Type", tt.contentType)
			}
			w := serve(h, r)

			if got := w.Code; got != tt.wantStatus {
				t.Errorf("got status %d, want %d; body %s", got, tt.wantStatus, w.Body)
			}
			msg := errorMessage(t, w)
			if tt.wantPrefix != "" {
				if !strings.HasPrefix(msg, tt.wantPrefix) {
					t.Errorf("got error %q, want it to start with %q", msg, tt.wantPrefix)
				}
			} else if msg != tt.wantError {
				t.Errorf("got error\n\t%q\nwant\n\t%q", msg, tt.wantError)
			}
		})
	}
}

func TestRunAcceptsRequestsAtTheEdges(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{name: "a charset=utf-8 parameter is accepted", contentType: "application/json; charset=UTF-8",
			body: `{"language":"python","code":"x"}`},
		{name: "whitespace around the object is accepted", contentType: "application/json",
			body: " \n{\"language\":\"python\",\"code\":\"x\"}\r\n\t "},
		{name: "code of exactly the limit is accepted", contentType: "application/json",
			body: `{"language":"python","code":"` + strings.Repeat("a", DefaultMaxCodeBytes) + `"}`},
		{name: "input of exactly the limit is accepted", contentType: "application/json",
			body: `{"language":"python","code":"x","input":"` + strings.Repeat("a", DefaultMaxInputBytes) + `"}`},
		{name: "a null input is taken as empty", contentType: "application/json",
			body: `{"language":"cpp","code":"x","input":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestAPI(t, succeed)
			r := newRunRequest(tt.body)
			r.Header.Set("Content-Type", tt.contentType)
			w := serve(h, r)
			if got, want := w.Code, http.StatusOK; got != want {
				t.Errorf("got status %d, want %d; body %s", got, want, w.Body)
			}
		})
	}
}

func TestRunRefusesBodiesOverTheLimit(t *testing.T) {
	const limit = 1 << 20
	prefix := `{"language":"python","code":"`

	t.Run("a declared Content-Length over the limit is 413 before the body is read", func(t *testing.T) {
		h, _ := newTestAPI(t, mustNotRun(t))
		r := newRunRequest("")
		// One byte is read, to tell net/http to linger before it closes
		// the connection (closeGently).
		r.Body = io.NopCloser(&tripwire{tb: t, data: strings.NewReader(prefix + strings.Repeat("a", limit)), limit: 1})
		r.ContentLength = limit + 1
		w := serve(h, r)

		if got, want := w.Code, http.StatusRequestEntityTooLarge; got != want {
			t.Errorf("got status %d, want %d", got, want)
		}
		if got, want := errorMessage(t, w), "request body is 1048577 bytes; the limit is 1048576 bytes (1 MiB)"; got != want {
			t.Errorf("got error %q, want %q", got, want)
		}
	})

	t.Run("a chunked body that grows past the limit is 413 and read no further", func(t *testing.T) {
		h, _ := newTestAPI(t, mustNotRun(t))
		r := newRunRequest("")
		// MaxBytesReader reads one byte past the limit to know it is exceeded.
		r.Body = io.NopCloser(&tripwire{tb: t, data: strings.NewReader(prefix + strings.Repeat("a", 2*limit)), limit: limit + 1})
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
		w := serve(h, r)

		if got, want := w.Code, http.StatusRequestEntityTooLarge; got != want {
			t.Errorf("got status %d, want %d", got, want)
		}
		if got, want := errorMessage(t, w), "request body is larger than the limit of 1048576 bytes (1 MiB)"; got != want {
			t.Errorf("got error %q, want %q", got, want)
		}
	})

	t.Run("whitespace after the object still counts toward the limit", func(t *testing.T) {
		h, _ := newTestAPI(t, mustNotRun(t))
		r := newRunRequest(`{"language":"python","code":"x"}` + strings.Repeat(" ", limit))
		r.ContentLength = -1
		w := serve(h, r)

		if got, want := w.Code, http.StatusRequestEntityTooLarge; got != want {
			t.Errorf("got status %d, want %d", got, want)
		}
	})

	t.Run("a real server answers 413 to an oversize chunked upload", func(t *testing.T) {
		h, _ := newTestAPI(t, mustNotRun(t), func(c *Config) {
			c.MaxBodyBytes = 4 << 10
			c.MaxCodeBytes = 1 << 10
			c.MaxInputBytes = 1 << 10
		})
		srv := httptest.NewServer(h)
		defer srv.Close()

		// A reader that is not a *strings.Reader hides the length, so the
		// client sends the body chunked.
		body := io.MultiReader(strings.NewReader(prefix), strings.NewReader(strings.Repeat("a", 8<<10)))
		resp, err := http.Post(srv.URL+"/run", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("got status %d, want 413; body %s", resp.StatusCode, got)
		}
		assertJSONEqual(t, got, `{"error":"request body is larger than the limit of 4096 bytes (4 KiB)"}`)
	})
}

func TestRunMapsRunnerErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		configure  func(*Config)
		wantStatus int
		wantBody   string // exact, with the trailing newline
		wantRetry  string // Retry-After; "" for none
	}{
		{
			name:       "an unreachable container runtime is 503 with Retry-After",
			err:        fmt.Errorf("connect containerd: %w", runner.ErrUnavailable),
			wantStatus: 503,
			wantBody:   `{"error":"the container runtime is unavailable; try again later"}` + "\n",
			wantRetry:  "5",
		},
		{
			name:       "busy sandboxes are 503 with Retry-After from the config",
			err:        fmt.Errorf("wait for a slot: %w", runner.ErrBusy),
			wantStatus: 503,
			wantBody:   `{"error":"all sandboxes are busy; retry later"}` + "\n",
			wantRetry:  "5",
		},
		{
			name:       "Retry-After rounds a fractional BusyRetryAfter up",
			err:        runner.ErrBusy,
			configure:  func(c *Config) { c.BusyRetryAfter = 1500 * time.Millisecond },
			wantStatus: 503,
			wantBody:   `{"error":"all sandboxes are busy; retry later"}` + "\n",
			wantRetry:  "2",
		},
		{
			name:       "a language the runner does not know is 400 with the supported ones",
			err:        fmt.Errorf("%w: %q", runner.ErrUnknownLanguage, "python"),
			wantStatus: 400,
			wantBody:   `{"error":"unknown language \"python\": supported languages are cpp, python"}` + "\n",
		},
		{
			name:       "any other error is 500 with no internal detail",
			err:        errors.New("create task: open /run/containerd/secret.sock: permission denied"),
			wantStatus: 500,
			wantBody:   `{"error":"internal error"}` + "\n",
		},
		{
			name:       "a deadline the runner hit is 500, not a client error",
			err:        fmt.Errorf("start task: %w", context.DeadlineExceeded),
			wantStatus: 500,
			wantBody:   `{"error":"internal error"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var configure []func(*Config)
			if tt.configure != nil {
				configure = append(configure, tt.configure)
			}
			h, logs := newTestAPI(t, func(context.Context, runner.Request) (runner.Result, error) {
				return runner.Result{}, tt.err
			}, configure...)
			w := serve(h, newRunRequest(`{"language":"python","code":"x"}`))

			if got := w.Code; got != tt.wantStatus {
				t.Errorf("got status %d, want %d", got, tt.wantStatus)
			}
			assertJSONContentType(t, w)
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("got body %q, want %q", got, tt.wantBody)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("got Retry-After %q, want %q", got, tt.wantRetry)
			}
			if tt.wantStatus == 500 {
				// The details are in the log, once, with the request id.
				rec := logs.record(t, "request failed")
				if got, want := rec["error"], tt.err.Error(); got != want {
					t.Errorf("got logged error %v, want %q", got, want)
				}
				if got, want := rec["request_id"], w.Header().Get("X-Request-Id"); got != want || got == "" {
					t.Errorf("got logged request_id %v, want %q", got, want)
				}
				if got, want := rec["level"], "ERROR"; got != want {
					t.Errorf("got level %v, want %v", got, want)
				}
			}
		})
	}
}

func TestRunPanicIsAJSON500(t *testing.T) {
	h, logs := newTestAPI(t, func(context.Context, runner.Request) (runner.Result, error) {
		panic("nil map in the runner: secret detail")
	})
	w := serve(h, newRunRequest(`{"language":"python","code":"x"}`))

	if got, want := w.Code, http.StatusInternalServerError; got != want {
		t.Errorf("got status %d, want %d", got, want)
	}
	assertJSONContentType(t, w)
	if got, want := w.Body.String(), `{"error":"internal error"}`+"\n"; got != want {
		t.Errorf("got body %q, want %q", got, want)
	}
	if w.Header().Get("X-Request-Id") == "" {
		t.Error("got no X-Request-Id on the 500, want one to quote")
	}
	rec := logs.record(t, "handler panicked")
	if got, want := rec["panic"], "nil map in the runner: secret detail"; got != want {
		t.Errorf("got logged panic %v, want %q", got, want)
	}
	if stack, _ := rec["stack"].(string); !strings.Contains(stack, "run_test.go") {
		t.Errorf("got logged stack %q, want one through the test's runner", stack)
	}
}

func TestRunPassesTheRequestContext(t *testing.T) {
	type key struct{}
	h, _ := newTestAPI(t, func(ctx context.Context, _ runner.Request) (runner.Result, error) {
		if got, want := ctx.Value(key{}), "marker"; got != want {
			t.Errorf("runner's context has marker %v, want %v: it is not derived from the request's", got, want)
		}
		return succeed(ctx, runner.Request{})
	})
	r := newRunRequest(`{"language":"python","code":"x"}`)
	r = r.WithContext(context.WithValue(r.Context(), key{}, "marker"))
	if got, want := serve(h, r).Code, http.StatusOK; got != want {
		t.Errorf("got status %d, want %d", got, want)
	}
}

func TestRunStopsWhenTheClientGoesAway(t *testing.T) {
	started := make(chan struct{})
	stopped := make(chan error, 1)
	h, logs := newTestAPI(t, func(ctx context.Context, _ runner.Request) (runner.Result, error) {
		close(started)
		select {
		case <-ctx.Done():
			stopped <- ctx.Err()
			return runner.Result{}, fmt.Errorf("wait for task: %w", ctx.Err())
		case <-time.After(10 * time.Second):
			stopped <- errors.New("context not canceled within 10s")
			return runner.Result{}, errors.New("not canceled")
		}
	})
	srv := httptest.NewServer(h)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-started
		cancel()
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/run", strings.NewReader(`{"language":"python","code":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want the request canceled", resp.StatusCode)
	}

	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Errorf("runner's context ended with %v, want context.Canceled", err)
	}
	srv.Close() // waits for the handler to finish logging

	rec := logs.record(t, "client went away")
	if got, want := rec["level"], "INFO"; got != want {
		t.Errorf("got level %v, want %v", got, want)
	}
	if got, want := rec["status"], float64(statusClientClosedRequest); got != want {
		t.Errorf("got logged status %v, want %v", got, want)
	}
	for _, r := range logs.records(t) {
		if r["level"] == "ERROR" {
			t.Errorf("got error record %v for a client that left, want none", r)
		}
	}
}

func TestRunDoesNotHTMLEscapeOutput(t *testing.T) {
	h, _ := newTestAPI(t, func(context.Context, runner.Request) (runner.Result, error) {
		return runner.Result{ID: "r", Status: runner.StatusCompileError, ExitCode: intPtr(1),
			CompileOutput: "error: no match for 'operator<<' (std::vector<int> & a)"}, nil
	})
	w := serve(h, newRunRequest(`{"language":"cpp","code":"x"}`))
	if want := `"compile_output":"error: no match for 'operator<<' (std::vector<int> & a)"`; !strings.Contains(w.Body.String(), want) {
		t.Errorf("got body %s, want it to contain %s as printed", w.Body, want)
	}
}
