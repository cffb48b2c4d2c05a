package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// Attack class 11: network. The host listens on its loopback (standing in
// for the service's own port and any local daemon), on its outward address
// and on an abstract unix socket; the sandbox, in an empty network
// namespace with only its own loopback, must reach none of them.

func TestAttackNetwork(t *testing.T) {
	r := openAttackRunner(t)

	tcp := mustListen(t, "tcp4", "127.0.0.1:0")
	tcp6 := mustListen(t, "tcp6", "[::1]:0")
	outward := mustListen(t, "tcp4", hostAddress(t)+":0")
	abstract := mustListen(t, "unix", fmt.Sprintf("@codeexec-attack-%d", os.Getpid()))
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()

	targets, _ := json.Marshal(map[string]any{
		"loopback":  tcp.Addr().(*net.TCPAddr).Port,
		"loopback6": tcp6.Addr().(*net.TCPAddr).Port,
		"outward":   []any{outward.Addr().(*net.TCPAddr).IP.String(), outward.Addr().(*net.TCPAddr).Port},
		"udp":       udp.LocalAddr().(*net.UDPAddr).Port,
		"abstract":  abstract.Addr().String()[1:],
	})
	res := run(t, r, "python", `import errno, json, socket, sys
t = json.load(sys.stdin)
eai = {getattr(socket, n): n for n in dir(socket) if n.startswith('EAI_')}
def attempt(name, f):
    try:
        print(name, f())
    except socket.gaierror as e:
        print(name, eai.get(e.errno, e.errno))
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e))
def tcp(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1)
    s.connect(addr)
    return 'connected'
def udp(addr):
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', addr)
    return 'sent'
attempt('tcp to an outside address:', lambda: tcp(socket.AF_INET, ('1.1.1.1', 80)))
attempt('udp to an outside address:', lambda: udp(('8.8.8.8', 53)))
attempt('tcp to the host loopback:', lambda: tcp(socket.AF_INET, ('127.0.0.1', t['loopback'])))
attempt('tcp to the host loopback v6:', lambda: tcp(socket.AF_INET6, ('::1', t['loopback6'])))
attempt('tcp to the host address:', lambda: tcp(socket.AF_INET, tuple(t['outward'])))
attempt('udp to the host loopback:', lambda: udp(('127.0.0.1', t['udp'])))
attempt('dns lookup:', lambda: socket.getaddrinfo('example.com', 80))
attempt('raw socket:', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) and 'created')
attempt('ping socket:', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) and 'created')
attempt('packet socket:', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW) and 'created')
attempt('vsock socket:', lambda: socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) and 'created')
attempt('unix abstract socket of the host:', lambda: socket.socket(socket.AF_UNIX).connect('\0' + t['abstract']) or 'connected')
print('interfaces:', [n for _, n in socket.if_nameindex()])
`, string(targets))

	wantStatus(t, res, StatusSuccess)
	// udp to the host loopback is "sent": it goes to the sandbox's own
	// loopback, where nobody listens; the host's socket gets nothing.
	wantStdout(t, res, `tcp to an outside address: ENETUNREACH
udp to an outside address: ENETUNREACH
tcp to the host loopback: ECONNREFUSED
tcp to the host loopback v6: ECONNREFUSED
tcp to the host address: ENETUNREACH
udp to the host loopback: sent
dns lookup: EAI_AGAIN
raw socket: EPERM
ping socket: EACCES
packet socket: EPERM
vsock socket: EPERM
unix abstract socket of the host: ECONNREFUSED
interfaces: ['lo']
`)

	for _, l := range []net.Listener{tcp, tcp6, outward, abstract} {
		wantNoConnection(t, l)
	}
	udp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, from, err := udp.ReadFrom(make([]byte, 16)); err == nil {
		t.Errorf("the host's UDP socket got a datagram from %v", from)
	}
}

// mustListen listens on addr and closes the listener at the end of the test.
func mustListen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// wantNoConnection fails if a connection is waiting on l, then proves that
// l does accept one from the host, so that the first check means something.
func wantNoConnection(t *testing.T, l net.Listener) {
	t.Helper()
	type deadliner interface{ SetDeadline(time.Time) error }
	l.(deadliner).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Errorf("%s accepted a connection from the sandbox", l.Addr())
		return
	} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("accept on %s: %v", l.Addr(), err)
	}
	c, err := net.Dial(l.Addr().Network(), l.Addr().String())
	if err != nil {
		t.Fatalf("the host cannot reach its own listener %s: %v", l.Addr(), err)
	}
	c.Close()
}

// hostAddress returns an IPv4 address of the host that is not loopback.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("the host has no IPv4 address besides loopback")
	return ""
}
