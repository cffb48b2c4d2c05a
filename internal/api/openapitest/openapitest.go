// Package openapitest holds the service to its contract in tests: a
// transport that checks every request a test sends and every answer it
// gets against the OpenAPI document the service serves (GET
// /openapi.json), with github.com/pb33f/libopenapi-validator, a validator
// of OpenAPI 3.1 and its JSON Schema 2020-12.
//
// The rules: an answer must be one the contract describes (its status
// and body); a request the contract refuses must be refused (a 4xx);
// a request to a path the contract lacks must get a 404 or 405.
package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
)

// Checker validates exchanges against one contract.
type Checker struct {
	mu sync.Mutex // the validator's caches are not documented as safe for concurrent use
	v  validator.Validator
}

// New parses spec and checks that it is a valid OpenAPI document.
func New(spec []byte) (*Checker, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("the contract does not parse: %w", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("the contract does not build: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("the contract is not valid OpenAPI: %s", describe(verrs))
	}
	return &Checker{v: v}, nil
}

// Check validates one exchange: req as sent, with its body, and the answer
// with its body. It returns what breaks the rules, or nil.
func (c *Checker) Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	reqOK, reqErrs := c.v.ValidateHttpRequestSync(r)
	if !reqOK && unknownPath(reqErrs) {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s: the contract has no such operation, and the service answered %d", req.Method, req.URL.Path, resp.StatusCode)
		}
		return nil
	}
	if !reqOK && resp.StatusCode < 400 {
		return fmt.Errorf("%s %s: the service answered %d to a request its contract refuses: %s", req.Method, req.URL.Path, resp.StatusCode, describe(reqErrs))
	}
	a := *resp
	a.Body = io.NopCloser(bytes.NewReader(respBody))
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	if ok, errs := c.v.ValidateHttpResponse(r, &a); !ok {
		return fmt.Errorf("%s %s: the answer %d breaks the contract: %s (body %.300s)", req.Method, req.URL.Path, resp.StatusCode, describe(errs), respBody)
	}
	return nil
}

func unknownPath(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			return true
		}
	}
	return false
}

func describe(errs []*verrors.ValidationError) string {
	var parts []string
	for _, e := range errs {
		s := e.Message
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		for _, se := range e.SchemaValidationErrors {
			s += fmt.Sprintf(" [%s: %s]", se.KeywordLocation, se.Reason)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Transport is an http.RoundTripper that checks each exchange with a
// watched host against the contract that host serves at /openapi.json
// (fetched once), and keeps what breaks it for Broken. Exchanges with
// other hosts pass unchecked.
type Transport struct {
	Base http.RoundTripper

	mu       sync.Mutex
	watched  map[string]bool
	checkers map[string]*Checker // by host, once fetched
	broken   map[string][]error  // by host
}

// Broken returns, and forgets, what broke the contract of the service at
// baseURL.
func (t *Transport) Broken(baseURL string) []error {
	u, err := url.Parse(baseURL)
	if err != nil {
		return []error{err}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.broken[u.Host]
	delete(t.broken, u.Host)
	return out
}

func (t *Transport) report(host string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken == nil {
		t.broken = map[string][]error{}
	}
	t.broken[host] = append(t.broken[host], err)
}

// Watch checks the exchanges with the service at baseURL from now on.
func (t *Transport) Watch(baseURL string) {
	u, err := url.Parse(baseURL)
	if err != nil {
		panic(err) // a test's own URL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.watched == nil {
		t.watched = map[string]bool{}
	}
	t.watched[u.Host] = true
	delete(t.checkers, u.Host) // a new service on a reused port
}

// RoundTrip sends req with Base and checks the exchange.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := t.Base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	c := t.checker(req)
	if c == nil {
		return resp, nil
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		// The service went away mid-answer (a crash test): nothing to check.
		return resp, nil
	}
	if cerr := c.Check(req, reqBody, resp, respBody); cerr != nil {
		t.report(req.URL.Host, cerr)
	}
	return resp, nil
}

func (t *Transport) checker(req *http.Request) *Checker {
	t.mu.Lock()
	watched := t.watched[req.URL.Host]
	c, ok := t.checkers[req.URL.Host]
	t.mu.Unlock()
	if !watched {
		return nil
	}
	if ok {
		return c
	}
	u := *req.URL
	u.Path, u.RawQuery, u.RawPath = "/openapi.json", "", ""
	if resp, err := t.Base.RoundTrip(&http.Request{Method: http.MethodGet, URL: &u, Header: http.Header{}, Host: req.Host}); err == nil {
		spec, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			var err error
			if c, err = New(spec); err != nil {
				t.report(req.URL.Host, err)
				c = nil
			}
		} else {
			t.report(req.URL.Host, fmt.Errorf("GET %s: %d, want the contract", u.String(), resp.StatusCode))
		}
	} else {
		// A service that is not up yet: ask again next time.
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.checkers == nil {
		t.checkers = map[string]*Checker{}
	}
	t.checkers[req.URL.Host] = c
	return c
}
