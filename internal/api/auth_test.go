package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/codeexec/codeexec/internal/runner"
)

const testKey = "0123456789abcdef-secret"

func authHandler(t *testing.T, change func(*Config)) http.Handler {
	t.Helper()
	cfg := DefaultConfig()
	cfg.APIKeys = []string{testKey, "another-key-of-16-chars"}
	if change != nil {
		change(&cfg)
	}
	return NewHandler(&fakeRunner{run: func(context.Context, runner.Request) (runner.Result, error) {
		return runner.Result{ID: "x", Status: runner.StatusSuccess}, nil
	}}, cfg, nil)
}

func postWith(h http.Handler, remote string, headers map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/run", strings.NewReader(`{"language":"python","code":"print(1)"}`))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = remote
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAPIKeys(t *testing.T) {
	h := authHandler(t, nil)
	for _, tc := range []struct {
		name   string
		header string
		want   int
	}{
		{"no Authorization header is 401", "", http.StatusUnauthorized},
		{"a wrong key is 401", "Bearer wrong-key-0000000000", http.StatusUnauthorized},
		{"a key without the Bearer scheme is 401", testKey, http.StatusUnauthorized},
		{"a valid key is served", "Bearer " + testKey, http.StatusOK},
		{"the second valid key is served", "Bearer another-key-of-16-chars", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := postWith(h, "192.0.2.1:1234", map[string]string{"Authorization": tc.header})
			if w.Code != tc.want {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if tc.want == http.StatusUnauthorized && (w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(w.Body.String(), "API key")) {
				t.Errorf("401 without WWW-Authenticate or a clear message: %v %s", w.Header(), w.Body)
			}
		})
	}
	t.Run("probes and metrics need no key", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusOK {
				t.Errorf("%s: %d", path, w.Code)
			}
		}
	})
	t.Run("runtimes needs a key", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/runtimes", nil))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("got %d", w.Code)
		}
	})
	t.Run("short keys are refused at start-up", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.APIKeys = []string{"short"}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "at least 16") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestRateLimitKeys(t *testing.T) {
	t.Run("keyed per API key, two keys from one address have their own buckets", func(t *testing.T) {
		h := authHandler(t, func(c *Config) { c.RateLimit = 1; c.RateLimitByKey = true })
		a := postWith(h, "192.0.2.1:1", map[string]string{"Authorization": "Bearer " + testKey})
		b := postWith(h, "192.0.2.1:1", map[string]string{"Authorization": "Bearer another-key-of-16-chars"})
		c := postWith(h, "192.0.2.1:1", map[string]string{"Authorization": "Bearer " + testKey})
		if a.Code != 200 || b.Code != 200 || c.Code != http.StatusTooManyRequests {
			t.Fatalf("got %d %d %d, want 200 200 429", a.Code, b.Code, c.Code)
		}
	})
	t.Run("behind a trusted proxy the forwarded client is the key", func(t *testing.T) {
		h := authHandler(t, func(c *Config) { c.APIKeys = nil; c.RateLimit = 1; c.TrustedProxies = []string{"10.0.0.0/8"} })
		a := postWith(h, "10.1.2.3:1", map[string]string{"X-Forwarded-For": "198.51.100.7"})
		b := postWith(h, "10.1.2.3:1", map[string]string{"X-Forwarded-For": "198.51.100.8"})
		c := postWith(h, "10.1.2.3:1", map[string]string{"X-Forwarded-For": "203.0.113.9, 198.51.100.7"})
		if a.Code != 200 || b.Code != 200 || c.Code != http.StatusTooManyRequests {
			t.Fatalf("got %d %d %d, want 200 200 429 (the right-most untrusted hop is the client)", a.Code, b.Code, c.Code)
		}
	})
	t.Run("from an untrusted peer X-Forwarded-For is ignored", func(t *testing.T) {
		h := authHandler(t, func(c *Config) { c.APIKeys = nil; c.RateLimit = 1; c.TrustedProxies = []string{"10.0.0.0/8"} })
		a := postWith(h, "192.0.2.50:1", map[string]string{"X-Forwarded-For": "198.51.100.1"})
		b := postWith(h, "192.0.2.50:1", map[string]string{"X-Forwarded-For": "198.51.100.2"})
		if a.Code != 200 || b.Code != http.StatusTooManyRequests {
			t.Fatalf("got %d %d, want 200 429", a.Code, b.Code)
		}
	})
}
