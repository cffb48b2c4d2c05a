// Package api serves the HTTP interface of the code runner.
//
// It owns everything HTTP: routing, content negotiation, body limits,
// validation, rate limiting, and the mapping of errors to status codes (all of
// which lives in errors.go). It knows nothing about containerd: the only thing
// it needs from the rest of the service is the Runner interface, which the
// runner package satisfies and a fake satisfies in tests.
//
// Routes:
//
//	POST /run      {"language": "python", "code": "...", "input": "..."} runs one
//	               program; a 200 carries its status, output, exit code or
//	               signal, and timings, whether or not the program succeeded
//	GET  /healthz  200 {"status":"ok"} while the process serves HTTP
//
// Every response is JSON. Errors have the shape {"error": "<message>"}, where
// the message tells the client what to change; 5xx messages never carry
// internal details, which go to the log together with the request id that
// the X-Request-Id response header also carries.
//
// Program output is returned as JSON strings. A program may print bytes that
// are not valid UTF-8; encoding/json replaces each such byte with U+FFFD, so
// the response is always valid JSON but is not byte-exact for binary output.
package api
