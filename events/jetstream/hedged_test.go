package jetstream_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/events/jetstream"
)

func TestHedged(t *testing.T) {
	t.Run("an unanswered attempt is overtaken by its twin, and ended when it returns", func(t *testing.T) {
		var calls atomic.Int32
		firstEnded := make(chan error, 1)
		v, err := jetstream.Hedged(context.Background(), func(ctx context.Context) (int, error) {
			if calls.Add(1) == 1 {
				<-ctx.Done() // a request to a leader that died: never answered
				firstEnded <- ctx.Err()
				return 0, ctx.Err()
			}
			return 42, nil
		})
		if err != nil || v != 42 {
			t.Fatalf("Hedged = %d, %v; want 42 from the second attempt", v, err)
		}
		if err := <-firstEnded; !errors.Is(err, context.Canceled) {
			t.Errorf("the first attempt ended with %v, want canceled once the twin answered", err)
		}
	})
	t.Run("transient failures are retried until one succeeds", func(t *testing.T) {
		var calls atomic.Int32
		v, err := jetstream.Hedged(context.Background(), func(ctx context.Context) (string, error) {
			if calls.Add(1) < 4 {
				return "", nats.ErrNoResponders // no leader yet
			}
			return "ok", nil
		})
		if err != nil || v != "ok" || calls.Load() != 4 {
			t.Fatalf("Hedged = %q, %v after %d attempts; want ok after 4", v, err, calls.Load())
		}
	})
	t.Run("an error a retry cannot fix ends it at once", func(t *testing.T) {
		var calls atomic.Int32
		bad := errors.New("invalid request")
		_, err := jetstream.Hedged(context.Background(), func(ctx context.Context) (int, error) {
			calls.Add(1)
			return 0, bad
		})
		if !errors.Is(err, bad) || calls.Load() != 1 {
			t.Fatalf("Hedged = %v after %d attempts; want the error after 1", err, calls.Load())
		}
	})
	t.Run("the caller's context ends it with the last attempt's error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := jetstream.Hedged(ctx, func(ctx context.Context) (int, error) {
			return 0, nats.ErrNoResponders
		})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no responders") {
			t.Fatalf("Hedged = %v; want the deadline, naming the last attempt's no responders", err)
		}
	})
}
