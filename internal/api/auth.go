package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// errUnauthorized is a request without a valid API key while keys are on.
var errUnauthorized = errors.New("unauthorized")

// requireKey refuses requests without one of cfg.APIKeys as a Bearer token.
// With no keys configured (the default) it lets everything through. Keys are
// compared in constant time, all of them, so timing tells nothing.
func (h *handler) requireKey(next http.Handler) http.Handler {
	if len(h.cfg.APIKeys) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.apiKey(r); !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="codeexec"`)
			h.writeError(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiKey returns a stable, non-secret name of the request's valid key.
func (h *handler) apiKey(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return "", false
	}
	match := 0
	for _, k := range h.cfg.APIKeys {
		match |= subtle.ConstantTimeCompare([]byte(token), []byte(k))
	}
	if match != 1 {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	return "key:" + hex.EncodeToString(sum[:8]), true
}

// clientAddr is the address a request is from: the TCP peer, or, when the
// peer is a configured trusted proxy, the right-most address in
// X-Forwarded-For that is not itself a trusted proxy. Without trusted
// proxies, forwarded headers are ignored: any client can write them.
func (h *handler) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(h.trusted) == 0 || !h.isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break // a malformed hop: stop at the last address we could trust
		}
		if !h.isTrusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (h *handler) isTrusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range h.trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
