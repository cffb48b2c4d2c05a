// Package callback posts a finished submission to the URL its client
// gave, signed, and only to addresses the operator allows.
//
// The signature is Stripe's scheme, which webhook receivers know: the
// header Codeexec-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the shared secret>. A receiver recomputes it, compares
// in constant time and refuses a timestamp too far from its clock (Verify
// does all three).
//
// A callback URL is a request the service makes on its client's behalf, so
// it must not reach the operator's own network: by default every address
// that is loopback, private, link-local (the cloud metadata address
// 169.254.169.254 included), shared (100.64.0.0/10), unspecified or
// multicast is refused. The check is made on the address each connection
// is about to use, after DNS resolution and on every attempt, so a name
// that resolves somewhere else the second time gains nothing. Redirects
// are not followed, and no proxy is used.
package callback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Header is the signature's header.
const Header = "Codeexec-Signature"

// MaxURLBytes bounds a callback URL.
const MaxURLBytes = 2048

// ErrRefused is an address the allow-list does not admit.
var ErrRefused = errors.New("callback address refused")

// Sign returns the Header value for body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a Header value against body: a v1 signature under secret,
// with a timestamp within tolerance of now.
func Verify(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp is %s away from now", d.Round(time.Second))
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("signature does not match")
}

// Allow is the set of addresses callbacks may reach.
type Allow struct {
	// Prefixes are admitted even when private or loopback (for a receiver
	// on the operator's own network, or a test on loopback).
	Prefixes []netip.Prefix
	// Hosts, when not empty, are the only host names (or literal
	// addresses) a callback URL may name.
	Hosts []string
}

// ParseAllow reads a list of CIDR ranges (admitted addresses) and host
// names (the only hosts allowed, when any is given).
func ParseAllow(list []string) (Allow, error) {
	var a Allow
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			a.Prefixes = append(a.Prefixes, p.Masked())
			continue
		}
		if s == "" || strings.ContainsAny(s, "/:@ ") {
			return a, fmt.Errorf("callback allow-list: %q is neither a CIDR range nor a host name", s)
		}
		a.Hosts = append(a.Hosts, strings.ToLower(s))
	}
	return a, nil
}

// shared is RFC 6598's carrier-grade NAT range, which netip does not
// count as private.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// admits reports whether a connection to addr may be made.
func (a Allow) admits(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.Prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return !(addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() || shared.Contains(addr) ||
		addr == netip.IPv4Unspecified() || addr.Is4() && addr.As4()[0] == 0 || addr == netip.MustParseAddr("255.255.255.255"))
}

// Check validates a callback URL as a client sends it: http or https, a
// host, no user info, not too long, and an address or host the list
// admits. A host name is resolved only when a connection is made.
func (a Allow) Check(raw string) error {
	if len(raw) > MaxURLBytes {
		return fmt.Errorf("callback_url is %d bytes; the limit is %d", len(raw), MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("callback_url must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("callback_url must not carry a user name or password")
	}
	host := strings.ToLower(u.Hostname())
	if len(a.Hosts) > 0 && !slices.Contains(a.Hosts, host) {
		return fmt.Errorf("callback_url: host %q is not in the service's callback allow-list", host)
	}
	if addr, err := netip.ParseAddr(host); err == nil && !a.admits(addr) {
		return fmt.Errorf("callback_url: %s is a loopback, private, link-local or otherwise internal address, which the service does not call", host)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if !a.admits(netip.MustParseAddr("127.0.0.1")) {
			return errors.New("callback_url: localhost is not called")
		}
	}
	return nil
}

// Sender posts callbacks.
type Sender struct {
	secret []byte
	client *http.Client
}

// NewSender returns a sender signing with secret, whose connections go
// only where allow admits, each attempt bounded by timeout.
func NewSender(secret []byte, allow Allow, timeout time.Duration) *Sender {
	dialer := &net.Dialer{
		Timeout: timeout,
		// Control runs for every address the dialer tries, after
		// resolution: the one place where the address is final.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrRefused, address)
			}
			if !allow.admits(ap.Addr()) {
				return fmt.Errorf("%w: %s is an internal address", ErrRefused, ap.Addr())
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would make the connection the check sees
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &Sender{secret: secret, client: &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, not a new destination
		},
	}}
}

// Send sends body to rawURL with method (POST, or PUT as Judge0's
// callbacks), signed, and returns the answer's status; a status outside
// 2xx is not an error here, the caller decides.
func (s *Sender) Send(ctx context.Context, method, rawURL, id string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "codeexec-callback")
	req.Header.Set("Codeexec-Submission", id)
	req.Header.Set(Header, Sign(s.secret, time.Now(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
