package bench

import (
	"strings"
	"testing"
)

func TestServeArgs(t *testing.T) {
	c := instanceConfig{name: "warm", socket: "/run/c.sock", namespace: "ns", stateDir: "/tmp/s", args: []string{"--pool-size", "4"}}
	args := c.serveArgs("127.0.0.1:4000")
	for _, seq := range [][]string{
		{"serve", "--addr", "127.0.0.1:4000"},
		{"--containerd-socket", "/run/c.sock"}, {"--namespace", "ns"}, {"--state-dir", "/tmp/s"},
		{"--rate-limit", "0"},
		{"--pool-size", "4"},
	} {
		if !strings.Contains(" "+strings.Join(args, " ")+" ", " "+strings.Join(seq, " ")+" ") {
			t.Errorf("serve args lack %v: %v", seq, args)
		}
	}
	if !strings.Contains(flagHint("flag provided but not defined: -pool-size"), "--cold-args= --warm-args=") {
		t.Error("an unknown serve flag gives no hint")
	}
}
