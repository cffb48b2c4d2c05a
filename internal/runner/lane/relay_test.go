package lane

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func fifos(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestRelayCopiesAndRecords plays both sides of a conversation through
// the relay, as a submission (a) and a validator (b) would: the validator
// asks, the submission answers, and the transcript has both, marked.
func TestRelayCopiesAndRecords(t *testing.T) {
	f := fifos(t, "a-says", "b-hears", "b-says", "a-hears")
	r := startRelay(1<<10, f[0], f[1], f[2], f[3])
	done := make(chan string)
	go func() { // the validator: stdout first
		out, _ := os.OpenFile(f[2], os.O_WRONLY, 0)
		in, _ := os.Open(f[1])
		rd := bufio.NewReader(in)
		for i := 1; i <= 3; i++ {
			out.WriteString(strconv.Itoa(i) + "\n")
			line, _ := rd.ReadString('\n')
			if strings.TrimSpace(line) != strconv.Itoa(2*i) {
				done <- "bad answer " + line
				return
			}
		}
		out.Close()
		_, err := rd.ReadString('\n')
		in.Close()
		done <- "validator saw " + err.Error()
	}()
	in, _ := os.Open(f[3]) // the submission: stdin first
	out, _ := os.OpenFile(f[0], os.O_WRONLY, 0)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		n, _ := strconv.Atoi(sc.Text())
		out.WriteString(strconv.Itoa(2*n) + "\n")
	}
	out.Close() // end-of-file reached the submission: the validator closed
	in.Close()
	if got := <-done; got != "validator saw EOF" {
		t.Fatal(got)
	}
	tr := r.stop()
	if want := "<1\n>2\n<2\n>4\n<3\n>6\n"; tr.Text != want || tr.Truncated {
		t.Fatalf("transcript %q (truncated %v), want %q", tr.Text, tr.Truncated, want)
	}
}

// TestRelayStopsWhenASideNeverCame: the service's opens waiting for a
// side that never opened its FIFOs are released, and the transcript is
// cut at its bound.
func TestRelayStopsWhenASideNeverCame(t *testing.T) {
	f := fifos(t, "a-says", "b-hears", "b-says", "a-hears")
	r := startRelay(8, f[0], f[1], f[2], f[3])
	out, err := os.OpenFile(f[0], os.O_WRONLY, 0) // only the submission comes, and speaks
	if err != nil {
		t.Fatal(err)
	}
	go func() { out.WriteString("a long line of more than eight bytes\n"); out.Close() }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	tr := r.stop()
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stop took %s", d)
	}
	if len(tr.Text) > 8 {
		t.Errorf("transcript %q over its bound", tr.Text)
	}
}
