package sandbox

import (
	"strings"
	"testing"
)

func TestCapWriter(t *testing.T) {
	t.Run("output under the cap is kept whole and does not trigger", func(t *testing.T) {
		calls := 0
		w := NewCapWriter(10, func() { calls++ })
		for _, s := range []string{"hello", "world"} {
			if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
				t.Fatalf("write returned %d, %v", n, err)
			}
		}
		got, truncated := w.Result()
		if got != "helloworld" || truncated || calls != 0 {
			t.Fatalf("got %q truncated=%v calls=%d", got, truncated, calls)
		}
	})
	t.Run("output over the cap is cut, never errors, and triggers once", func(t *testing.T) {
		calls := 0
		w := NewCapWriter(4, func() { calls++ })
		for range 3 {
			p := []byte(strings.Repeat("x", 1000))
			if n, err := w.Write(p); n != len(p) || err != nil {
				t.Fatalf("write returned %d, %v; a short write would stall the FIFO", n, err)
			}
		}
		got, truncated := w.Result()
		if got != "xxxx" || !truncated || calls != 1 {
			t.Fatalf("got %q truncated=%v calls=%d", got, truncated, calls)
		}
	})
}
