package lane

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/codeexec/codeexec/internal/oci"
	"golang.org/x/sys/unix"
)

// FeedbackFiles are the files of a feedback directory the service reads
// back after a run: the Kattis format's judge message, team message and
// score. Anything else a validator writes there is ignored.
var FeedbackFiles = []string{"judgemessage.txt", "teammessage.txt", "score.txt"}

// FeedbackBytes is how much of each feedback file is read.
const FeedbackBytes = 64 << 10

// makeFeedbackDir creates the lane's feedback directory, the sandbox
// user's, next to its data directory.
func (l *Lane) makeFeedbackDir() error {
	dir := filepath.Join(l.env.JobsDir, fmt.Sprintf("%s-l%d-feedback", l.prog.ID, l.n))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create feedback directory: %w", err)
	}
	if err := os.Chown(dir, oci.SandboxUID, oci.SandboxGID); err != nil {
		return fmt.Errorf("hand feedback directory to the sandbox user: %w", err)
	}
	l.feedback = dir
	return nil
}

// emptyFeedback removes whatever an earlier run left in the feedback
// directory (os.RemoveAll removes links, it does not follow them).
func (l *Lane) emptyFeedback() error {
	if l.feedback == "" {
		return nil
	}
	entries, err := os.ReadDir(l.feedback)
	if err != nil {
		return fmt.Errorf("empty feedback directory: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(l.feedback, e.Name())); err != nil {
			return fmt.Errorf("empty feedback directory: %w", err)
		}
	}
	return nil
}

// readFeedback reads the feedback files a run wrote. The run chose what
// they are: a link is not followed, a FIFO or device is not opened for
// long (O_NONBLOCK) and not read, and at most FeedbackBytes are read.
func (l *Lane) readFeedback() (map[string]string, error) {
	if l.feedback == "" {
		return nil, nil
	}
	dir, err := os.Open(l.feedback)
	if err != nil {
		return nil, fmt.Errorf("read feedback: %w", err)
	}
	defer dir.Close()
	out := map[string]string{}
	for _, name := range FeedbackFiles {
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			out[name] = "" // there, but not a file the service reads: a link or worse
			continue
		}
		f := os.NewFile(uintptr(fd), name)
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			f.Close()
			out[name] = ""
			continue
		}
		b, err := io.ReadAll(io.LimitReader(f, FeedbackBytes))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read feedback %s: %w", name, err)
		}
		out[name] = string(b)
	}
	return out, nil
}
