package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/codeexec/codeexec/internal/compat"
)

// service runs programs through POST /run of a codeexec instance and times
// the whole request on the client side: connection reuse included, as a
// client that keeps its connection open sees it.
type service struct {
	name   string
	url    string
	pid    int // the instance's process, whose CPU time the throughput profile counts
	client *http.Client
	// async posts to POST /submissions?wait= instead of /run, and reads
	// the finished submission's result.
	async bool
	// piston posts Piston v2's request to POST /api/v2/execute.
	piston bool
	// judge0 posts Judge0 CE's request to POST /judge0/submissions?wait=true.
	judge0 bool
}

// newService returns the method named name that posts to the service at url.
// Its transport keeps enough idle connections for conns concurrent runs.
func newService(name, url string, pid, conns int, timeout time.Duration) *service {
	return &service{
		name: name,
		url:  url,
		pid:  pid,
		client: &http.Client{
			Timeout:   timeout,
			Transport: &http.Transport{MaxIdleConnsPerHost: conns * 2, DisableCompression: true},
		},
	}
}

func (s *service) Name() string { return s.name }

func (s *service) Run(ctx context.Context, p Program) Outcome {
	var fields any = map[string]string{"language": p.Language, "code": p.Code, "input": p.Input}
	path := "/run"
	switch {
	case s.async:
		fields.(map[string]string)["kind"], path = "run", "/submissions?wait=60"
	case s.piston:
		fields, path = map[string]any{"language": pistonName(p.Language), "version": "*",
			"files": []map[string]string{{"content": p.Code}}, "stdin": p.Input}, "/api/v2/execute"
	case s.judge0:
		fields, path = map[string]any{"language_id": judge0ID(p.Language), "source_code": p.Code, "stdin": p.Input},
			"/judge0/submissions?wait=true&fields=stdout,status_id,wall_time"
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return Outcome{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, bytes.NewReader(body))
	if err != nil {
		return Outcome{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Outcome{Elapsed: time.Since(start), Err: fmt.Errorf("POST %s: %w", path, err)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil {
		return Outcome{Elapsed: elapsed, Err: fmt.Errorf("read response: %w", err)}
	}
	code := resp.StatusCode
	if s.async {
		// The finished submission (200) carries the /run answer as its
		// result; a 202 means it did not finish within the wait.
		var sub struct {
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
		}
		if code != http.StatusOK || json.Unmarshal(raw, &sub) != nil || sub.Status != "done" {
			return Outcome{Elapsed: elapsed, Err: fmt.Errorf("POST %s: HTTP %d: %s", path, code, raw)}
		}
		raw = sub.Result
	}
	if s.piston {
		return pistonOutcome(elapsed, code, raw)
	}
	if s.judge0 {
		return judge0Outcome(elapsed, code, raw)
	}
	stdout, server, err := checkResponse(code, raw)
	return Outcome{Elapsed: elapsed, Stdout: stdout, Server: server, Err: err}
}

// close drops the idle connections to the instance.
func (s *service) close() { s.client.CloseIdleConnections() }

// pistonName is a language's Piston name.
func pistonName(lang string) string {
	for _, l := range compat.PistonLanguages {
		if l.Ours == lang {
			return l.Name
		}
	}
	return lang
}

// pistonOutcome reads Piston's answer: a run that exited 0 is a success.
func pistonOutcome(elapsed time.Duration, code int, raw []byte) Outcome {
	var a compat.PistonResponse
	if code != http.StatusOK || json.Unmarshal(raw, &a) != nil || a.Run == nil {
		return Outcome{Elapsed: elapsed, Err: fmt.Errorf("POST /api/v2/execute: HTTP %d: %.200s", code, raw)}
	}
	if a.Run.Code == nil || *a.Run.Code != 0 {
		return Outcome{Elapsed: elapsed, Err: fmt.Errorf("POST /api/v2/execute: the run did not exit 0: %.200s", raw)}
	}
	return Outcome{Elapsed: elapsed, Stdout: a.Run.Stdout, Server: map[string]float64{"time_ms": float64(a.Run.WallTime)}}
}

// judge0ID is a language's Judge0 id.
func judge0ID(lang string) int {
	for _, l := range compat.Judge0Languages {
		if l.Ours == lang {
			return l.ID
		}
	}
	return 0
}

// judge0Outcome reads Judge0's answer: status 3 (Accepted, with no
// expected output) is a success.
func judge0Outcome(elapsed time.Duration, code int, raw []byte) Outcome {
	var a struct {
		Stdout   *string `json:"stdout"`
		StatusID int     `json:"status_id"`
		WallTime string  `json:"wall_time"`
	}
	if code != http.StatusCreated || json.Unmarshal(raw, &a) != nil || a.StatusID != compat.J0Accepted {
		return Outcome{Elapsed: elapsed, Err: fmt.Errorf("POST /judge0/submissions: HTTP %d: %.200s", code, raw)}
	}
	wall, _ := strconv.ParseFloat(a.WallTime, 64)
	out := Outcome{Elapsed: elapsed, Server: map[string]float64{"time_ms": wall * 1000}}
	if a.Stdout != nil {
		out.Stdout = *a.Stdout
	}
	return out
}
