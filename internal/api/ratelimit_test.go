package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeexec/codeexec/internal/runner"
)

// runFrom is a valid POST /run from remoteAddr.
func runFrom(remoteAddr string) *http.Request {
	r := newRunRequest(`{"language":"python","code":"x"}`)
	r.RemoteAddr = remoteAddr
	return r
}

// countingRunner succeeds and counts its calls.
func countingRunner(n *atomic.Int64) func(context.Context, runner.Request) (runner.Result, error) {
	return func(ctx context.Context, req runner.Request) (runner.Result, error) {
		n.Add(1)
		return succeed(ctx, req)
	}
}

func TestRateLimit(t *testing.T) {
	t.Run("the request after RateLimit from one address is a JSON 429 with Retry-After", func(t *testing.T) {
		var calls atomic.Int64
		h, _ := newTestAPI(t, countingRunner(&calls))
		for i := range DefaultRateLimit {
			w := serve(h, runFrom("192.0.2.1:1234"))
			if w.Code != http.StatusOK {
				t.Fatalf("request %d: got status %d, want 200", i+1, w.Code)
			}
			if got, want := w.Header().Get("X-RateLimit-Limit"), strconv.Itoa(DefaultRateLimit); got != want {
				t.Fatalf("request %d: got X-RateLimit-Limit %q, want %q", i+1, got, want)
			}
			if got, want := w.Header().Get("X-RateLimit-Remaining"), strconv.Itoa(DefaultRateLimit-i-1); got != want {
				t.Fatalf("request %d: got X-RateLimit-Remaining %q, want %q", i+1, got, want)
			}
		}

		w := serve(h, runFrom("192.0.2.1:5678")) // another port, same address
		if got, want := w.Code, http.StatusTooManyRequests; got != want {
			t.Fatalf("got status %d, want %d", got, want)
		}
		if got, want := errorMessage(t, w), "rate limit exceeded: at most 100 requests per 15m from one address; retry after 900 seconds"; got != want {
			t.Errorf("got error %q, want %q", got, want)
		}
		if got, want := w.Header().Get("Retry-After"), "900"; got != want {
			t.Errorf("got Retry-After %q, want %q", got, want)
		}
		if got, want := w.Header().Get("X-RateLimit-Remaining"), "0"; got != want {
			t.Errorf("got X-RateLimit-Remaining %q, want %q", got, want)
		}
		reset, err := strconv.ParseInt(w.Header().Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < time.Now().Unix() || reset > time.Now().Add(DefaultRateWindow+time.Second).Unix() {
			t.Errorf("got X-RateLimit-Reset %q, want a Unix time within the next window", w.Header().Get("X-RateLimit-Reset"))
		}
		if got, want := calls.Load(), int64(DefaultRateLimit); got != want {
			t.Errorf("runner ran %d times, want %d: the refused request must not run", got, want)
		}
	})

	t.Run("another address keeps its own allowance", func(t *testing.T) {
		h, _ := newTestAPI(t, succeed, func(c *Config) { c.RateLimit = 3 })
		for range 4 {
			serve(h, runFrom("192.0.2.1:1234"))
		}
		if got, want := serve(h, runFrom("192.0.2.1:1234")).Code, http.StatusTooManyRequests; got != want {
			t.Fatalf("first address: got status %d, want %d", got, want)
		}
		if got, want := serve(h, runFrom("198.51.100.7:1234")).Code, http.StatusOK; got != want {
			t.Errorf("second address: got status %d, want %d", got, want)
		}
	})

	t.Run("forged X-Forwarded-For, X-Real-IP and True-Client-IP do not change the key", func(t *testing.T) {
		h, _ := newTestAPI(t, succeed)
		var last *httptest.ResponseRecorder
		for i := range DefaultRateLimit + 1 {
			r := runFrom("192.0.2.1:1234")
			forged := fmt.Sprintf("203.0.113.%d", i%250+1)
			r.Header.Set("X-Forwarded-For", forged)
			r.Header.Set("X-Real-IP", forged)
			r.Header.Set("True-Client-IP", forged)
			last = serve(h, r)
		}
		if got, want := last.Code, http.StatusTooManyRequests; got != want {
			t.Errorf("request %d with a fresh forged address: got status %d, want %d", DefaultRateLimit+1, got, want)
		}
	})

	t.Run("forged headers cannot spend another client's allowance", func(t *testing.T) {
		h, _ := newTestAPI(t, succeed, func(c *Config) { c.RateLimit = 2 })
		for range 3 {
			r := runFrom("192.0.2.66:1234")
			r.Header.Set("X-Forwarded-For", "198.51.100.7")
			serve(h, r)
		}
		if got, want := serve(h, runFrom("198.51.100.7:1234")).Code, http.StatusOK; got != want {
			t.Errorf("victim: got status %d, want %d", got, want)
		}
	})

	t.Run("addresses in one IPv6 /64 share an allowance", func(t *testing.T) {
		h, _ := newTestAPI(t, succeed, func(c *Config) { c.RateLimit = 1 })
		serve(h, runFrom("[2001:db8:1:2::1]:1234"))
		if got, want := serve(h, runFrom("[2001:db8:1:2:ffff::9]:1234")).Code, http.StatusTooManyRequests; got != want {
			t.Errorf("got status %d, want %d", got, want)
		}
		if got, want := serve(h, runFrom("[2001:db8:1:3::1]:1234")).Code, http.StatusOK; got != want {
			t.Errorf("another /64: got status %d, want %d", got, want)
		}
	})

	t.Run("RateLimit 0 disables the limiter", func(t *testing.T) {
		h, _ := newTestAPI(t, succeed, func(c *Config) { c.RateLimit = 0 })
		for i := range DefaultRateLimit + 50 {
			w := serve(h, runFrom("192.0.2.1:1234"))
			if w.Code != http.StatusOK {
				t.Fatalf("request %d: got status %d, want 200", i+1, w.Code)
			}
			if got := w.Header().Get("X-RateLimit-Limit"); got != "" {
				t.Fatalf("got X-RateLimit-Limit %q, want none", got)
			}
		}
	})

	t.Run("only POST /run is limited", func(t *testing.T) {
		h, _ := newTestAPI(t, succeed, func(c *Config) { c.RateLimit = 1 })
		serve(h, runFrom("192.0.2.1:1234"))
		serve(h, runFrom("192.0.2.1:1234"))
		r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		if got, want := serve(h, r).Code, http.StatusOK; got != want {
			t.Errorf("healthz: got status %d, want %d", got, want)
		}
	})
}

func TestKeyByRemoteAddr(t *testing.T) {
	tests := []struct {
		name       string
		remoteAddr string
		want       string
	}{
		{name: "an IPv4 peer is keyed by its address without the port", remoteAddr: "192.0.2.1:1234", want: "192.0.2.1"},
		{name: "an IPv6 peer is keyed by its /64", remoteAddr: "[2001:db8:1:2:3:4:5:6]:1234", want: "2001:db8:1:2::"},
		{name: "an IPv4-mapped IPv6 peer is keyed as IPv4", remoteAddr: "[::ffff:192.0.2.1]:1234", want: "192.0.2.1"},
		{name: "a RemoteAddr without a port is used as it is", remoteAddr: "192.0.2.1", want: "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/run", nil)
			r.RemoteAddr = tt.remoteAddr
			r.Header.Set("X-Forwarded-For", "203.0.113.9")
			got, err := keyByRemoteAddr(r)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got key %q, want %q", got, tt.want)
			}
		})
	}
}
