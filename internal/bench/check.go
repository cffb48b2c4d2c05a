package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/codeexec/codeexec/internal/bench/method"
)

// check returns nil when o is a correct run of p: the method ran it without
// error and the program printed exactly p.Want. Anything else is an error of
// the benchmark, never a sample.
func check(p Program, o Outcome) error {
	if o.Err != nil {
		return o.Err
	}
	if o.Stdout != p.Want {
		return fmt.Errorf("wrong answer: stdout %q, want %q", method.Clip(o.Stdout), p.Want)
	}
	return nil
}

// checkResponse reads one answer of POST /run: the program's stdout, and
// the service's own timings (every numeric field whose name ends in _ms, so
// that phases added later are recorded too). Anything but a 200 with status
// "success" is an error that says what came back.
func checkResponse(code int, body []byte) (stdout string, server map[string]float64, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return "", nil, fmt.Errorf("HTTP %d with a body that is not a JSON object: %q", code, method.Clip(string(body)))
	}
	str := func(name string) string {
		var s string
		_ = json.Unmarshal(fields[name], &s)
		return s
	}
	if code != http.StatusOK {
		return "", nil, fmt.Errorf("HTTP %d: %s", code, method.Clip(str("error")))
	}
	server = map[string]float64{}
	for name, raw := range fields {
		var v float64
		// null unmarshals into a float64 without error: skip it, it is no figure.
		if strings.HasSuffix(name, "_ms") && string(raw) != "null" && json.Unmarshal(raw, &v) == nil {
			server[name] = v
		}
	}
	if status := str("status"); status != "success" {
		detail := str("stderr")
		if detail == "" {
			detail = str("compile_output")
		}
		return str("stdout"), server, fmt.Errorf("status %q (want \"success\"): %s", status, method.Clip(detail))
	}
	return str("stdout"), server, nil
}
