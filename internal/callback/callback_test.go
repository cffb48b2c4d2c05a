package callback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var secret = []byte("a-secret-of-some-length")

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"id":"x","status":"done"}`)
	now := time.Unix(1_800_000_000, 0)
	h := Sign(secret, now, body)
	if !strings.HasPrefix(h, "t=1800000000,v1=") || len(h) != len("t=1800000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	if err := Verify(secret, h, body, 5*time.Minute, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
	}{
		"other secret":     {[]byte("another-secret-entirely"), h, body, now},
		"other body":       {secret, h, []byte(`{"id":"x","status":"failed"}`), now},
		"too old":          {secret, h, body, now.Add(6 * time.Minute)},
		"from the future":  {secret, h, body, now.Add(-6 * time.Minute)},
		"no signature":     {secret, "t=1800000000", body, now},
		"no timestamp":     {secret, strings.TrimPrefix(h, "t=1800000000,"), body, now},
		"garbage":          {secret, "hello", body, now},
		"signature forged": {secret, "t=1800000000,v1=" + strings.Repeat("0", 64), body, now},
	} {
		if err := Verify(c.secret, c.header, c.body, 5*time.Minute, c.now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestCheck(t *testing.T) {
	none := Allow{}
	for _, u := range []string{
		"https://judge.example.org/hook", "http://203.0.113.7:8080/x?y=1", "https://[2001:db8::1]/cb",
	} {
		if err := none.Check(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for u, want := range map[string]string{
		"ftp://example.org/x":                               "http or https",
		"example.org/x":                                     "http or https",
		"https:///x":                                        "http or https",
		"mailto:a@example.org":                              "http or https",
		"https://user:pw@example.org/":                      "user name",
		"http://127.0.0.1/":                                 "internal address",
		"http://10.1.2.3/":                                  "internal address",
		"http://192.168.0.1/":                               "internal address",
		"http://172.16.5.5/":                                "internal address",
		"http://169.254.169.254/latest/":                    "internal address",
		"http://100.64.0.1/":                                "internal address",
		"http://0.0.0.0/":                                   "internal address",
		"http://[::1]/":                                     "internal address",
		"http://[fd00:ec2::254]/":                           "internal address",
		"http://[fe80::1]/":                                 "internal address",
		"http://[::ffff:127.0.0.1]/":                        "internal address",
		"http://localhost:8080/":                            "localhost",
		"http://a.localhost/":                               "localhost",
		"https://e.org/" + strings.Repeat("a", MaxURLBytes): "bytes",
	} {
		err := none.Check(u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v, want an error with %q", u, err, want)
		}
	}
	loop, err := ParseAllow([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.Check("http://127.0.0.1:9/x"); err != nil {
		t.Errorf("allowed loopback: %v", err)
	}
	if err := loop.Check("http://localhost:9/x"); err != nil {
		t.Errorf("allowed localhost: %v", err)
	}
	hosts, err := ParseAllow([]string{"hooks.example.org", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hosts.Check("https://hooks.example.org/a"); err != nil {
		t.Error(err)
	}
	if err := hosts.Check("https://other.example.org/a"); err == nil || !strings.Contains(err.Error(), "allow-list") {
		t.Errorf("a host off the list: %v", err)
	}
	for _, bad := range []string{"", "not a host/x", "a:b", "10.0.0.0/33"} {
		if _, err := ParseAllow([]string{bad}); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
}

// receiver is a local HTTP server that checks each callback's signature.
func receiver(t *testing.T, status func(n int32) int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header.Get(Header), b, time.Minute, time.Now()); err != nil {
			t.Errorf("callback with a bad signature: %v", err)
		}
		if r.Header.Get("Codeexec-Submission") != "id-1" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
		w.WriteHeader(status(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestSenderRefusesInternalAddressesAfterResolution(t *testing.T) {
	srv, n := receiver(t, func(int32) int { return 204 })
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	s := NewSender(secret, Allow{}, 5*time.Second)
	// "localhost" passes no literal check here: the refusal comes from
	// the address the name resolved to.
	for _, u := range []string{srv.URL, "http://localhost" + port + "/"} {
		if _, err := s.Send(context.Background(), http.MethodPost, u, "id-1", []byte(`{}`)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
	if n.Load() != 0 {
		t.Fatal("a refused callback reached the receiver")
	}
	allowed := NewSender(secret, Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, 5*time.Second)
	// A proxy in the environment is not used: the connection the check
	// sees is the one made.
	t.Setenv("HTTP_PROXY", "http://192.0.2.1:3128")
	status, err := allowed.Send(context.Background(), http.MethodPost, "http://localhost"+port+"/hook", "id-1", []byte(`{"x":1}`))
	if err != nil || status != 204 || n.Load() != 1 {
		t.Fatalf("allowed: %d %v after %d", status, err, n.Load())
	}
}

func TestSenderDoesNotFollowRedirects(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	s := NewSender(secret, Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, 5*time.Second)
	status, err := s.Send(context.Background(), http.MethodPost, redirect.URL, "id-1", []byte(`{}`))
	if err != nil || status != http.StatusTemporaryRedirect || hits.Load() != 0 {
		t.Fatalf("%d %v, target hit %d times", status, err, hits.Load())
	}
}
