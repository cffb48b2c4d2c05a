package method

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RunCommand runs argv in dir with stdin and returns its stdout. A failure
// carries the tail of its stderr. On ctx's end the command gets SIGTERM
// (which ctr and docker forward to the container, so it is removed), then
// SIGKILL five seconds later.
func RunCommand(ctx context.Context, dir, stdin string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", filepath.Base(argv[0]), err, Tail(stderr.String()))
	}
	return stdout.String(), nil
}

// Tail returns the last few lines of s, for an error message.
func Tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return Clip(strings.Join(lines, " | "))
}
