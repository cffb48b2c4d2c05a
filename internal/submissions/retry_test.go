package submissions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestRetryJS: a request left unanswered is sent again; one refused is
// not; the caller's deadline ends the retries.
func TestRetryJS(t *testing.T) {
	ctx := context.Background()
	calls := 0
	v, err := retryJS(ctx, func(ctx context.Context) (int, error) {
		calls++
		if calls < 3 {
			return 0, nats.ErrTimeout
		}
		return 7, nil
	})
	if v != 7 || err != nil || calls != 3 {
		t.Fatalf("unanswered twice: %d, %v after %d calls; want 7 after 3", v, err, calls)
	}
	refused := errors.New("stream name already in use with a different configuration")
	calls = 0
	if _, err := retryJS(ctx, func(context.Context) (int, error) { calls++; return 0, refused }); !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("refused: %v after %d calls; want the refusal after 1", err, calls)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := retryJS(short, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("never answered: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the retries outlived the caller's deadline: %s", d)
	}
}
