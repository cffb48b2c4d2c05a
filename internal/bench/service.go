package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// service runs programs through POST /run of a codeexec instance and times
// the whole request on the client side: connection reuse included, as a
// client that keeps its connection open sees it.
type service struct {
	name   string
	url    string
	pid    int // the instance's process, whose CPU time the throughput profile counts
	client *http.Client
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
	body, err := json.Marshal(map[string]string{"language": p.Language, "code": p.Code, "input": p.Input})
	if err != nil {
		return Outcome{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/run", bytes.NewReader(body))
	if err != nil {
		return Outcome{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Outcome{Elapsed: time.Since(start), Err: fmt.Errorf("POST /run: %w", err)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil {
		return Outcome{Elapsed: elapsed, Err: fmt.Errorf("read response: %w", err)}
	}
	stdout, server, err := checkResponse(resp.StatusCode, raw)
	return Outcome{Elapsed: elapsed, Stdout: stdout, Server: server, Err: err}
}

// close drops the idle connections to the instance.
func (s *service) close() { s.client.CloseIdleConnections() }
