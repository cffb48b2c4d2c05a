package api

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// requestIDHeader carries the request id in responses.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client-chosen request id.
const maxRequestIDLen = 128

// dropUnsafeRequestID removes an inbound request id that is not a short token
// of safe characters, so that middleware.RequestID makes one instead. A client
// may choose its id to find its requests in our logs, but not write arbitrary
// text into them or into response headers.
func dropUnsafeRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(middleware.RequestIDHeader); id != "" && !safeRequestID(id) {
			r = r.Clone(r.Context()) // handlers must not change the request they were given
			r.Header.Del(middleware.RequestIDHeader)
		}
		next.ServeHTTP(w, r)
	})
}

// safeRequestID reports whether id is 1 to maxRequestIDLen characters from
// [A-Za-z0-9._:/-], which includes the ids middleware.RequestID makes.
func safeRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("._:/-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// echoRequestID returns the request id in the X-Request-Id response header, so
// a client can quote it when reporting a 500 whose details are only in the log.
func echoRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(requestIDHeader, middleware.GetReqID(r.Context()))
		next.ServeHTTP(w, r)
	})
}

// requestIDAttr is the request id as a log attribute.
func requestIDAttr(r *http.Request) slog.Attr {
	return slog.String("request_id", middleware.GetReqID(r.Context()))
}

// recoverer turns a panic into a logged stack and a JSON 500. Unlike chi's
// Recoverer it answers in JSON and logs through slog. http.ErrAbortHandler is
// re-panicked: it is how a handler asks the server to drop the connection.
func (h *handler) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.LogAttrs(r.Context(), slog.LevelError, "handler panicked",
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())), requestIDAttr(r))
			if tw.wroteHeader {
				return // the status is out; a second one would corrupt the response
			}
			status, msg := statusOf(errPanic)
			writeJSON(w, status, errorBody{Error: msg})
		}()
		next.ServeHTTP(tw, r)
	})
}

// trackingWriter notes whether the response has started.
type trackingWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wroteHeader = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(p []byte) (int, error) {
	t.wroteHeader = true
	return t.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// rateLimit returns the limiter for POST /run, or nothing when RateLimit is 0.
// On every response it sets X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset, and on a 429 also Retry-After (the window, in seconds).
func (h *handler) rateLimit() []func(http.Handler) http.Handler {
	if h.cfg.RateLimit == 0 {
		return nil
	}
	return []func(http.Handler) http.Handler{httprate.LimitBy(h.cfg.RateLimit, h.cfg.RateWindow, h.rateKey,
		httprate.WithLimitHandler(h.rateLimited),
		httprate.WithErrorHandler(h.writeError), // the in-memory counter never fails; if one does, a JSON 500
	)}
}

// keyByRemoteAddr keys the limiter by the TCP peer, as httprate.KeyByIP does.
// It never reads X-Forwarded-For, X-Real-IP or True-Client-IP: the client
// writes those, and could rotate them to get a fresh bucket per request or pin
// them to someone else's address to lock that client out. Behind a reverse
// proxy every client shares the proxy's bucket; trusting the proxy's header
// must then be an explicit, separate decision. IPv6 peers are keyed by their
// /64, which one client usually controls in full.
func keyByRemoteAddr(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return httprate.CanonicalizeIP(host), nil
}

// rateKey is the rate limiter's key: the API key when RateLimitByKey is
// set, otherwise the client address (the TCP peer, or what a trusted proxy
// says it forwarded for).
func (h *handler) rateKey(r *http.Request) (string, error) {
	if h.cfg.RateLimitByKey {
		if k, ok := h.apiKey(r); ok {
			return k, nil
		}
	}
	if len(h.trusted) > 0 {
		return httprate.CanonicalizeIP(h.clientAddr(r)), nil
	}
	return keyByRemoteAddr(r)
}

// rateLimited answers a request over the limit. httprate has already set
// Retry-After and the X-RateLimit headers.
func (h *handler) rateLimited(w http.ResponseWriter, r *http.Request) {
	h.metrics.RateLimited()
	msg := fmt.Sprintf("rate limit exceeded: at most %d requests per %s from one address", h.cfg.RateLimit, shortDuration(h.cfg.RateWindow))
	if s := w.Header().Get("Retry-After"); s != "" {
		msg += "; retry after " + s + " seconds"
	}
	h.writeError(w, r, rateLimitError(msg))
}

// shortDuration formats d without trailing zero units: "15m", not "15m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
